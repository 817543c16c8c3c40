"""The subsidy ledger on SQLite and on a real PostgreSQL: one grant per enterprise, whatever retries,
duplicates and races do; a budget that is never overspent; statements that add up to the cent."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.subsidy import BUDGET_EXHAUSTED
from domain.subsidy_policy import SubsidyPolicy
from store.db import create_engine
from store.subsidies import (
    SubsidyGrantNotFound,
    SubsidyLedger,
    SubsidyStateConflict,
    parse_month,
)
from store.subsidy_schema import subsidy_budget_table, subsidy_grants_table
from tests import factories
from tests.databases import another_process
from tests.factories import RESERVED_AT, STANDARD_SEALS, a_reservation
from tests.store.test_alerts import count_rows

REPO = Path(__file__).resolve().parents[2]


async def grant_rows(engine: AsyncEngine) -> int:
    return await count_rows(engine, subsidy_grants_table)


async def test_a_grant_is_reserved_once_and_a_repeat_gets_the_same_decision(
    ledger: SubsidyLedger, engine: AsyncEngine
) -> None:
    request = a_reservation()
    first = await ledger.reserve(request)
    assert first.eligible and first.granted and first.state == "reserved"
    assert first.amount_cny == Decimal("640.00") and first.enterprise_pays_cny == Decimal("0.00")
    assert first.covered_seals == STANDARD_SEALS and first.extra_seals == []
    assert "640.00" in first.reason and first.grant_id

    # A retried activity, a replay a day later, a second case for the same enterprise: the same answer.
    assert await ledger.reserve(request) == first
    assert await ledger.reserve(request.model_copy(update={"at": RESERVED_AT + timedelta(days=1)})) == first
    again = a_reservation(request.uscc, case=2, seals=["official"], shop_id="other")
    assert await ledger.reserve(again) == first

    assert await grant_rows(engine) == 1
    budget = await ledger.budget(2026)
    assert budget is not None
    assert (budget.reserved_cny, budget.settled_cny) == (Decimal("640.00"), Decimal("0.00"))
    assert budget.remaining_cny == Decimal("1500000.00") - Decimal("640.00")
    status = first.to_status()
    assert status.model_dump(mode="json") == {
        "eligible": True,
        "granted": True,
        "amount_cny": "640.00",
        "reason": first.reason,
    }


async def test_twenty_simultaneous_attempts_from_two_processes_make_one_grant(
    ledger: SubsidyLedger, engine: AsyncEngine, database_url: str
) -> None:
    async with another_process(database_url) as other_worker:
        other = SubsidyLedger(other_worker)
        uscc = factories.uscc()
        ledgers = [ledger, other] * 10
        decisions = await asyncio.gather(
            *(lg.reserve(a_reservation(uscc, case=n)) for n, lg in enumerate(ledgers, start=1))
        )

    assert len({d.grant_id for d in decisions}) == 1
    assert all(d.granted and d.amount_cny == Decimal("640.00") for d in decisions)
    assert await grant_rows(engine) == 1
    budget = await ledger.budget(2026)
    assert budget is not None and budget.reserved_cny == Decimal("640.00")


async def test_fifty_enterprises_racing_for_a_budget_of_seventeen_get_exactly_seventeen(
    ledger: SubsidyLedger, engine: AsyncEngine, database_url: str
) -> None:
    fits = 17
    policy = SubsidyPolicy(annual_budget_cny=Decimal("640.00") * fits)
    async with another_process(database_url) as other_worker:
        other = SubsidyLedger(other_worker)
        decisions = await asyncio.gather(
            *(
                (ledger if n % 2 else other).reserve(a_reservation(case=n, policy=policy))
                for n in range(1, 51)
            )
        )

    granted = [d for d in decisions if d.granted]
    refused = [d for d in decisions if not d.granted]
    assert len(granted) == fits
    assert len(refused) == 50 - fits
    for d in refused:
        assert d.eligible and d.budget_exhausted and d.state is None and d.grant_id is None
        assert d.amount_cny == Decimal("0.00") and d.reason == BUDGET_EXHAUSTED
        assert d.enterprise_pays_cny == Decimal("640.00")
    assert await grant_rows(engine) == fits
    budget = await ledger.budget(2026)
    assert budget is not None
    assert budget.reserved_cny == Decimal("640.00") * fits == budget.annual_budget_cny
    assert budget.remaining_cny == Decimal("0.00")


async def test_a_budget_that_cannot_cover_the_whole_set_grants_nothing(ledger: SubsidyLedger) -> None:
    policy = SubsidyPolicy(annual_budget_cny=Decimal("1000.00"))
    assert (await ledger.reserve(a_reservation(case=1, policy=policy))).granted
    # 360.00 left; the next enterprise needs 640.00: no partial grant.
    refused = await ledger.reserve(a_reservation(case=2, policy=policy))
    assert refused.budget_exhausted and not refused.granted
    # A smaller order still fits.
    small = await ledger.reserve(a_reservation(case=3, policy=policy, seals=["official", "financial"]))
    assert small.granted and small.amount_cny == Decimal("360.00")
    budget = await ledger.budget(2026)
    assert budget is not None and budget.remaining_cny == Decimal("0.00")


async def test_extras_are_paid_by_the_enterprise_and_the_cap_applies(ledger: SubsidyLedger) -> None:
    with_contract = await ledger.reserve(a_reservation(case=1, seals=[*STANDARD_SEALS, "contract"]))
    assert with_contract.granted
    assert with_contract.covered_seals == STANDARD_SEALS and with_contract.extra_seals == ["contract"]
    assert with_contract.amount_cny == Decimal("640.00")
    assert with_contract.enterprise_pays_cny == Decimal("160.00")
    assert "160.00" in with_contract.reason and "contract" in with_contract.reason

    capped_policy = SubsidyPolicy(cap_per_enterprise_cny=Decimal("500.00"))
    capped = await ledger.reserve(
        a_reservation(case=2, policy=capped_policy, seals=[*STANDARD_SEALS, "contract"])
    )
    assert capped.amount_cny == Decimal("500.00")
    assert capped.enterprise_pays_cny == Decimal("300.00")  # 140.00 over the cap + the contract seal
    budget = await ledger.budget(2026)
    assert budget is not None and budget.reserved_cny == Decimal("1140.00")


async def test_a_kind_the_policy_does_not_cover_is_told_so_and_gets_no_grant(
    ledger: SubsidyLedger, engine: AsyncEngine
) -> None:
    policy = SubsidyPolicy(kinds=["limited_company"])
    decision = await ledger.reserve(a_reservation(enterprise_kind="individual_business", policy=policy))
    assert not decision.eligible and not decision.granted and not decision.budget_exhausted
    assert decision.amount_cny == Decimal("0.00") and decision.state is None
    assert "individual_business" in decision.reason
    assert decision.enterprise_pays_cny == Decimal("640.00")
    assert await grant_rows(engine) == 0
    assert await ledger.budget(2026) is None


async def test_settle_and_release_move_the_money_once(ledger: SubsidyLedger) -> None:
    kept, withdrawn = a_reservation(case=1), a_reservation(case=2)
    await ledger.reserve(kept)
    await ledger.reserve(withdrawn)

    settled = await ledger.settle(kept.uscc, RESERVED_AT + timedelta(hours=2))
    assert settled.granted and settled.state == "settled" and settled.amount_cny == Decimal("640.00")
    assert await ledger.settle(kept.uscc, RESERVED_AT + timedelta(hours=3)) == settled
    released = await ledger.release(withdrawn.uscc, RESERVED_AT + timedelta(hours=1))
    assert not released.granted and released.state == "released" and released.amount_cny == Decimal("0.00")
    assert released.eligible and "640.00" in released.reason
    assert await ledger.release(withdrawn.uscc) == released

    budget = await ledger.budget(2026)
    assert budget is not None
    assert (budget.reserved_cny, budget.settled_cny) == (Decimal("0.00"), Decimal("640.00"))

    # A settled grant is never released; a released one is never settled; a repeat changes nothing.
    assert await ledger.release(kept.uscc) == settled
    with pytest.raises(SubsidyStateConflict, match="released"):
        await ledger.settle(withdrawn.uscc)
    with pytest.raises(SubsidyGrantNotFound):
        await ledger.settle(factories.uscc())
    nothing = await ledger.release(factories.uscc())
    assert not nothing.granted and nothing.state is None
    budget = await ledger.budget(2026)
    assert budget is not None
    assert (budget.reserved_cny, budget.settled_cny) == (Decimal("0.00"), Decimal("640.00"))
    assert await ledger.reserve(kept) == settled, "a settled enterprise is never reserved again"


async def test_released_money_goes_back_to_the_budget_for_the_next_enterprise(ledger: SubsidyLedger) -> None:
    policy = SubsidyPolicy(annual_budget_cny=Decimal("640.00"))
    first = a_reservation(case=1, policy=policy)
    assert (await ledger.reserve(first)).granted
    assert (await ledger.reserve(a_reservation(case=2, policy=policy))).budget_exhausted

    await ledger.release(first.uscc)
    second = await ledger.reserve(a_reservation(case=3, policy=policy))
    assert second.granted
    # The withdrawn enterprise applies again: its one grant row comes back to life, if money allows.
    assert (await ledger.reserve(first)).budget_exhausted
    await ledger.release(a_reservation(case=3).uscc)  # an unknown USCC: nothing happens
    assert second.grant_id is not None


async def test_a_withdrawn_enterprise_that_applies_again_gets_its_same_grant_back(
    ledger: SubsidyLedger, engine: AsyncEngine
) -> None:
    request = a_reservation()
    first = await ledger.reserve(request)
    await ledger.release(request.uscc)
    again = await ledger.reserve(request.model_copy(update={"application_id": "AY20261128-0001"}))
    assert again.granted and again.state == "reserved" and again.grant_id == first.grant_id
    assert await grant_rows(engine) == 1
    entry = await ledger.grant(request.uscc)
    assert entry is not None and entry.application_id == "AY20261128-0001" and entry.released_at is None
    budget = await ledger.budget(2026)
    assert budget is not None and budget.reserved_cny == Decimal("640.00")


async def test_the_month_report_adds_up_to_the_cent(ledger: SubsidyLedger) -> None:
    # Prices with odd cents, so a float anywhere would show.
    policy = SubsidyPolicy.model_validate(
        {
            "prices_cny": {
                "official": "200.01",
                "financial": "0.07",
                "invoice": "33.33",
                "legal_representative": "0.10",
            }
        }
    )
    shops = [("KZ410502", "文峰区刻章店"), ("KZ410503", "北关区刻章店"), ("KZ410506", "龙安区刻章店")]
    expected: dict[str, Decimal] = {shop_id: Decimal("0.00") for shop_id, _ in shops}
    requests = []
    for n in range(1, 31):
        shop_id, shop_name = shops[n % 3]
        seals = STANDARD_SEALS[: 1 + n % 4]
        request = a_reservation(
            case=n, policy=policy, shop_id=shop_id, shop_name=shop_name, seals=seals, prices_cny={}
        )
        requests.append(request)
        decision = await ledger.reserve(request)
        assert decision.granted
        if n <= 24:
            expected[shop_id] += decision.amount_cny
    for request in requests[:24]:
        await ledger.settle(request.uscc, datetime(2026, 11, 30, 15, 0, tzinfo=UTC))  # 23:00 in Anyang
    for request in requests[24:27]:
        await ledger.release(request.uscc)
    await ledger.settle(requests[29].uscc, datetime(2026, 11, 30, 16, 0, tzinfo=UTC))  # 1 December

    report = await ledger.month_report("2026-11")
    assert report.month == "2026-11"
    assert len(report.entries) == 24 and all(e.state == "settled" for e in report.entries)
    assert [(t.shop_id, t.amount_cny) for t in report.totals_by_shop] == sorted(expected.items())
    assert sum(t.count for t in report.totals_by_shop) == 24
    assert report.total_cny == sum(expected.values())
    for total in report.totals_by_shop:
        assert total.amount_cny == sum(e.amount_cny for e in report.entries if e.shop_id == total.shop_id)
    assert [e.application_id for e in report.reserved] == ["AY20261127-0028", "AY20261127-0029"]
    assert report.reserved_cny == sum(e.amount_cny for e in report.reserved)
    assert sum(t.reserved_cny for t in report.totals_by_shop) == report.reserved_cny

    # The same figures, as JSON: decimal strings that add up too.
    body = json.loads(report.model_dump_json())
    assert sum(Decimal(e["amount_cny"]) for e in body["entries"]) == Decimal(body["total_cny"])
    assert all(len(e["amount_cny"].split(".")[1]) == 2 for e in body["entries"])

    december = await ledger.month_report("2026-12")
    assert [e.application_id for e in december.entries] == ["AY20261127-0030"]
    assert december.reserved == []
    # The year's budget has every settlement of 2026, November's and December's.
    assert body["budget"]["settled_cny"] == f"{report.total_cny + december.total_cny:.2f}"
    assert body["budget"]["reserved_cny"] == f"{report.reserved_cny:.2f}"
    empty = await ledger.month_report("2025-01")
    assert (empty.entries, empty.totals_by_shop, empty.total_cny, empty.budget) == (
        [],
        [],
        Decimal("0"),
        None,
    )

    statement = await ledger.shop_statement("2026-11", "KZ410503")
    assert statement is not None and statement.shop_name == "北关区刻章店"
    assert statement.total_cny == expected["KZ410503"]
    assert (
        statement.count == len(statement.entries) == sum(1 for e in report.entries if e.shop_id == "KZ410503")
    )
    by_name = await ledger.shop_statement("2026-11", "北关区刻章店")
    assert by_name is not None and by_name.entries == statement.entries
    assert await ledger.shop_statement("2026-11", "KZ999999") is None
    assert await ledger.shop_statement("2025-01", "KZ410503") is None


async def test_each_year_has_its_own_budget(ledger: SubsidyLedger) -> None:
    policy = SubsidyPolicy(annual_budget_cny=Decimal("640.00"))
    # 31 December 23:30 in Anyang is already the new year's budget? No: it is still 2026 there.
    late = await ledger.reserve(
        a_reservation(case=1, policy=policy, at=datetime(2026, 12, 31, 15, 30, tzinfo=UTC))
    )
    next_year = await ledger.reserve(
        a_reservation(case=2, policy=policy, at=datetime(2026, 12, 31, 16, 30, tzinfo=UTC))
    )
    assert late.granted and next_year.granted
    b2026, b2027 = await ledger.budget(2026), await ledger.budget(2027)
    assert b2026 is not None and b2026.reserved_cny == Decimal("640.00")
    assert b2027 is not None and b2027.reserved_cny == Decimal("640.00")


async def test_the_ledger_creates_its_tables_on_an_engine_opened_without_them(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        decision = await SubsidyLedger(engine).reserve(a_reservation())
        assert decision.granted
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(subsidy_budget_table)) == 1
    finally:
        await engine.dispose()


def test_months_are_written_yyyy_mm() -> None:
    assert parse_month("2026-11") == (2026, 11)
    for bad in ("2026-13", "2026-1", "26-11", "2026/11", "", "2026-00", "２０２６-11"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            parse_month(bad)


_RACER = """
import asyncio, json, sys
from datetime import datetime, timezone
from decimal import Decimal
from domain.subsidy import SubsidyReservation
from domain.subsidy_policy import SubsidyPolicy
from store.db import open_database
from store.subsidies import SubsidyLedger

async def main(url, me, shared):
    engine = await open_database(url)  # every process creates the schema at the same moment
    ledger = SubsidyLedger(engine)
    policy = SubsidyPolicy(annual_budget_cny=Decimal("3200.00"))
    def request(uscc, n):
        return SubsidyReservation(
            application_id=f"P{me}-{n:04d}", workflow_id=f"setup-P{me}-{n:04d}", uscc=uscc,
            enterprise_name="殷都区某店", enterprise_kind="individual_business", district_code="410505",
            shop_id="KZ410505", shop_name="殷都区刻章店",
            seals=["official", "financial", "invoice", "legal_representative"],
            policy=policy, at=datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc),
        )
    decisions = await asyncio.gather(
        *(ledger.reserve(request(shared, n)) for n in range(5)),
        *(ledger.reserve(request(f"9141050{me}MA{n:08d}", n)) for n in range(4)),
    )
    await engine.dispose()
    print(json.dumps([d.model_dump(mode="json") for d in decisions]))

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
"""


async def test_worker_processes_racing_share_one_schema_one_grant_and_one_budget(
    database_url: str,
) -> None:
    shared = factories.uscc()

    async def racer(me: int) -> list[dict[str, Any]]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _RACER, database_url, str(me), shared,
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        # The ledger logs to stdout too: the answer is the last line.
        result: list[dict[str, Any]] = json.loads(out.decode().strip().splitlines()[-1])
        return result

    results = [d for r in await asyncio.gather(*(racer(me) for me in range(3))) for d in r]
    # 1 shared enterprise + 12 own ones ask; the budget holds five sets of 640.00.
    granted = {d["grant_id"] for d in results if d["granted"]}
    assert len(granted) == 5
    shared_grants = {d["grant_id"] for d in results[0:5] + results[9:14] + results[18:23]}
    assert len(shared_grants) == 1
    engine = create_engine(database_url)
    try:
        budget = await SubsidyLedger(engine).budget(2026)
        assert await grant_rows(engine) == 5
    finally:
        await engine.dispose()
    assert budget is not None and budget.reserved_cny == Decimal("3200.00") == budget.annual_budget_cny
