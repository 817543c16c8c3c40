"""Employees' social insurance registration (员工参保登记) at the district's human resources and
social security bureau."""

from __future__ import annotations

from temporalio import activity

from activities.partners import PartnerClient
from domain.partners import SocialInsuranceRegistration, SocialInsuranceRequest


class SocialInsuranceActivities:
    def __init__(self, partners: PartnerClient) -> None:
        self.partners = partners

    @activity.defn
    async def register_social_insurance(self, req: SocialInsuranceRequest) -> SocialInsuranceRegistration:
        """Register the new employer and its employees; the bureau answers the unit's number."""
        body = req.model_dump(mode="json", exclude={"idempotency_key"})
        answer = await self.partners.request(
            "POST", "/social-insurance/v1/registrations", json=body, idempotency_key=req.idempotency_key
        )
        return SocialInsuranceRegistration.model_validate(answer)
