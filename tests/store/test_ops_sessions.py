"""Operators' sessions in the service database, on SQLite and PostgreSQL: kept, found by the id's
hash, used, ended one by one, and the stale ones ended together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from store.sessions import OpsSession, OpsSessions

T0 = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)


def a_session(n: int, *, operator: str = "zhang.wei", at: datetime = T0) -> OpsSession:
    return OpsSession(
        id_sha256=f"{n:064x}",
        operator=operator,
        personal=True,
        token_fingerprint="f" * 64,
        opened_at=at,
        last_used_at=at,
        expires_at=at + timedelta(hours=8),
    )


async def test_a_session_is_found_by_its_hash_used_and_ended(engine: AsyncEngine) -> None:
    sessions = OpsSessions(engine)
    await sessions.open(a_session(1))
    assert await sessions.get(a_session(1).id_sha256) == a_session(1)
    assert await sessions.get(a_session(2).id_sha256) is None
    later = T0 + timedelta(minutes=5)
    await sessions.touch(a_session(1).id_sha256, later)
    await sessions.touch(a_session(1).id_sha256, T0)  # an older use never moves it back
    found = await sessions.get(a_session(1).id_sha256)
    assert found is not None and found.last_used_at == later
    assert await sessions.end(a_session(1).id_sha256) is True
    assert await sessions.end(a_session(1).id_sha256) is False
    assert await sessions.get(a_session(1).id_sha256) is None


async def test_stale_sessions_end_together_and_the_others_stay(engine: AsyncEngine) -> None:
    sessions = OpsSessions(engine)
    await sessions.open(a_session(1, at=T0 - timedelta(hours=9)))  # past its absolute end
    await sessions.open(a_session(2, at=T0 - timedelta(minutes=40)))  # idle since
    await sessions.open(a_session(3, operator="李娜", at=T0 - timedelta(minutes=5)))
    ended = await sessions.end_stale(idle_since=T0 - timedelta(minutes=30), now=T0)
    assert ended == 2
    assert [s.id_sha256 for s in await sessions.of("李娜")] == [a_session(3).id_sha256]
    assert await sessions.of("zhang.wei") == []
