"""Housing provident fund registration (住房公积金缴存登记) at the housing provident fund centre."""

from __future__ import annotations

from temporalio import activity

from activities.partners import PartnerClient
from domain.partners import HousingFundAccount, HousingFundRequest


class HousingFundActivities:
    def __init__(self, partners: PartnerClient) -> None:
        self.partners = partners

    @activity.defn
    async def open_housing_fund_account(self, req: HousingFundRequest) -> HousingFundAccount:
        """Open the employer's unit account at the district's managing department of the centre."""
        body = req.model_dump(mode="json", exclude={"idempotency_key"})
        answer = await self.partners.request(
            "POST", "/housing-fund/v1/accounts", json=body, idempotency_key=req.idempotency_key
        )
        return HousingFundAccount.model_validate(answer)
