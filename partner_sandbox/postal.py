"""China Post EMS (邮政 EMS): waybills for the free mailing of licences and seals (免费寄递),
and prepaid inbound labels for districts that mail both ways (双向免费邮寄).

An outbound parcel is collected ``collect_after_s`` after booking, then moves on its own, each
tracking event ``latency_s`` after the one before, every event a signed callback:
collected → in_transit → out_for_delivery → delivered | failed_attempt. An address containing
``查无此地`` fails every attempt. After a failed attempt the caller asks for another attempt
(redeliver) or gives up (return → returned).

A waybill booked under the ``hold`` behaviour takes the same steps with the same signed events,
but each one only when the sandbox control ``POST /_sandbox/postal/waybills/{waybill_no}/advance``
says so, never after a time: a test decides when EMS collects a parcel and how far it has come,
instead of racing ``collect_after_s`` and ``latency_s`` against its own steps.
"""

from __future__ import annotations

import asyncio
import random
import string
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.delivery import service_centre
from domain.identifiers import s10_check_digit
from infra.logging import get_logger
from partner_sandbox.booking import Bookings
from partner_sandbox.calls import Answer, PartnerError
from partner_sandbox.state import HeldStep, SandboxState, Waybill, iso, now
from partner_sandbox.validation import (
    ApplicationId,
    CallbackUrl,
    DistrictCode,
    Name,
    Phone,
    Text,
    invalid,
    parse,
)

log = get_logger("partner_sandbox.postal")

UNDELIVERABLE_MARK = "查无此地"
UNDELIVERABLE_REASON = "查无此地址，无法投递"


class Recipient(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Name
    phone: Phone
    district_code: DistrictCode
    address: Text


class WaybillRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    application_id: ApplicationId
    direction: Literal["outbound", "inbound"]
    recipient: Recipient
    contents: list[Text] = Field(min_length=1, max_length=20)
    callback_url: CallbackUrl | None = None


class Amendment(BaseModel):
    model_config = ConfigDict(extra="ignore")

    recipient: Recipient


def s10_item_number(rng: random.Random) -> str:
    """An EMS item number (UPU S10): E, a letter, 8 digits, the check digit, CN."""
    serial = f"{rng.randrange(10**8):08d}"
    return f"E{rng.choice(string.ascii_uppercase)}{serial}{s10_check_digit(serial)}CN"


def waybill_document(waybill: Waybill) -> dict[str, Any]:
    return {
        "waybill_no": waybill.waybill_no,
        "application_id": waybill.application_id,
        "direction": waybill.direction,
        "status": waybill.status,
        "recipient": waybill.recipient,
        "contents": waybill.contents,
        "booked_at": iso(waybill.booked_at),
        "attempts": waybill.attempts,
        "amendments": waybill.amendments,
        "events": waybill.events,
    }


def _emit(sandbox: SandboxState, waybill: Waybill, status: str, extra: dict[str, Any]) -> None:
    waybill.status = status
    data = {
        "waybill_no": waybill.waybill_no,
        "direction": waybill.direction,
        "status": status,
        **extra,
    }
    event = sandbox.new_event(f"postal.{status}", waybill.application_id, data)
    waybill.events.append(event)
    log.info(
        "postal_event",
        application_id=waybill.application_id,
        waybill_no=waybill.waybill_no,
        tracking_event=event["event"],
        event_id=event["event_id"],
    )
    if waybill.callback_url:
        waybill.last_delivery = sandbox.spawn(
            sandbox.callbacks.deliver_after(waybill.last_delivery, waybill.callback_url, event),
            name=f"callback {event['event_id']}",
        )


async def _step(sandbox: SandboxState, waybill: Waybill, status: str, **extra: Any) -> None:
    """The next tracking event, ``latency_s`` after the one before; a held waybill's when the
    advance control emits it (``advance``)."""
    if waybill.held:
        step = HeldStep(status, extra, asyncio.get_running_loop().create_future())
        waybill.held_step = step
        try:
            await step.done
        finally:
            if waybill.held_step is step:
                waybill.held_step = None
        return
    await asyncio.sleep(sandbox.behaviour.postal.latency_s)
    _emit(sandbox, waybill, status, extra)


async def attempt_delivery(sandbox: SandboxState, waybill: Waybill) -> None:
    waybill.attempts += 1
    attempt = waybill.attempts
    await _step(sandbox, waybill, "out_for_delivery", attempt=attempt)
    if UNDELIVERABLE_MARK in waybill.recipient["address"]:
        await _step(sandbox, waybill, "failed_attempt", attempt=attempt, reason=UNDELIVERABLE_REASON)
    else:
        await _step(sandbox, waybill, "delivered", attempt=attempt, signed_by=waybill.recipient["name"])


async def carry(sandbox: SandboxState, waybill: Waybill) -> None:
    """Collection, transport and the first delivery attempt."""
    if not waybill.held:
        await asyncio.sleep(sandbox.behaviour.postal.collect_after_s)
    await _step(sandbox, waybill, "collected")
    await _step(sandbox, waybill, "in_transit")
    await attempt_delivery(sandbox, waybill)


async def send_back(sandbox: SandboxState, waybill: Waybill) -> None:
    await _step(
        sandbox,
        waybill,
        "returned",
        returned_to=service_centre(waybill.recipient["district_code"]),
    )


def _moving(waybill: Waybill) -> bool:
    return waybill.moving is not None and not waybill.moving.done()


def book(sandbox: SandboxState, req: WaybillRequest) -> Waybill:
    if req.direction == "outbound" and req.callback_url is None:
        raise invalid([("callback_url", "an outbound parcel reports its tracking events there")])
    waybill = Waybill(
        waybill_no=sandbox.unique(s10_item_number),
        application_id=req.application_id,
        direction=req.direction,
        recipient=req.recipient.model_dump(),
        contents=list(req.contents),
        callback_url=req.callback_url,
        booked_at=now(),
        held=sandbox.behaviour.postal.hold,
    )
    if waybill.direction == "outbound":
        waybill.moving = sandbox.spawn(carry(sandbox, waybill), name=f"parcel {waybill.waybill_no}")
    log.info(
        "waybill_created",
        application_id=waybill.application_id,
        waybill_no=waybill.waybill_no,
        direction=waybill.direction,
        held=waybill.held,
    )
    return waybill


def amend(sandbox: SandboxState, waybill: Waybill, body: Any) -> Answer:
    waybill_no = waybill.waybill_no
    req = parse(Amendment, body)
    if waybill.status in ("returning", "returned"):
        raise PartnerError(409, "returned", f"运单 {waybill_no} 已退回，无法修改收件信息")
    if waybill.status != "booked":
        raise PartnerError(409, "already_collected", f"运单 {waybill_no} 已揽收，无法修改收件信息")
    waybill.recipient = req.recipient.model_dump()
    waybill.amendments += 1
    log.info("waybill_amended", application_id=waybill.application_id, waybill_no=waybill_no)
    return Answer(200, waybill_document(waybill))


def redeliver(sandbox: SandboxState, waybill: Waybill, _: Any) -> Answer:
    waybill_no = waybill.waybill_no
    if waybill.status != "failed_attempt" or _moving(waybill):
        raise PartnerError(
            409,
            "no_failed_attempt",
            f"运单 {waybill_no} 当前状态为 {waybill.status}，没有待重新投递的失败投递",
        )
    waybill.moving = sandbox.spawn(attempt_delivery(sandbox, waybill), name=f"redelivery {waybill_no}")
    return Answer(202, {"waybill_no": waybill_no, "status": waybill.status, "attempt": waybill.attempts + 1})


def return_parcel(sandbox: SandboxState, waybill: Waybill, _: Any) -> Answer:
    waybill_no = waybill.waybill_no
    if waybill.status == "delivered":
        raise PartnerError(409, "already_delivered", f"运单 {waybill_no} 已妥投，无法退回")
    if waybill.status not in ("returning", "returned"):
        if waybill.moving is not None:
            waybill.moving.cancel()
        waybill.held_step = None  # a held waybill's next step is now the return
        waybill.status = "returning"
        waybill.moving = sandbox.spawn(send_back(sandbox, waybill), name=f"return {waybill_no}")
    return Answer(202, {"waybill_no": waybill_no, "status": waybill.status})


def _nothing_to_advance(waybill: Waybill) -> PartnerError:
    no, status = waybill.waybill_no, waybill.status
    if status in ("delivered", "returned"):
        why = "its journey is over"
    elif status == "failed_attempt":
        why = "the attempt failed: ask for a redelivery or the return first"
    elif waybill.direction == "inbound" and status == "booked":
        why = "an inbound parcel moves once posted (POST /_sandbox/postal/waybills/{no}/post)"
    else:
        why = "it is not moving"
    return PartnerError(409, "nothing_to_advance", f"waybill {no} is {status}: nothing to advance ({why})")


async def advance(sandbox: SandboxState, waybill: Waybill) -> Answer:
    """Move a held waybill one tracking step now, exactly as time would have: its status changes
    at once (200 with the waybill), the same signed callback follows."""
    waybill_no = waybill.waybill_no
    if not waybill.held:
        raise PartnerError(
            409,
            "not_held",
            f"waybill {waybill_no} is not held: it moves by itself after collect_after_s and latency_s",
        )
    step = waybill.held_step
    if step is None or step.done.done():
        raise _nothing_to_advance(waybill)
    waybill.held_step = None
    _emit(sandbox, waybill, step.status, step.extra)
    step.done.set_result(None)
    # The movement goes on to its next step (or its end) without awaiting anything else; its
    # wake-up is already scheduled, ahead of this one: one yield and the answer shows the waybill
    # as it now stands (an attempt counted once in transit, say).
    await asyncio.sleep(0)
    return Answer(200, waybill_document(waybill))


async def post_parcel(sandbox: SandboxState, waybill: Waybill) -> Answer:
    """The applicant posts a prepaid inbound parcel: it starts moving."""
    if waybill.direction != "inbound" or waybill.status != "booked" or _moving(waybill):
        raise PartnerError(409, "not_postable", "only a booked inbound waybill that is not moving yet")
    waybill.moving = sandbox.spawn(carry(sandbox, waybill), name=f"parcel {waybill.waybill_no}")
    return Answer(202, {"waybill_no": waybill.waybill_no, "status": waybill.status})


WAYBILLS = Bookings[Waybill](
    "postal",
    "/postal/v1/waybills/{waybill_no}",
    tag="EMS",
    what="waybill",
    kept=lambda sandbox: sandbox.waybills,
    document=waybill_document,
)
router, control_router = WAYBILLS.router, WAYBILLS.controls

WAYBILLS.book("Book a shipment (a waybill is created)", WaybillRequest, book)
WAYBILLS.follow_up(None, "Amend the recipient before collection", amend, method="PATCH", model=Amendment)
WAYBILLS.follow_up("redeliver", "Another delivery attempt after a failed one", redeliver, status_code=202)
WAYBILLS.follow_up(
    "return", "Give up delivering; return the parcel to the service centre", return_parcel, status_code=202
)
WAYBILLS.list_per_case("The waybills of a case (or all), oldest first")
WAYBILLS.show("A waybill and its tracking events")
WAYBILLS.control(
    "/_sandbox/postal/waybills/{waybill_no}/post",
    "The applicant posts a prepaid inbound parcel: it starts moving (sandbox only)",
    post_parcel,
    name="post_inbound_parcel",
    status_code=202,
)
WAYBILLS.control(
    "/_sandbox/postal/waybills/{waybill_no}/advance",
    "Move a held waybill one tracking step now; its signed event follows (sandbox only)",
    advance,
    responses={
        404: {"description": "no such waybill"},
        409: {"description": "the waybill is not held, or has no step to take now"},
    },
    done=lambda no, answer: log.info("held_waybill_advanced", waybill_no=no, status=answer.body["status"]),
)
