"""Company registration (企业设立登记) at the market regulation bureau's registration system."""

from __future__ import annotations

from temporalio import activity

from activities.partners import PartnerClient
from domain.partners import Licence, RegistrationFiling


class RegistrationActivities:
    def __init__(self, partners: PartnerClient) -> None:
        self.partners = partners

    @activity.defn
    async def file_registration(self, filing: RegistrationFiling) -> Licence:
        """File the company; the registration system issues the business licence and its USCC."""
        app = filing.application
        body = app.model_dump(
            mode="json",
            include={"application_id", "enterprise", "legal_representative", "shareholders"},
        )
        answer = await self.partners.request(
            "POST", "/registration/v1/filings", json=body, idempotency_key=filing.idempotency_key
        )
        return Licence.model_validate({"filing_id": answer["filing_id"], **answer["licence"]})
