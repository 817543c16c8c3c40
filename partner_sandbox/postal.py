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

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from domain.identifiers import s10_check_digit
from infra.logging import get_logger
from partner_sandbox.calls import (
    Answer,
    PartnerError,
    Sandbox,
    effect_call,
    error_body,
    not_found,
    read_call,
)
from partner_sandbox.localities import service_centre
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
    request_body,
)

log = get_logger("partner_sandbox.postal")
router = APIRouter(prefix="/postal/v1", tags=["EMS"])
control_router = APIRouter(prefix="/_sandbox/postal", tags=["sandbox controls"])

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


def _waybill(sandbox: SandboxState, waybill_no: str) -> Waybill:
    waybill = sandbox.waybills.get(waybill_no)
    if waybill is None:
        raise not_found("waybill", waybill_no)
    return waybill


def book(sandbox: SandboxState, body: Any) -> Answer:
    req = parse(WaybillRequest, body)
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
    sandbox.waybills[waybill.waybill_no] = waybill
    sandbox.counters["postal"].effects += 1
    if waybill.direction == "outbound":
        waybill.moving = sandbox.spawn(carry(sandbox, waybill), name=f"parcel {waybill.waybill_no}")
    log.info(
        "waybill_created",
        application_id=waybill.application_id,
        waybill_no=waybill.waybill_no,
        direction=waybill.direction,
        held=waybill.held,
    )
    return Answer(201, waybill_document(waybill))


def amend(sandbox: SandboxState, waybill_no: str, body: Any) -> Answer:
    waybill = _waybill(sandbox, waybill_no)
    req = parse(Amendment, body)
    if waybill.status in ("returning", "returned"):
        raise PartnerError(409, "returned", f"运单 {waybill_no} 已退回，无法修改收件信息")
    if waybill.status != "booked":
        raise PartnerError(409, "already_collected", f"运单 {waybill_no} 已揽收，无法修改收件信息")
    waybill.recipient = req.recipient.model_dump()
    waybill.amendments += 1
    log.info("waybill_amended", application_id=waybill.application_id, waybill_no=waybill_no)
    return Answer(200, waybill_document(waybill))


def redeliver(sandbox: SandboxState, waybill_no: str) -> Answer:
    waybill = _waybill(sandbox, waybill_no)
    if waybill.status != "failed_attempt" or _moving(waybill):
        raise PartnerError(
            409,
            "no_failed_attempt",
            f"运单 {waybill_no} 当前状态为 {waybill.status}，没有待重新投递的失败投递",
        )
    waybill.moving = sandbox.spawn(attempt_delivery(sandbox, waybill), name=f"redelivery {waybill_no}")
    return Answer(202, {"waybill_no": waybill_no, "status": waybill.status, "attempt": waybill.attempts + 1})


def return_parcel(sandbox: SandboxState, waybill_no: str) -> Answer:
    waybill = _waybill(sandbox, waybill_no)
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


async def advance(sandbox: SandboxState, waybill_no: str) -> Answer:
    """Move a held waybill one tracking step now, exactly as time would have: its status changes
    at once (200 with the waybill), the same signed callback follows."""
    waybill = _waybill(sandbox, waybill_no)
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


@router.post(
    "/waybills",
    status_code=201,
    summary="Book a shipment (a waybill is created)",
    openapi_extra=request_body(WaybillRequest),
)
async def post_waybill(request: Request, sandbox: Sandbox) -> Response:
    return await effect_call(request, sandbox, "postal", lambda body: book(sandbox, body))


@router.patch(
    "/waybills/{waybill_no}",
    summary="Amend the recipient before collection",
    openapi_extra=request_body(Amendment),
)
async def patch_waybill(waybill_no: str, request: Request, sandbox: Sandbox) -> Response:
    return await effect_call(
        request,
        sandbox,
        "postal",
        lambda body: amend(sandbox, waybill_no, body),
        key_required=False,  # setting the recipient twice is setting it once
    )


@router.post(
    "/waybills/{waybill_no}/redeliver",
    status_code=202,
    summary="Another delivery attempt after a failed one",
)
async def post_redeliver(waybill_no: str, request: Request, sandbox: Sandbox) -> Response:
    return await effect_call(
        request, sandbox, "postal", lambda _: redeliver(sandbox, waybill_no), key_required=False
    )


@router.post(
    "/waybills/{waybill_no}/return",
    status_code=202,
    summary="Give up delivering; return the parcel to the service centre",
)
async def post_return(waybill_no: str, request: Request, sandbox: Sandbox) -> Response:
    return await effect_call(
        request, sandbox, "postal", lambda _: return_parcel(sandbox, waybill_no), key_required=False
    )


@router.get("/waybills", summary="The waybills of a case (or all), oldest first")
async def list_waybills(sandbox: Sandbox, application_id: str | None = None) -> Response:
    def read() -> Answer:
        waybills = [
            waybill_document(w)
            for w in sandbox.waybills.values()
            if application_id is None or w.application_id == application_id
        ]
        return Answer(200, {"waybills": waybills})

    return await read_call(sandbox, "postal", read)


@router.get("/waybills/{waybill_no}", summary="A waybill and its tracking events")
async def get_waybill(waybill_no: str, sandbox: Sandbox) -> Response:
    return await read_call(
        sandbox, "postal", lambda: Answer(200, waybill_document(_waybill(sandbox, waybill_no)))
    )


@control_router.post(
    "/waybills/{waybill_no}/post",
    status_code=202,
    summary="The applicant posts a prepaid inbound parcel: it starts moving (sandbox only)",
)
async def post_inbound_parcel(waybill_no: str, sandbox: Sandbox) -> JSONResponse:
    waybill = sandbox.waybills.get(waybill_no)
    if waybill is None:
        return JSONResponse(error_body("not_found", f"no waybill {waybill_no}"), 404)
    if waybill.direction != "inbound" or waybill.status != "booked" or _moving(waybill):
        return JSONResponse(
            error_body("not_postable", "only a booked inbound waybill that is not moving yet"), 409
        )
    waybill.moving = sandbox.spawn(carry(sandbox, waybill), name=f"parcel {waybill_no}")
    return JSONResponse({"waybill_no": waybill_no, "status": waybill.status}, 202)


@control_router.post(
    "/waybills/{waybill_no}/advance",
    summary="Move a held waybill one tracking step now; its signed event follows (sandbox only)",
    responses={
        404: {"description": "no such waybill"},
        409: {"description": "the waybill is not held, or has no step to take now"},
    },
)
async def post_advance(waybill_no: str, sandbox: Sandbox) -> Response:
    try:
        answer = await advance(sandbox, waybill_no)
    except PartnerError as exc:
        answer = exc.answer()
    if answer.status == 200:
        log.info("held_waybill_advanced", waybill_no=waybill_no, status=answer.body["status"])
    return Response(content=answer.encoded(), status_code=answer.status, media_type="application/json")
