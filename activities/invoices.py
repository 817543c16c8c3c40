"""First invoice issuance (发票初次申领) at the tax bureau."""

from __future__ import annotations

from temporalio import activity

from activities.partners import PartnerClient
from domain.partners import InvoiceAllotment, InvoiceAllotmentRequest


class InvoiceActivities:
    def __init__(self, partners: PartnerClient) -> None:
        self.partners = partners

    @activity.defn
    async def issue_first_invoices(self, req: InvoiceAllotmentRequest) -> InvoiceAllotment:
        body = req.model_dump(mode="json", exclude={"idempotency_key"})
        answer = await self.partners.request(
            "POST", "/tax/v1/invoice-allotments", json=body, idempotency_key=req.idempotency_key
        )
        return InvoiceAllotment.model_validate(answer)
