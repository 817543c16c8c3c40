"""How every partner call is answered: counted, maybe failed (``faults``, ``error_rate``), maybe
slowed (``latency_s``, ``hang_s``), and for calls that change something, made idempotent by
``Idempotency-Key``.

The work of a call is a plain function (no ``await``): it runs to its end without interleaving
with other requests, so checking the key store, doing the work and storing the answer is atomic.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import Depends, Request, Response

from infra.logging import get_logger
from partner_sandbox.behaviour import Partner
from partner_sandbox.callbacks import json_bytes
from partner_sandbox.state import SandboxState, StoredAnswer

log = get_logger("partner_sandbox")

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 200

# Partners whose answers latency_s delays; the others delay their callbacks instead.
_ANSWERS_LATE: dict[Partner, bool] = {
    "registration": True,
    "tax": True,
    "seal_shop": False,
    "postal": False,
    "social_insurance": True,
    "housing_fund": True,
    "bank": True,
}
_DOWN_MESSAGES: dict[Partner, str] = {
    "registration": "登记系统暂时不可用，请稍后重试",
    "seal_shop": "刻章店系统暂时不可用，请稍后重试",
    "tax": "税务系统暂时不可用，请稍后重试",
    "postal": "EMS 系统暂时不可用，请稍后重试",
    "social_insurance": "社会保险经办系统暂时不可用，请稍后重试",
    "housing_fund": "住房公积金业务系统暂时不可用，请稍后重试",
    "bank": "银行预约开户系统暂时不可用，请稍后重试",
}
# Answers given before any work started are not stored: the same key may be used again.
_NOT_STORED = frozenset({400, 404, 503})


def error_body(
    code: str,
    message: str,
    fields: list[str] | None = None,
    details: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        error["fields"] = fields
    if details is not None:
        error["details"] = details
    return {"error": error}


class PartnerError(Exception):
    """An error answer of a partner: ``{"error": {"code", "message", "fields"?, "details"?}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[str] | None = None,
        details: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.details = details

    def answer(self) -> Answer:
        return Answer(self.status, error_body(self.code, self.message, self.fields, self.details))


def not_found(what: str, ident: str) -> PartnerError:
    return PartnerError(404, "not_found", f"no {what} {ident}")


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    def encoded(self) -> bytes:
        return json_bytes(self.body)


def json_response(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(content=body, status_code=status, media_type="application/json", headers=headers)


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PartnerError(400, "invalid_request", f"the body is not JSON: {exc}", []) from exc


def _fingerprint(request: Request, raw: bytes) -> str:
    """The request as a whole, indifferent to JSON key order and whitespace."""
    try:
        parsed = json.loads(raw) if raw.strip() else None
        canonical = json.dumps(parsed, sort_keys=True, ensure_ascii=False).encode()
    except (UnicodeDecodeError, json.JSONDecodeError):
        canonical = raw
    return hashlib.sha256(f"{request.method} {request.url.path}\n".encode() + canonical).hexdigest()


Outage = Literal["before", "after"] | None


def _roll_outage(sandbox: SandboxState, partner: Partner) -> Outage:
    rate = sandbox.behaviour.of(partner).error_rate
    if rate <= 0 or sandbox.rng.random() >= rate:
        return None
    # Half of the outages strike after the work: the effect stays, the answer is lost.
    return "after" if sandbox.rng.random() < 0.5 else "before"


def _unavailable(partner: Partner) -> Answer:
    return Answer(503, error_body("unavailable", f"{_DOWN_MESSAGES[partner]} (sandbox error_rate)"))


def _faulted(sandbox: SandboxState, partner: Partner) -> Response | None:
    """The answer of a partner under a fault (``faults``), before anything else is looked at."""
    fault = sandbox.fault(partner)
    if fault is None:
        return None
    try:
        code = HTTPStatus(fault.status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        code = f"http_{fault.status}"
    log.info("fault", partner=partner, status=fault.status)
    body = error_body(code, fault.message or f"{_DOWN_MESSAGES[partner]} (sandbox fault {fault.status})")
    headers = {"Retry-After": str(fault.retry_after_s)} if fault.retry_after_s > 0 else None
    return json_response(fault.status, json_bytes(body), headers)


async def _delay(sandbox: SandboxState, partner: Partner) -> None:
    behaviour = sandbox.behaviour.of(partner)
    held = behaviour.hang_s + (behaviour.latency_s if _ANSWERS_LATE[partner] else 0.0)
    if held > 0:
        await asyncio.sleep(held)


async def effect_call(
    request: Request,
    sandbox: SandboxState,
    partner: Partner,
    work: Callable[[Any], Answer],
    *,
    key_required: bool = True,
) -> Response:
    """Answer a call that changes something; ``work`` gets the parsed JSON body (None if empty).

    With an ``Idempotency-Key`` (required unless ``key_required`` is False), the first answer
    is stored and a repeat with the same body gets it back without running ``work`` again; a
    repeat with another body gets 409. Keys are per partner.
    """
    sandbox.counters[partner].requests += 1
    faulted = _faulted(sandbox, partner)
    if faulted is not None:
        await _delay(sandbox, partner)
        return faulted
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        answer = PartnerError(
            400,
            "invalid_request",
            f"the {IDEMPOTENCY_HEADER} header has 1 to {MAX_KEY_LENGTH} characters",
            [IDEMPOTENCY_HEADER],
        ).answer()
        return json_response(answer.status, answer.encoded())
    if key is None and key_required:
        answer = PartnerError(
            400,
            "idempotency_key_required",
            f"this call changes something: send an {IDEMPOTENCY_HEADER} header",
            [IDEMPOTENCY_HEADER],
        ).answer()
        return json_response(answer.status, answer.encoded())

    raw = await request.body()
    outage = _roll_outage(sandbox, partner)
    status: int
    body: bytes
    headers: dict[str, str] = {}
    if outage == "before":
        log.info("outage", partner=partner, path=request.url.path, when="before_work")
        status, body = 503, _unavailable(partner).encoded()
    else:
        store = sandbox.idempotency[partner]
        fingerprint = _fingerprint(request, raw)
        stored = store.get(key) if key is not None else None
        if stored is not None and stored.fingerprint != fingerprint:
            status = 409
            body = (
                PartnerError(
                    409,
                    "idempotency_key_reused",
                    f"the {IDEMPOTENCY_HEADER} {key!r} was first used with another request",
                    [IDEMPOTENCY_HEADER],
                )
                .answer()
                .encoded()
            )
        elif stored is not None:
            status, body = stored.status, stored.body
            headers[REPLAYED_HEADER] = "true"
        else:
            try:
                answer = work(_parse_json(raw))
            except PartnerError as exc:
                answer = exc.answer()
            status, body = answer.status, answer.encoded()
            if key is not None and status not in _NOT_STORED:
                store[key] = StoredAnswer(fingerprint, status, body)
        if outage == "after":
            log.info("outage", partner=partner, path=request.url.path, when="after_work")
            status, body, headers = 503, _unavailable(partner).encoded(), {}
    await _delay(sandbox, partner)
    return json_response(status, body, headers)


async def read_call(sandbox: SandboxState, partner: Partner, read: Callable[[], Answer]) -> Response:
    """Answer a call that only reads."""
    sandbox.counters[partner].requests += 1
    faulted = _faulted(sandbox, partner)
    if faulted is not None:
        await _delay(sandbox, partner)
        return faulted
    if _roll_outage(sandbox, partner) is not None:
        answer = _unavailable(partner)
    else:
        try:
            answer = read()
        except PartnerError as exc:
            answer = exc.answer()
    await _delay(sandbox, partner)
    return json_response(answer.status, answer.encoded())


def get_sandbox(request: Request) -> SandboxState:
    sandbox: SandboxState = request.app.state.sandbox
    return sandbox


Sandbox = Annotated[SandboxState, Depends(get_sandbox)]
