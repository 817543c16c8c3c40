"""Signed callbacks from the partners (seal completion, postal tracking) to ``callback_url``.

Each event is POSTed with ``X-ODS-Signature`` (``infra.signing.sign_callback``), signed by the
party that sends it with that party's own secret (``Settings.callback_secret_of``: EMS for postal
events, the order's shop for a seal shop's) over the partner the callback URL names, and retried,
0.5 s doubling to 10 s apart, until the receiver answers 2xx (delivered) or 4xx (refused: retrying
would not help). 5xx answers and connection errors are retried for as long as the process lives.
A retry carries the same body, so the same ``event_id``; only the signature's timestamp is fresh.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from infra.http import http_client
from infra.logging import get_logger
from infra.signing import SIGNATURE_HEADER, sign_callback

log = get_logger("partner_sandbox.callbacks")

FIRST_RETRY_S = 0.5
MAX_RETRY_S = 10.0
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def signer_of(event: dict[str, Any]) -> str:
    """The party that sends ``event``: EMS for a tracking event, else the seal shop that carved."""
    return "postal" if event["event"].startswith("postal.") else str(event["data"]["shop_id"])


class CallbackSender:
    def __init__(self, secret_of: Callable[[str], str]) -> None:
        self._secret_of = secret_of
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = http_client(timeout=TIMEOUT)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def deliver(self, url: str, event: dict[str, Any]) -> bool:
        """POST ``event`` until the receiver takes it (True) or refuses it with a 4xx (False)."""
        body = json_bytes(event)
        # The partner the URL names (``…/v1/callbacks/postal``) is part of what is signed.
        partner = urlsplit(url).path.rstrip("/").rpartition("/")[2]
        secret = self._secret_of(signer_of(event))
        about = {
            "event_id": event["event_id"],
            "callback_event": event["event"],
            "application_id": event["application_id"],
            "url": url,
        }
        wait_s = FIRST_RETRY_S
        attempt = 0
        while True:
            attempt += 1
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign_callback(secret, partner, body),
            }
            try:
                resp = await self._http().post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                log.warning(
                    "callback_failed",
                    **about,
                    attempt=attempt,
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in_s=wait_s,
                )
            else:
                if resp.is_success:
                    log.info("callback_delivered", **about, attempt=attempt, status=resp.status_code)
                    return True
                if 400 <= resp.status_code < 500:
                    log.warning(
                        "callback_refused",
                        **about,
                        attempt=attempt,
                        status=resp.status_code,
                        answer=resp.text[:300],
                    )
                    return False
                log.warning(
                    "callback_failed",
                    **about,
                    attempt=attempt,
                    status=resp.status_code,
                    retry_in_s=wait_s,
                )
            await asyncio.sleep(wait_s)
            wait_s = min(wait_s * 2, MAX_RETRY_S)

    async def deliver_after(
        self, previous: asyncio.Task[None] | None, url: str, event: dict[str, Any]
    ) -> None:
        """Deliver ``event`` once the delivery before it is over, keeping a parcel's events in order."""
        if previous is not None:
            await asyncio.wait([previous])
        await self.deliver(url, event)
