"""One sandbox and one callback receiver for the whole session, both reset before each test."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request, Response

from infra.serving import serve_in_background
from infra.settings import Settings
from infra.signing import SIGNATURE_HEADER, verify_callback
from partner_sandbox import create_app

CALLBACK_SECRET = "test-callback-secret"
SEED = 20261127
# Small enough that a parcel or a set of seals is done in a fraction of a second.
FAST = {"seal_shop": {"carving_s": 0.05}, "postal": {"collect_after_s": 0.05}}


@dataclass
class Delivery:
    """One POST that reached the receiver."""

    partner: str
    body: bytes
    signature_problem: str | None
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.body)
        return event


class CallbackReceiver:
    """Stands in for the gateway's ``/v1/callbacks/{partner}``; can fail or refuse on demand."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = ""
        self.reset()
        self.app = FastAPI()
        self.app.post("/v1/callbacks/{partner}")(self._receive)

    def reset(self) -> None:
        self.deliveries: list[Delivery] = []
        self.fail_next = 0  # answer 500 to that many posts
        self.refuse_next = 0  # answer 400 to that many posts

    def callback_url(self, partner: str) -> str:
        return f"{self.url}/v1/callbacks/{partner}"

    async def _receive(self, partner: str, request: Request) -> Response:
        body = await request.body()
        # As the gateway checks it: EMS's own secret, or the shop's its completion names, over
        # the partner of the path; never the shared secret of before.
        signer = "postal" if partner == "postal" else json.loads(body)["data"]["shop_id"]
        secret = self.settings.callback_secret_of(signer)
        problem = verify_callback(secret, partner, body, request.headers.get(SIGNATURE_HEADER))
        if self.fail_next > 0:
            self.fail_next -= 1
            status = 500
        elif self.refuse_next > 0:
            self.refuse_next -= 1
            status = 400
        else:
            status = 202 if problem is None else 401
        self.deliveries.append(Delivery(partner, body, problem, status))
        return Response(status_code=status)

    @property
    def accepted(self) -> list[dict[str, Any]]:
        return [d.event for d in self.deliveries if d.answered == 202]

    async def wait_until(self, done: Callable[[CallbackReceiver], bool], timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not done(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; deliveries so far: {self.deliveries}")
            await asyncio.sleep(0.01)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(callback_secret=CALLBACK_SECRET, env="test")


@pytest_asyncio.fixture(scope="session")
async def sandbox_url(settings: Settings) -> AsyncIterator[str]:
    async with serve_in_background(create_app(settings, seed=SEED)) as url:
        yield url


@pytest_asyncio.fixture(scope="session")
async def session_receiver(settings: Settings) -> AsyncIterator[CallbackReceiver]:
    receiver = CallbackReceiver(settings)
    async with serve_in_background(receiver.app) as url:
        receiver.url = url
        yield receiver


@pytest_asyncio.fixture
async def partner(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a freshly reset sandbox whose seals and parcels move fast."""
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as client:
        (await client.post("/_sandbox/reset", json={"seed": SEED})).raise_for_status()
        (await client.put("/_sandbox/behaviour", json=FAST)).raise_for_status()
        yield client


@pytest.fixture
def receiver(partner: httpx.AsyncClient, session_receiver: CallbackReceiver) -> CallbackReceiver:
    """The callback receiver, emptied after the sandbox's reset stopped earlier tests' callbacks."""
    session_receiver.reset()
    return session_receiver


async def effects(client: httpx.AsyncClient, partner: str) -> dict[str, int]:
    answer = await client.get("/_sandbox/effects")
    counts: dict[str, int] = answer.json()[partner]
    return counts


def invalid_fields(answer: httpx.Response) -> list[str]:
    """The fields a partner's 400 ``invalid_request`` names."""
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    fields: list[str] = error["fields"]
    return fields


async def held_then_not(
    partner: httpx.AsyncClient,
    name: str,
    take: Callable[..., Awaitable[dict[str, Any]]],
    **at_once: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """What ``take`` makes with partner ``name``'s ``hold`` on, then what it makes with hold off and
    the behaviour ``at_once`` (which has it move at once): both."""
    await partner.put("/_sandbox/behaviour", json={name: {"hold": True, **at_once}})
    held = await take()
    await partner.put("/_sandbox/behaviour", json={name: {"hold": False}})
    return held, await take(application_id="AY20261127-0002")
