"""Operators' sign-in sessions in the service database (``ODS_DATABASE_URL``): one row per session.

Server-side, so that every gateway sees every session and a session can end (sign-out, a token
removed, a timeout) everywhere at once. A row holds no secret a thief could use: the session id
only as its SHA-256 (the browser's cookie holds the id itself), and the token the session was
opened with only as a keyed fingerprint (``gateway/sessions.py`` decides what the timeouts are
and when a session no longer counts; this module only keeps the rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Boolean, String, Table, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from domain.actions import OPERATOR_MAX_LENGTH
from store.db import transaction
from store.schema import AwareDateTime, Base


class OpsSessionRow(Base):
    """One operator's sign-in at ``/ops/login``."""

    __tablename__ = "ops_sessions"

    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator: Mapped[str] = mapped_column(String(OPERATOR_MAX_LENGTH), index=True)
    personal: Mapped[bool] = mapped_column(Boolean)
    token_fingerprint: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(AwareDateTime())
    last_used_at: Mapped[datetime] = mapped_column(AwareDateTime())
    expires_at: Mapped[datetime] = mapped_column(AwareDateTime())


ops_sessions_table = cast(Table, OpsSessionRow.__table__)


@dataclass(frozen=True)
class OpsSession:
    """A session as stored: who (``operator``; ``personal`` False for the shared ops token), with
    which token (its fingerprint), since when, last used when, and until when at the latest."""

    id_sha256: str
    operator: str
    personal: bool
    token_fingerprint: str
    opened_at: datetime
    last_used_at: datetime
    expires_at: datetime


class OpsSessions:
    """Every operator's sessions, in the service database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def open(self, session: OpsSession) -> None:
        async with transaction(self._engine, write=True) as conn:
            await conn.execute(insert(ops_sessions_table).values(**session.__dict__))

    async def get(self, id_sha256: str) -> OpsSession | None:
        t = ops_sessions_table
        async with transaction(self._engine) as conn:
            row = (await conn.execute(select(t).where(t.c.id_sha256 == id_sha256))).mappings().one_or_none()
        return OpsSession(**row) if row is not None else None

    async def touch(self, id_sha256: str, at: datetime) -> None:
        """The session was used ``at`` (its idle timeout counts from there)."""
        t = ops_sessions_table
        async with transaction(self._engine, write=True) as conn:
            await conn.execute(
                update(t).where(t.c.id_sha256 == id_sha256, t.c.last_used_at < at).values(last_used_at=at)
            )

    async def end(self, id_sha256: str) -> bool:
        """End one session; whether there was one."""
        t = ops_sessions_table
        async with transaction(self._engine, write=True) as conn:
            ended = await conn.execute(delete(t).where(t.c.id_sha256 == id_sha256))
        return bool(ended.rowcount)

    async def end_stale(self, *, idle_since: datetime, now: datetime) -> int:
        """End every session unused since ``idle_since`` or past its absolute end; how many."""
        t = ops_sessions_table
        async with transaction(self._engine, write=True) as conn:
            stale = or_(t.c.last_used_at <= idle_since, t.c.expires_at <= now)
            ended = await conn.execute(delete(t).where(stale))
        return int(ended.rowcount)

    async def of(self, operator: str) -> list[OpsSession]:
        """The sessions stored under ``operator``'s name (``starter.py``-style listings, the tests)."""
        t = ops_sessions_table
        async with transaction(self._engine) as conn:
            rows = (await conn.execute(select(t).where(t.c.operator == operator))).mappings().all()
        return [OpsSession(**row) for row in rows]
