"""What the enterprise files after registration with the partners that take a filing and answer
with a number (``PartnerClient.file``): the first invoices (发票初次申领) at the tax bureau, the
employer's social insurance registration (员工参保登记) and its housing provident fund account
(住房公积金缴存登记)."""

from __future__ import annotations

from temporalio import activity

from activities.partners import PartnerClient
from domain.partners import (
    HousingFundAccount,
    HousingFundRequest,
    InvoiceAllotment,
    InvoiceAllotmentRequest,
    SocialInsuranceRegistration,
    SocialInsuranceRequest,
)


class FilingActivities:
    def __init__(self, partners: PartnerClient) -> None:
        self.partners = partners

    @activity.defn
    async def issue_first_invoices(self, req: InvoiceAllotmentRequest) -> InvoiceAllotment:
        """The first invoices the tax bureau allots the new enterprise."""
        return await self.partners.file(
            "/tax/v1/invoice-allotments", req, req.idempotency_key, InvoiceAllotment
        )

    @activity.defn
    async def register_social_insurance(self, req: SocialInsuranceRequest) -> SocialInsuranceRegistration:
        """Register the new employer and its employees; the bureau answers the unit's number."""
        return await self.partners.file(
            "/social-insurance/v1/registrations", req, req.idempotency_key, SocialInsuranceRegistration
        )

    @activity.defn
    async def open_housing_fund_account(self, req: HousingFundRequest) -> HousingFundAccount:
        """Open the employer's unit account at the district's managing department of the centre."""
        return await self.partners.file(
            "/housing-fund/v1/accounts", req, req.idempotency_key, HousingFundAccount
        )
