"""HTTP to the partner systems, and how their answers become retryable or business errors.

Only what the partners document as final is final (docs/partner-api.md, "Conventions"): a
business refusal (422, or 409 with a documented conflict code) and a request the partner calls
invalid (400 ``invalid_request``, ``idempotency_key_required``) become non-retryable
``ApplicationError``s whose ``type`` the workflow branches on. Everything else — 5xx, 429, 401,
403, 404, 408, other 409s and 4xx, timeouts, refused connections — is the partner unable to
answer now: a retryable :class:`PartnerUnavailable` that Temporal retries with the same
idempotency key, after the partner's ``Retry-After`` when it sends one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

from domain.delivery import DELIVERY_ERROR_TYPES
from domain.privacy import mask_text
from infra.http import PARTNER_LIMITS, http_client
from infra.settings import Settings
from infra.worker_metrics import count_partner_failure

# Partner error codes (docs/partner-api.md) -> ApplicationError types the workflow knows.
NAME_CONFLICT = "NameConflict"
REGISTRATION_REFUSED = "RegistrationRefused"
PARTNER_REJECTED_REQUEST = "PartnerRejectedRequest"
PARTNER_REFUSED = "PartnerRefused"
ALREADY_COMPLETED = "AlreadyCompleted"

PARTNER_UNAVAILABLE = "PartnerUnavailable"

_BUSINESS_CODES = {
    "name_conflict": NAME_CONFLICT,
    "registration_refused": REGISTRATION_REFUSED,
    "already_completed": ALREADY_COMPLETED,
}
# The partners' documented 409 codes (the seal shop's and EMS's; activities/delivery.py types
# EMS's): final answers about the thing called on. Any other 409 may pass.
DOCUMENTED_CONFLICTS = frozenset(
    {"already_completed", "already_collected", "returned", "no_failed_attempt", "already_delivered"}
)
# A 400 with one of these codes is the partner's own verdict on our request: sending it again
# cannot help. A 400 without one (a gateway's, a proxy's) may pass.
INVALID_REQUEST_CODES = frozenset({"invalid_request", "idempotency_key_required"})
# A partner's Retry-After is honoured up to this: a partner asking for hours is asked again
# sooner, well inside the policy's partner_patience.
RETRY_AFTER_CAP = timedelta(minutes=10)
# Retrying these cannot help: the workflow decides what happens next.
NON_RETRYABLE_TYPES = [
    NAME_CONFLICT,
    REGISTRATION_REFUSED,
    PARTNER_REJECTED_REQUEST,
    PARTNER_REFUSED,
    ALREADY_COMPLETED,
    *DELIVERY_ERROR_TYPES,
]


@dataclass(frozen=True)
class PartnerRefusal:
    """A partner's refusal as the workflow reads it: the error type it branches on, and the
    partner's own code, words and the fields it names (the ``details`` made by
    :meth:`PartnerClient.request`)."""

    type: str | None
    code: str | None
    message: str
    fields: list[str]
    # The error's own words (method, path, status and code before the partner's message).
    error: str = ""

    @classmethod
    def of(cls, err: BaseException) -> PartnerRefusal | None:
        """The refusal behind an ``ApplicationError`` (or an activity or child failing with one);
        None for anything else (a timeout, a cancellation, a bug, a partner unable to answer:
        that one is never a refusal, however long it lasts)."""
        if isinstance(err, (ActivityError, ChildWorkflowError)):
            err = err.cause  # type: ignore[assignment]
        if not isinstance(err, ApplicationError) or err.type == PARTNER_UNAVAILABLE:
            return None
        details = err.details[0] if err.details else None
        if not isinstance(details, dict):
            details = {}
        fields = details.get("fields")
        return cls(
            type=err.type,
            code=str(details["code"]) if details.get("code") else None,
            message=str(details.get("message") or err.message),
            fields=[str(f) for f in fields] if isinstance(fields, list) else [],
            error=err.message,
        )


class PartnerUnavailable(ApplicationError):
    """The partner did not answer usefully this time; Temporal retries (after ``retry_after``,
    the partner's ``Retry-After``, when given). The details say what happened: ``status`` (the
    HTTP status, None without an answer) and ``kind`` (``http``, ``timeout``, ``unreachable``,
    ``transport``), never the partner's words."""

    def __init__(
        self, message: str, *, status: int | None, kind: str, retry_after: timedelta | None = None
    ) -> None:
        super().__init__(
            message,
            {"status": status, "kind": kind},
            type=PARTNER_UNAVAILABLE,
            next_retry_delay=retry_after,
        )
        self.status = status
        self.kind = kind


def retry_after(value: str | None, now: datetime | None = None) -> timedelta | None:
    """A ``Retry-After`` header (seconds, or an HTTP-date) as a delay, capped at
    ``RETRY_AFTER_CAP``; None when absent, unreadable or already past."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delay = when - (now or datetime.now(UTC))
    if delay <= timedelta(0):
        return None
    return min(delay, RETRY_AFTER_CAP)


def _transport_kind(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "unreachable"
    return "transport"


A = TypeVar("A", bound=BaseModel)


class PartnerClient:
    """One pooled HTTP client to the partner systems, shared by all activities of a worker."""

    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._client = client or http_client(settings.partner_url, limits=PARTNER_LIMITS)

    @property
    def callback_base(self) -> str:
        return self.settings.gateway_url.rstrip("/") + "/v1/callbacks"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def file(self, path: str, req: BaseModel, key: str, answer: type[A]) -> A:
        """POST ``req`` to ``path`` with ``key`` (its idempotency key) as the header, not in the
        body; the partner's answer as ``answer``."""
        body = req.model_dump(mode="json", exclude={"idempotency_key"})
        found = await self.request("POST", path, json=body, idempotency_key=key)
        return answer.model_validate(found)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        idempotency_key: str | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        try:
            resp = await self._client.request(method, path, json=json, headers=headers, params=params)
        except httpx.TransportError as exc:
            kind = _transport_kind(exc)
            count_partner_failure(path, kind, None)
            raise PartnerUnavailable(
                f"{method} {path}: {type(exc).__name__}: {exc}", status=None, kind=kind
            ) from exc
        status = resp.status_code
        body: dict[str, Any] = {}
        if status < 500:
            try:
                parsed = resp.json()
            except ValueError:
                parsed = None
            body = parsed if isinstance(parsed, dict) else {}
        if resp.is_success:
            return body
        raw_error = body.get("error")
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        code = mask_text(str(error.get("code", f"http_{status}")))
        if status == 422:
            kind = _BUSINESS_CODES.get(code, PARTNER_REFUSED)
        elif status == 409 and code in DOCUMENTED_CONFLICTS:
            kind = _BUSINESS_CODES.get(code, PARTNER_REJECTED_REQUEST)
        elif status == 400 and code in INVALID_REQUEST_CODES:
            kind = PARTNER_REJECTED_REQUEST
        else:
            count_partner_failure(path, "http", status)
            raise PartnerUnavailable(
                f"{method} {path}: HTTP {status}",
                status=status,
                kind="http",
                retry_after=retry_after(resp.headers.get("Retry-After")),
            )
        count_partner_failure(path, "refusal", status)
        # The partner's words (and its code, above) go on into the failure, the attention reason,
        # alerts, webhooks and the portal's push: ID numbers and phones are masked where they come in.
        message = mask_text(str(error.get("message", resp.text[:300])))
        raw_fields = error.get("fields")
        fields = [mask_text(str(f)) for f in raw_fields] if isinstance(raw_fields, list) else []
        raise ApplicationError(
            f"{method} {path}: {resp.status_code} {code}: {message}",
            {"code": code, "message": message, "fields": fields},
            type=kind,
            non_retryable=True,
        )
