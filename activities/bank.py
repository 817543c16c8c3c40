"""The bank account appointment (银行预约开户): the chosen bank books a time at a branch to open the
enterprise's basic deposit account."""

from __future__ import annotations

from temporalio import activity

from activities.partners import PartnerClient
from domain.partners import BankAppointment, BankAppointmentRequest


class BankActivities:
    def __init__(self, partners: PartnerClient) -> None:
        self.partners = partners

    @activity.defn
    async def book_bank_appointment(self, req: BankAppointmentRequest) -> BankAppointment:
        """Book the appointment at ``req.branch`` of ``req.bank`` (its main branch if None)."""
        body = req.model_dump(mode="json", exclude={"idempotency_key"}, exclude_none=True)
        answer = await self.partners.request(
            "POST", "/bank/v1/appointments", json=body, idempotency_key=req.idempotency_key
        )
        return BankAppointment.model_validate(answer)
