"""Free postal delivery (免费寄递) with China Post EMS: book, amend, redeliver, return.

Outbound waybills carry the licence and seals to the applicant; inbound ones are prepaid labels
for the applicant's paper materials (双向寄递). EMS's 409 answers that the workflow acts on
become non-retryable errors with a type of their own (``domain.delivery``).
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.partners import PARTNER_REJECTED_REQUEST, PartnerClient, PartnerRefusal
from domain.delivery import (
    ALREADY_COLLECTED,
    ALREADY_DELIVERED,
    INVALID_WAYBILL_NUMBER,
    NO_FAILED_ATTEMPT,
    Redelivery,
    RedeliveryRequest,
    ReturnRequest,
    Waybill,
    WaybillAmendment,
    WaybillBooking,
    WaybillReturn,
)
from domain.identifiers import s10_problem

WAYBILLS = "/postal/v1/waybills"

# EMS conflict codes (docs/partner-api.md) -> the ApplicationError types the workflow knows.
_CONFLICTS = {
    "already_collected": ALREADY_COLLECTED,
    "returned": ALREADY_COLLECTED,  # a returned parcel cannot be re-addressed either
    "no_failed_attempt": NO_FAILED_ATTEMPT,
    "already_delivered": ALREADY_DELIVERED,
}


class DeliveryActivities:
    def __init__(self, partners: PartnerClient) -> None:
        self.partners = partners

    @activity.defn
    async def book_waybill(self, req: WaybillBooking) -> Waybill:
        """Book an EMS shipment (outbound parcel or inbound prepaid label); one waybill per key."""
        body: dict[str, Any] = {
            "application_id": req.application_id,
            "direction": req.direction,
            "recipient": req.recipient.model_dump(),
            "contents": list(req.contents),
        }
        # An empty callback URL means this worker's gateway (ODS_GATEWAY_URL), as for seal orders.
        callback = req.callback_url
        if callback == "" or (callback is None and req.direction == "outbound"):
            callback = f"{self.partners.callback_base}/postal"
        if callback is not None:
            body["callback_url"] = callback
        answer = await self._call("POST", WAYBILLS, json=body, idempotency_key=req.idempotency_key)
        return _waybill(answer)

    @activity.defn
    async def amend_waybill(self, req: WaybillAmendment) -> Waybill:
        """Replace the recipient before collection; ``AlreadyCollected`` once EMS has the parcel."""
        answer = await self._call(
            "PATCH",
            f"{WAYBILLS}/{req.waybill_no}",
            json={"recipient": req.recipient.model_dump()},
            idempotency_key=req.idempotency_key,
        )
        return _waybill(answer)

    @activity.defn
    async def request_redelivery(self, req: RedeliveryRequest) -> Redelivery:
        """Another delivery attempt after a failed one."""
        answer = await self._call(
            "POST", f"{WAYBILLS}/{req.waybill_no}/redeliver", idempotency_key=req.idempotency_key
        )
        return Redelivery.model_validate(answer)

    @activity.defn
    async def return_to_centre(self, req: ReturnRequest) -> WaybillReturn:
        """Give up delivering; EMS returns the parcel to the service centre (``postal.returned``)."""
        answer = await self._call(
            "POST", f"{WAYBILLS}/{req.waybill_no}/return", idempotency_key=req.idempotency_key
        )
        return WaybillReturn.model_validate(answer)

    async def _call(
        self, method: str, path: str, *, json: Any = None, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        try:
            return await self.partners.request(method, path, json=json, idempotency_key=idempotency_key)
        except ApplicationError as err:
            typed = _conflict(err)
            if typed is None:
                raise
            raise typed from err


def _conflict(err: ApplicationError) -> ApplicationError | None:
    """The partner client's generic refusal typed, when it is one of EMS's documented conflicts."""
    refusal = PartnerRefusal.of(err)
    if refusal is None or refusal.type != PARTNER_REJECTED_REQUEST:
        return None
    kind = _CONFLICTS.get(str(refusal.code))
    if kind is None:
        return None
    return ApplicationError(refusal.message, *err.details, type=kind, non_retryable=True)


def _waybill(answer: dict[str, Any]) -> Waybill:
    waybill = Waybill.model_validate(answer)
    problem = s10_problem(waybill.waybill_no)
    if problem is not None:
        # The same key would get the same number back: retrying cannot help.
        raise ApplicationError(
            f"EMS answered an invalid waybill number {waybill.waybill_no!r}: {problem}",
            type=INVALID_WAYBILL_NUMBER,
            non_retryable=True,
        )
    return waybill
