"""The first-seal subsidy ledger (免费刻制首套印章): one grant per enterprise, an annual budget never
overspent, and the monthly statements the finance office pays the seal shops from.

"One grant per enterprise" is the database's unique constraint on the USCC; "never overspent" is the
database's check ``reserved + settled <= annual budget`` and a conditional ``UPDATE … WHERE reserved +
settled + amount <= budget``. On top of both, every ledger write runs one at a time (``BEGIN
IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL), so a retried activity, a replayed workflow, a
duplicate case or a race between worker processes gets the first decision back and never pays twice.

A grant is ``reserved`` when the seal order is placed, ``settled`` (money moved reserved → settled,
owed to the shop) when carving completes, ``released`` (money back in the budget) when the case is
withdrawn before that. A settled grant stays settled.

What to decide (a grant in force, a kind not covered, the cap, the budget) is ``domain/subsidy.py``'s,
without a database; this module reads what those decisions need and records what they decide.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, BaseModel
from sqlalchemy import Row, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.application import Money
from domain.districts import CITY_ZONE
from domain.subsidy import (
    NOT_RESERVED,
    GrantState,
    GrantTerms,
    SubsidyDecision,
    SubsidyEntry,
    SubsidyReservation,
    budget_exhausted,
    decide_reservation,
    decision_of,
    month_of,
    within_budget,
)
from infra.logging import get_logger
from store.db import init_schema, insert_ignoring_duplicates, serialize_writers, transaction
from store.subsidy_schema import subsidy_budget_table, subsidy_grants_table

__all__ = [
    "BudgetStanding",
    "MonthReport",
    "ShopStatement",
    "ShopTotal",
    "SubsidyDecision",
    "SubsidyEntry",
    "SubsidyGrantNotFound",
    "SubsidyLedger",
    "SubsidyStateConflict",
    "parse_month",
]

log = get_logger("subsidy")

_LOCK = "subsidies"
_ZERO = Decimal("0.00")
_MONTH = re.compile(r"(\d{4})-(\d{2})", re.ASCII)
_RACE_RETRIES = 3

_budget = subsidy_budget_table
_grants = subsidy_grants_table


class SubsidyGrantNotFound(LookupError):
    """No subsidy was ever reserved for this USCC."""


class SubsidyStateConflict(ValueError):
    """The grant's state does not allow this (settling a released grant)."""


def parse_month(text: str) -> tuple[int, int]:
    """``"2026-11"`` → (2026, 11); ValueError naming the expected form otherwise."""
    match = _MONTH.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
        raise ValueError(f"{str(text)[:20]!r} is not a month; write YYYY-MM, e.g. 2026-11")
    return int(match[1]), int(match[2])


class ShopTotal(BaseModel):
    """One shop's month: ``count`` and ``amount_cny`` are the settled grants (what the city owes it);
    ``reserved_*`` the ones still being carved."""

    shop_id: str
    shop_name: str
    count: int = 0
    amount_cny: Money = _ZERO
    reserved_count: int = 0
    reserved_cny: Money = _ZERO


class BudgetStanding(BaseModel):
    year: int
    annual_budget_cny: Money
    reserved_cny: Money
    settled_cny: Money
    remaining_cny: Money


class MonthReport(BaseModel):
    """``GET /v1/subsidies?month=``: the month's settled grants (``entries``, which add up to each
    shop's ``amount_cny`` and to ``total_cny``), and the reservations made that month still open
    (``reserved``, totalling ``reserved_cny``)."""

    month: str
    entries: list[SubsidyEntry]
    totals_by_shop: list[ShopTotal]
    total_cny: Money
    reserved: list[SubsidyEntry]
    reserved_cny: Money
    budget: BudgetStanding | None


class ShopStatement(BaseModel):
    """One shop's monthly statement for the finance office: its settled grants of the month."""

    month: str
    shop_id: str
    shop_name: str
    entries: list[SubsidyEntry]
    count: int
    total_cny: Money
    generated_at: AwareDatetime


class _Raced(Exception):
    """Another writer got in between (should not happen under the writers' lock): run it again."""


# The grant's columns that hold JSON text (lists of seals, prices by seal).
_JSON_COLUMNS = ("covered_seals", "extra_seals", "prices_cny")


def _to_entry(row: Row[Any]) -> SubsidyEntry:
    values = row._asdict()
    values["grant_id"] = values.pop("id")
    for name in _JSON_COLUMNS:
        values[name] = json.loads(values[name])
    return SubsidyEntry.model_validate({name: values[name] for name in SubsidyEntry.model_fields})


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=isinstance(value, Mapping))


class SubsidyLedger:
    """The subsidy ledger in the service database. One instance per engine; safe to share between
    tasks. Creates its tables on first use if the engine was opened before this module was imported."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._schema_ready = False
        self._schema_lock = asyncio.Lock()

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def ensure_schema(self) -> None:
        if self._schema_ready:
            return
        async with self._schema_lock:
            if not self._schema_ready:
                await init_schema(self._engine)
                self._schema_ready = True

    # --- the workflow's three steps ------------------------------------------------------------

    async def reserve(self, request: SubsidyReservation) -> SubsidyDecision:
        """Reserve the subsidy for the standard part of a seal order, once per USCC ever.

        A repeat (retry, replay, duplicate case, concurrent attempt) gets the existing grant's
        decision. A kind the policy does not cover, an order with no standard seal, or a budget that
        cannot cover the amount gets a decision without a grant (and no row)."""
        for _ in range(_RACE_RETRIES):
            try:
                async with self._writing() as conn:
                    return await self._reserve(conn, request)
            except _Raced:
                continue
        raise RuntimeError(f"the subsidy of {request.uscc} could not be reserved: writers kept racing")

    async def _reserve(self, conn: AsyncConnection, request: SubsidyReservation) -> SubsidyDecision:
        """Record what ``domain.subsidy`` decides: the decision alone, or the grant and its money."""
        standing = await self._entry(conn, request.uscc)
        terms = decide_reservation(request, standing)
        if isinstance(terms, SubsidyDecision):
            return terms
        reserved, settled = await self._budget_spent(conn, terms)
        if not within_budget(terms, reserved, settled):
            log.warning(
                "subsidy budget exhausted",
                application_id=request.application_id,
                year=terms.budget_year,
                amount_cny=str(terms.amount_cny),
            )
            return budget_exhausted(terms)
        await self._take_from_budget(conn, terms)
        grant_id = await self._record_grant(conn, request, terms, standing)
        entry = await self._entry(conn, request.uscc)
        assert entry is not None and entry.grant_id == grant_id
        log.info(
            "subsidy reserved",
            application_id=request.application_id,
            grant_id=grant_id,
            amount_cny=str(terms.amount_cny),
            year=terms.budget_year,
        )
        return decision_of(entry)

    @staticmethod
    async def _budget_spent(conn: AsyncConnection, terms: GrantTerms) -> tuple[Decimal, Decimal]:
        """What the year's budget has reserved and settled; a year's first reservation opens its
        budget (at the policy's amount)."""
        await conn.execute(
            insert_ignoring_duplicates(conn, _budget, "year").values(
                year=terms.budget_year,
                annual_budget_cny=terms.annual_budget_cny,
                reserved_cny=_ZERO,
                settled_cny=_ZERO,
                updated_at=terms.reserved_at,
            )
        )
        row = (
            await conn.execute(
                select(_budget.c.reserved_cny, _budget.c.settled_cny).where(
                    _budget.c.year == terms.budget_year
                )
            )
        ).one()
        return row.reserved_cny, row.settled_cny

    @staticmethod
    async def _take_from_budget(conn: AsyncConnection, terms: GrantTerms) -> None:
        """Move the grant's amount into the year's reserved money. The budget's check is made again in
        the same statement: whatever a writer outside the lock did, the budget is never overspent.
        The year's budget follows the policy of the latest reservation."""
        amount = terms.amount_cny
        taken = await conn.execute(
            update(_budget)
            .where(
                _budget.c.year == terms.budget_year,
                _budget.c.reserved_cny + _budget.c.settled_cny + amount <= terms.annual_budget_cny,
            )
            .values(
                reserved_cny=_budget.c.reserved_cny + amount,
                annual_budget_cny=terms.annual_budget_cny,
                updated_at=terms.reserved_at,
            )
            .returning(_budget.c.year)
        )
        if taken.one_or_none() is None:  # pragma: no cover - the writers' lock prevents it
            raise _Raced()

    @staticmethod
    async def _record_grant(
        conn: AsyncConnection, request: SubsidyReservation, terms: GrantTerms, standing: SubsidyEntry | None
    ) -> str:
        """Write the reserved grant: a new row, or the enterprise's released one granted again."""
        quote = terms.quote
        values = {
            "application_id": request.application_id,
            "workflow_id": request.workflow_id,
            "enterprise_name": request.enterprise_name,
            "enterprise_kind": request.enterprise_kind,
            "district_code": request.district_code,
            "shop_id": request.shop_id,
            "shop_name": request.shop_name,
            "covered_seals": _json(quote.covered_seals),
            "extra_seals": _json(quote.extra_seals),
            "prices_cny": _json({seal: f"{price:.2f}" for seal, price in quote.prices_cny.items()}),
            "amount_cny": quote.amount_cny,
            "enterprise_pays_cny": quote.enterprise_pays_cny,
            "budget_year": terms.budget_year,
            "state": "reserved",
            "reserved_at": terms.reserved_at,
            "settled_at": None,
            "released_at": None,
            "month": terms.month,
        }
        if standing is not None:
            # A released grant (its case was withdrawn) is the same enterprise's one grant, again.
            changed = await conn.execute(
                update(_grants)
                .where(_grants.c.uscc == request.uscc, _grants.c.state == "released")
                .values(**values)
            )
            if changed.rowcount != 1:
                raise _Raced()
            return standing.grant_id
        grant_id = f"FS{terms.budget_year}-{uuid.uuid4().hex[:12].upper()}"
        try:
            inserted = await conn.execute(
                insert_ignoring_duplicates(conn, _grants, "uscc")
                .values(id=grant_id, uscc=request.uscc, **values)
                .returning(_grants.c.id)
            )
        except IntegrityError as err:  # pragma: no cover - the writers' lock prevents it
            raise _Raced() from err
        if inserted.one_or_none() is None:  # pragma: no cover - likewise
            raise _Raced()
        return grant_id

    async def settle(self, uscc: str, at: datetime | None = None) -> SubsidyDecision:
        """Carving is done: the reservation becomes money owed to the shop (reserved → settled).
        Settling a settled grant changes nothing. SubsidyGrantNotFound when nothing was reserved,
        SubsidyStateConflict when the grant was released."""
        at = (at or datetime.now(UTC)).astimezone(UTC)
        async with self._writing() as conn:
            entry = await self._entry(conn, uscc)
            if entry is None:
                raise SubsidyGrantNotFound(f"no first-seal subsidy was reserved for USCC {uscc}")
            if entry.state == "released":
                raise SubsidyStateConflict(
                    f"the first-seal subsidy of USCC {uscc} was released (case withdrawn); "
                    "it cannot be settled"
                )
            if entry.state == "reserved":
                entry = await self._close_reservation(
                    conn, entry, "settled", at, settled=entry.amount_cny, settled_at=at, month=month_of(at)
                )
        return decision_of(entry)

    async def release(self, uscc: str, at: datetime | None = None) -> SubsidyDecision:
        """The case was withdrawn before carving completed: the reserved money goes back to the
        budget (reserved → released). Releasing again changes nothing; a settled grant stays settled
        (its decision is returned unchanged); with nothing reserved, a decision that says so."""
        at = (at or datetime.now(UTC)).astimezone(UTC)
        async with self._writing() as conn:
            entry = await self._entry(conn, uscc)
            if entry is None:
                return SubsidyDecision(eligible=False, granted=False, reason=NOT_RESERVED)
            if entry.state == "reserved":
                entry = await self._close_reservation(
                    conn, entry, "released", at, settled=_ZERO, released_at=at
                )
            elif entry.state == "settled":
                log.info("subsidy already settled; not released", grant_id=entry.grant_id)
        return decision_of(entry)

    # --- reading ---------------------------------------------------------------------------------

    async def grant(self, uscc: str) -> SubsidyEntry | None:
        await self.ensure_schema()
        async with transaction(self._engine) as conn:
            return await self._entry(conn, uscc)

    async def settled_between(self, start: datetime, end: datetime) -> list[SubsidyEntry]:
        """The grants settled in [start, end) (what the city owes the shops for that time). A read
        of the daily report, on an engine whose schema is in place (``open_database``)."""
        async with transaction(self._engine) as conn:
            rows = (
                await conn.execute(
                    select(_grants)
                    .where(
                        _grants.c.state == "settled",
                        _grants.c.settled_at >= start,
                        _grants.c.settled_at < end,
                    )
                    .order_by(_grants.c.settled_at, _grants.c.id)
                )
            ).all()
        return [_to_entry(row) for row in rows]

    async def settled_total(self) -> tuple[int, Decimal]:
        """Every settled grant ever: how many, and their amount (the ``ods_subsidy_*`` metrics, read at
        each scrape, on an engine whose schema is in place)."""
        async with transaction(self._engine) as conn:
            # SUM keeps the column's type: exact yuan on both databases (integer fen on SQLite).
            count, amount = (
                await conn.execute(
                    select(func.count(), func.sum(_grants.c.amount_cny)).where(_grants.c.state == "settled")
                )
            ).one()
        return int(count), amount if amount is not None else _ZERO

    async def budget(self, year: int) -> BudgetStanding | None:
        await self.ensure_schema()
        async with transaction(self._engine) as conn:
            return await self._budget_standing(conn, year)

    async def month_report(self, month: str) -> MonthReport:
        """The month's ledger (``YYYY-MM``, Beijing time): settled grants by settlement month, open
        reservations by reservation month, totals per shop; exact to the cent."""
        year, number = parse_month(month)
        month = f"{year:04d}-{number:02d}"
        await self.ensure_schema()
        async with transaction(self._engine) as conn:
            rows = (
                await conn.execute(
                    select(_grants)
                    .where(_grants.c.month == month, _grants.c.state.in_(("settled", "reserved")))
                    .order_by(
                        _grants.c.shop_id,
                        _grants.c.settled_at,
                        _grants.c.reserved_at,
                        _grants.c.application_id,
                        _grants.c.id,
                    )
                )
            ).all()
            budget = await self._budget_standing(conn, year)
        entries = [_to_entry(row) for row in rows]
        settled = [e for e in entries if e.state == "settled"]
        reserved = [e for e in entries if e.state == "reserved"]
        shops: dict[str, ShopTotal] = {}
        for entry in entries:
            shop = shops.setdefault(
                entry.shop_id, ShopTotal(shop_id=entry.shop_id, shop_name=entry.shop_name)
            )
            if entry.state == "settled":
                shop.count += 1
                shop.amount_cny += entry.amount_cny
            else:
                shop.reserved_count += 1
                shop.reserved_cny += entry.amount_cny
        return MonthReport(
            month=month,
            entries=settled,
            totals_by_shop=[shops[shop_id] for shop_id in sorted(shops)],
            total_cny=sum((e.amount_cny for e in settled), _ZERO),
            reserved=reserved,
            reserved_cny=sum((e.amount_cny for e in reserved), _ZERO),
            budget=budget,
        )

    async def shop_statement(self, month: str, shop: str) -> ShopStatement | None:
        """One shop's settled grants of the month (the shop by id, or by its exact name); None when it
        has none."""
        report = await self.month_report(month)
        mine = [e for e in report.entries if e.shop_id == shop] or [
            e for e in report.entries if e.shop_name == shop
        ]
        if not mine:
            return None
        return ShopStatement(
            month=report.month,
            shop_id=mine[0].shop_id,
            shop_name=mine[0].shop_name,
            entries=mine,
            count=len(mine),
            total_cny=sum((e.amount_cny for e in mine), _ZERO),
            generated_at=datetime.now(CITY_ZONE),
        )

    # --- inside a transaction -------------------------------------------------------------------

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction of the ledger, after every other ledger writer's (``serialize_writers``)."""
        await self.ensure_schema()
        async with transaction(self._engine, write=True) as conn:
            await serialize_writers(conn, _LOCK)
            yield conn

    async def _close_reservation(
        self,
        conn: AsyncConnection,
        entry: SubsidyEntry,
        state: GrantState,
        at: datetime,
        *,
        settled: Decimal,
        **values: Any,
    ) -> SubsidyEntry:
        """The reserved grant ``entry`` leaves the budget's reserved money (``settled`` of it owed to
        the shop, the rest back in the budget) and goes to ``state``; the grant as it now is."""
        await self._move_budget(conn, entry, reserved=-entry.amount_cny, settled=settled, at=at)
        await self._set_state(conn, entry, state, **values)
        closed = await self._entry(conn, entry.uscc)
        assert closed is not None
        log.info(f"subsidy {state}", grant_id=closed.grant_id, amount_cny=str(closed.amount_cny))
        return closed

    @staticmethod
    async def _entry(conn: AsyncConnection, uscc: str) -> SubsidyEntry | None:
        row = (await conn.execute(select(_grants).where(_grants.c.uscc == uscc))).one_or_none()
        return None if row is None else _to_entry(row)

    @staticmethod
    async def _budget_standing(conn: AsyncConnection, year: int) -> BudgetStanding | None:
        row = (await conn.execute(select(_budget).where(_budget.c.year == year))).one_or_none()
        if row is None:
            return None
        return BudgetStanding(
            year=row.year,
            annual_budget_cny=row.annual_budget_cny,
            reserved_cny=row.reserved_cny,
            settled_cny=row.settled_cny,
            remaining_cny=max(row.annual_budget_cny - row.reserved_cny - row.settled_cny, _ZERO),
        )

    @staticmethod
    async def _move_budget(
        conn: AsyncConnection, entry: SubsidyEntry, *, reserved: Decimal, settled: Decimal, at: datetime
    ) -> None:
        moved = await conn.execute(
            update(_budget)
            .where(_budget.c.year == entry.budget_year)
            .values(
                reserved_cny=_budget.c.reserved_cny + reserved,
                settled_cny=_budget.c.settled_cny + settled,
                updated_at=at,
            )
        )
        if moved.rowcount != 1:
            raise RuntimeError(f"no subsidy budget for {entry.budget_year} (grant {entry.grant_id})")

    @staticmethod
    async def _set_state(
        conn: AsyncConnection, entry: SubsidyEntry, state: GrantState, **values: Any
    ) -> None:
        changed = await conn.execute(
            update(_grants)
            .where(_grants.c.uscc == entry.uscc, _grants.c.state == entry.state)
            .values(state=state, **values)
        )
        if changed.rowcount != 1:
            raise RuntimeError(f"grant {entry.grant_id} changed under the writers' lock")
