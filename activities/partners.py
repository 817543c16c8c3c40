"""HTTP to the partner systems, and how their answers become retryable or business errors.

5xx, 429, timeouts and connection errors raise ordinary errors that Temporal retries with the
same idempotency key. Business refusals (422) and requests the partner calls invalid (400)
become non-retryable ``ApplicationError``s whose ``type`` the workflow branches on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

from domain.delivery import DELIVERY_ERROR_TYPES
from infra.http import http_client
from infra.settings import Settings

# Partner error codes (docs/partner-api.md) -> ApplicationError types the workflow knows.
NAME_CONFLICT = "NameConflict"
REGISTRATION_REFUSED = "RegistrationRefused"
PARTNER_REJECTED_REQUEST = "PartnerRejectedRequest"
PARTNER_REFUSED = "PartnerRefused"
ALREADY_COMPLETED = "AlreadyCompleted"

_BUSINESS_CODES = {
    "name_conflict": NAME_CONFLICT,
    "registration_refused": REGISTRATION_REFUSED,
    "already_completed": ALREADY_COMPLETED,
}
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
        None for anything else (a timeout, a cancellation, a bug)."""
        if isinstance(err, (ActivityError, ChildWorkflowError)):
            err = err.cause  # type: ignore[assignment]
        if not isinstance(err, ApplicationError):
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


class PartnerUnavailable(Exception):
    """The partner did not answer usefully this time; Temporal retries."""


class PartnerClient:
    """One pooled HTTP client to the partner systems, shared by all activities of a worker."""

    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._client = client or http_client(settings.partner_url)

    @property
    def callback_base(self) -> str:
        return self.settings.gateway_url.rstrip("/") + "/v1/callbacks"

    async def aclose(self) -> None:
        await self._client.aclose()

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
            raise PartnerUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if resp.status_code >= 500 or resp.status_code == 429:
            raise PartnerUnavailable(f"{method} {path}: HTTP {resp.status_code}")
        body: dict[str, Any]
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.is_success:
            return body
        raw_error = body.get("error")
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        code = str(error.get("code", f"http_{resp.status_code}"))
        message = str(error.get("message", resp.text[:300]))
        fields = error.get("fields") or []
        if resp.status_code == 422:
            kind = _BUSINESS_CODES.get(code, PARTNER_REFUSED)
        elif resp.status_code == 409 and code in _BUSINESS_CODES:
            kind = _BUSINESS_CODES[code]
        else:
            kind = PARTNER_REJECTED_REQUEST
        raise ApplicationError(
            f"{method} {path}: {resp.status_code} {code}: {message}",
            {"code": code, "message": message, "fields": fields},
            type=kind,
            non_retryable=True,
        )
