"""The audit log on SQLite and PostgreSQL: one hash chain whoever appends, pages with filters, and
a chain that shows a changed or a missing entry; the service itself can only append."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.audit import GENESIS_HASH, hash_of
from store.audit import AuditLog
from store.db import transaction
from tests.databases import another_process

CASE = "AY20261127-0001"
OTHER = "AY20261127-0002"


async def some_entries(log: AuditLog) -> None:
    await log.append(actor="zhang.wei", role="ops", action="decode", cases=[CASE, OTHER], payloads=3)
    await log.append(actor="shared-portal-token", role="portal", action="document", cases=[CASE])
    await log.append(actor="li.na", role="ops", action="act", cases=[OTHER], detail="retry_stage")
    await log.append(actor="zhang.wei", role="ops", action="decode", payloads=1)


async def tampered(engine: AsyncEngine, statement: str) -> None:
    """Run ``statement`` around the triggers, as someone with the database owner's rights could."""
    async with transaction(engine, write=True) as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            await conn.execute(text(statement))
            await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
        else:
            await conn.execute(text("DROP TRIGGER audit_log_no_update"))
            await conn.execute(text("DROP TRIGGER audit_log_no_delete"))
            await conn.execute(text(statement))


async def test_entries_chain_and_read_back_with_their_filters(engine: AsyncEngine) -> None:
    log = AuditLog(engine)
    before = datetime.now(UTC)
    await some_entries(log)
    entries, cursor = await log.page()
    assert cursor is None
    assert [e.id for e in entries] == ["000000000001", "000000000002", "000000000003", "000000000004"]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(e.prev_hash == p.hash for p, e in itertools.pairwise(entries))
    assert all(e.hash == hash_of(e.unhashed()) for e in entries)
    assert (entries[0].cases, entries[0].payloads) == ([CASE, OTHER], 3)

    assert [e.id for e in (await log.page(case=CASE))[0]] == ["000000000001", "000000000002"]
    assert [e.id for e in (await log.page(case=OTHER, action="act"))[0]] == ["000000000003"]
    assert [e.id for e in (await log.page(actor="zhang.wei"))[0]] == ["000000000001", "000000000004"]
    assert (await log.page(since=before, until=before + timedelta(hours=1)))[0] == entries
    assert (await log.page(until=before))[0] == []
    first, cursor = await log.page(limit=3)
    assert [e.id for e in first] == [e.id for e in entries[:3]] and cursor == "000000000003"
    assert (await log.page(after=cursor, limit=3)) == ([entries[3]], None)
    assert (await log.verify()).holds and (await log.verify()).checked == 4


async def test_the_service_can_only_append(engine: AsyncEngine) -> None:
    log = AuditLog(engine)
    await some_entries(log)
    for statement in (
        "UPDATE audit_log SET actor = 'nobody'",
        "DELETE FROM audit_log WHERE seq = 2",
        "DELETE FROM audit_log_cases",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with transaction(engine, write=True) as conn:
                await conn.execute(text(statement))
    assert (await log.verify()).checked == 4


async def test_verify_names_the_entry_that_was_changed(engine: AsyncEngine) -> None:
    log = AuditLog(engine)
    await some_entries(log)
    await tampered(engine, "UPDATE audit_log SET payloads = 7 WHERE seq = 3")
    check = await log.verify()
    assert (check.holds, check.broken, check.checked) == (False, "000000000003", 2)
    assert "hash does not match" in (check.problem or "")


async def test_verify_names_the_entry_after_a_deleted_one(engine: AsyncEngine) -> None:
    log = AuditLog(engine)
    await some_entries(log)
    await tampered(engine, "DELETE FROM audit_log WHERE seq = 2")
    check = await log.verify()
    assert (check.holds, check.broken, check.checked) == (False, "000000000003", 1)
    assert "missing" in (check.problem or "")


async def test_verify_sees_an_entry_rewritten_with_a_hash_of_its_own(engine: AsyncEngine) -> None:
    # Someone who rehashes the entry they changed breaks the link to the next one.
    log = AuditLog(engine)
    await some_entries(log)
    second = (await log.page())[0][1]
    forged = second.model_copy(update={"actor": "nobody"})
    new_hash = forged.computed_hash()
    await tampered(engine, f"UPDATE audit_log SET actor = 'nobody', hash = '{new_hash}' WHERE seq = 2")
    check = await log.verify()
    assert (check.broken, check.checked) == ("000000000003", 2)
    assert "prev_hash" in (check.problem or "")


async def test_gateways_appending_at_once_keep_one_chain(engine: AsyncEngine, database_url: str) -> None:
    async with another_process(database_url) as second, another_process(database_url) as third:
        logs = [AuditLog(e) for e in (engine, second, third)]
        await asyncio.gather(
            *(
                log.append(actor=f"op{n}", role="ops", action="decode", payloads=n)
                for n in range(8)
                for log in logs
            )
        )
    check = await AuditLog(engine).verify()
    assert check.holds and check.checked == 24
