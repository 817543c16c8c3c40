"""The sandbox's memory: one ``SandboxState`` per app, nothing on disk.

It holds what the partners have done (licences, seal orders, allotments, waybills, social
insurance registrations, housing fund accounts, bank appointments), the answers
stored under idempotency keys, the request and effect counters, the behaviour, the seeded
randomness, and the background work (carving, parcels moving, callbacks) so that a reset or a
shutdown can stop it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from infra.logging import get_logger
from partner_sandbox.behaviour import PARTNERS, Behaviour, Fault, Partner
from partner_sandbox.callbacks import CallbackSender

log = get_logger("partner_sandbox")

CHINA_TZ = timezone(timedelta(hours=8), "CST")


def now() -> datetime:
    return datetime.now(CHINA_TZ)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


@dataclass
class Counter:
    requests: int = 0
    effects: int = 0


@dataclass(frozen=True)
class StoredAnswer:
    """The first answer given under an idempotency key, replayed byte for byte."""

    fingerprint: str
    status: int
    body: bytes


@dataclass
class SealOrder:
    order_id: str
    application_id: str
    uscc: str
    enterprise_name: str
    legal_representative_name: str | None
    district_code: str
    shop_id: str
    shop_name: str
    seals: list[str]
    prices_cny: dict[str, str]
    total_cny: str
    callback_url: str
    accepted_at: datetime
    status: str = "carving"  # carving | completed | cancelled
    held: bool = False
    """Taken under the ``hold`` behaviour and not finished yet: no carving runs; it completes
    only through the sandbox control ``POST /_sandbox/seal-shop/orders/{order_id}/finish``."""
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    serials: dict[str, str] = field(default_factory=dict)
    filing_no: str | None = None
    event: dict[str, Any] | None = None
    carving: asyncio.Task[None] | None = None


@dataclass
class HeldStep:
    """The next tracking event of a held waybill, waiting for the sandbox control ``POST
    /_sandbox/postal/waybills/{waybill_no}/advance``, which emits it and resolves ``done`` so
    the parcel's movement goes on to its next step."""

    status: str
    extra: dict[str, Any]
    done: asyncio.Future[None]


@dataclass
class Waybill:
    waybill_no: str
    application_id: str
    direction: str  # outbound | inbound
    recipient: dict[str, str]
    contents: list[str]
    callback_url: str | None
    booked_at: datetime
    # booked | collected | in_transit | out_for_delivery | delivered | failed_attempt
    # | returning | returned
    status: str = "booked"
    attempts: int = 0
    amendments: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    moving: asyncio.Task[None] | None = None
    """The parcel's own progress (collection, transport, an attempt, a return)."""
    held: bool = False
    """Booked under the postal ``hold`` behaviour: its movement takes each step only when told
    (``held_step``), never after a time."""
    held_step: HeldStep | None = None
    """The step a held waybill's movement waits at, if any."""
    last_delivery: asyncio.Task[None] | None = None
    """The latest callback; each waits for the one before, so events arrive in order."""


class SandboxState:
    def __init__(self, callback_secret_of: Callable[[str], str], seed: int | None = None) -> None:
        """``callback_secret_of``: the secret each party (``postal``, a shop's id) signs with."""
        self.callbacks = CallbackSender(callback_secret_of)
        self._seed = seed
        self._tasks: set[asyncio.Task[None]] = set()
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        """Forget everything (held seal orders and waybills included); stop all background work;
        behaviour back to its defaults."""
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        if seed is not None:
            self._seed = seed
        self.rng = random.Random(self._seed)
        self.behaviour = Behaviour()
        self._fault_ends: dict[Partner, float] = {}
        self.counters: dict[Partner, Counter] = {p: Counter() for p in PARTNERS}
        self.idempotency: dict[Partner, dict[str, StoredAnswer]] = {p: {} for p in PARTNERS}
        self.records: dict[Partner, dict[str, dict[str, Any]]] = {p: {} for p in PARTNERS}
        """What the partners that file (and the banks) gave, by its number: filings, invoice
        allotments, social insurance registrations, housing fund accounts, bank appointments."""
        self.refused: dict[Partner, set[str]] = {p: set() for p in PARTNERS}
        """The USCCs whose first request a partner refused because of a test name (税务异常,
        参保异常, 公积金异常, 拒开户)."""
        self.seal_orders: dict[str, SealOrder] = {}
        self.waybills: dict[str, Waybill] = {}
        self.bank_slots: dict[tuple[str, str], set[datetime]] = {}
        """The slots taken at each (bank, branch)."""
        self._taken: set[str] = set()

    # -- faults -----------------------------------------------------------------------------
    def set_behaviour(self, behaviour: Behaviour, faults_set: set[Partner]) -> None:
        """The new behaviour; the faults of ``faults_set`` (set by this change) start now."""
        self.behaviour = behaviour
        for partner in faults_set:
            fault = behaviour.of(partner).faults
            if fault is None:
                self._fault_ends.pop(partner, None)
            else:
                self._fault_ends[partner] = time.monotonic() + fault.for_s

    def fault(self, partner: Partner) -> Fault | None:
        """The partner's fault while it lasts; an ended one is taken out of the behaviour."""
        behaviour = self.behaviour.of(partner)
        if behaviour.faults is None:
            return None
        if time.monotonic() < self._fault_ends.get(partner, 0.0):
            return behaviour.faults
        behaviour.faults = None
        self._fault_ends.pop(partner, None)
        return None

    def expire_faults(self) -> None:
        for partner in PARTNERS:
            self.fault(partner)

    def refuses_first(self, partner: Partner, uscc: str) -> bool:
        """True the first time it is asked for ``partner`` and ``uscc``: a partner refuses a test
        name's enterprise once, and takes its next request (with a new idempotency key)."""
        if uscc in self.refused[partner]:
            return False
        self.refused[partner].add(uscc)
        return True

    # -- randomness -------------------------------------------------------------------------
    def unique(self, make: Callable[[random.Random], str]) -> str:
        """A value of ``make(rng)`` never handed out before by this sandbox."""
        while True:
            value = make(self.rng)
            if value not in self._taken:
                self._taken.add(value)
                return value

    def new_id(self, prefix: str) -> str:
        return self.unique(lambda rng: f"{prefix}-{rng.getrandbits(48):012X}")

    def new_event(
        self, event: str, application_id: str, data: dict[str, Any], at: datetime | None = None
    ) -> dict[str, Any]:
        """A callback envelope; its ``event_id`` stays the same on every retry."""
        return {
            "event_id": self.unique(lambda rng: f"evt-{rng.getrandbits(64):016x}"),
            "event": event,
            "application_id": application_id,
            "occurred_at": iso(at or now()),
            "data": data,
        }

    # -- background work --------------------------------------------------------------------
    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background_work_failed", task=task.get_name(), exc_info=task.exception())

    async def aclose(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        await self.callbacks.aclose()
