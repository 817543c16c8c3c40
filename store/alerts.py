"""The alert store: each (workflow, stage, level) recorded exactly once, and the feed that reads them.

Alerts as ``GET /v1/alerts`` shows them (``AlertRecord`` in ``/openapi.json``). "Exactly once" is
the database's unique constraint on (workflow_id, stage, level), not hope: a retried activity, a
restarted worker or a replayed workflow that records the same alert again gets the first one back
(``created=False``), and never a second row.
"""

from __future__ import annotations

import builtins
import re
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.alerts import AlertIn, AlertRecord
from store.db import insert_ignoring_duplicates, serialize_writers, transaction
from store.schema import ALERT_LEVELS, ALERT_STAGES, alerts_table

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_DISTRICT_CODE = re.compile(r"\d{6}")


class UnknownAlertId(ValueError):
    """A cursor or Last-Event-ID that names no alert in this database."""


_RECORD_COLUMNS = [alerts_table.c[name] for name in AlertRecord.model_fields]
_ONCE_PER = ("workflow_id", "stage", "level")


def _alert_id(seq: int) -> str:
    # Zero-padded sequence first, so ids sort like the feed; a random tail, so an id from a database
    # that was since recreated is never mistaken for a new alert by a subscriber dropping repeats.
    return f"{seq:012d}-{secrets.token_hex(4)}"


def _to_record(row: Row[Any]) -> AlertRecord:
    return AlertRecord.model_validate(row._asdict())


def _check_choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


class AlertStore:
    """Alerts in the service database. One instance per engine; safe to share between tasks."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def engine(self) -> AsyncEngine:
        """The service database this store writes to (other stores may share it)."""
        return self._engine

    async def record(self, alert: AlertIn) -> tuple[AlertRecord, bool]:
        """Store ``alert`` unless its (workflow, stage, level) already has one. Returns the stored
        alert and whether this call created it; every caller, concurrent ones included, gets the
        same id."""
        values = alert.model_dump()
        async with transaction(self._engine, write=True) as conn:
            # Writers one at a time, so sequence numbers commit in order and a reader that has seen
            # number n never misses a lower number committed after it.
            await serialize_writers(conn, "alerts")
            insert = (
                insert_ignoring_duplicates(conn, alerts_table, *_ONCE_PER)
                .values(id=f"pending-{uuid.uuid4().hex}", **values)
                .returning(alerts_table.c.seq)
            )
            seq = (await conn.execute(insert)).scalar_one_or_none()
            if seq is None:
                existing = await conn.execute(
                    select(*_RECORD_COLUMNS).where(
                        *(alerts_table.c[name] == values[name] for name in _ONCE_PER)
                    )
                )
                return _to_record(existing.one()), False
            alert_id = _alert_id(seq)
            await conn.execute(update(alerts_table).where(alerts_table.c.seq == seq).values(id=alert_id))
        for name in ("deadline", "raised_at"):
            if isinstance(values[name], datetime):
                values[name] = values[name].astimezone(UTC)
        return AlertRecord(id=alert_id, **values), True

    async def get(self, alert_id: str) -> AlertRecord | None:
        async with transaction(self._engine) as conn:
            row = (
                await conn.execute(select(*_RECORD_COLUMNS).where(alerts_table.c.id == alert_id))
            ).one_or_none()
        return None if row is None else _to_record(row)

    async def list(
        self,
        after: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        district: str | None = None,
        stage: str | None = None,
        level: str | None = None,
    ) -> tuple[builtins.list[AlertRecord], str | None]:
        """One page of the feed, oldest first, after the alert ``after`` (a previous page's cursor).
        The cursor is the page's last id, or None when nothing follows it."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}; got {limit}")
        _check_choice("stage", stage, ALERT_STAGES)
        _check_choice("level", level, ALERT_LEVELS)
        if district is not None and not _DISTRICT_CODE.fullmatch(district):
            raise ValueError(f"district must be a six-digit district code such as 410502; got {district!r}")
        query = select(*_RECORD_COLUMNS).order_by(alerts_table.c.seq).limit(limit + 1)
        for column, value in (("district_code", district), ("stage", stage), ("level", level)):
            if value is not None:
                query = query.where(alerts_table.c[column] == value)
        async with transaction(self._engine) as conn:
            if after is not None:
                query = query.where(alerts_table.c.seq > await self._seq_of(conn, after))
            rows = (await conn.execute(query)).all()
        page = [_to_record(row) for row in rows[:limit]]
        return page, (page[-1].id if len(rows) > limit else None)

    async def since(self, after_id: str | None, limit: int = MAX_PAGE_SIZE) -> builtins.list[AlertRecord]:
        """The alerts after ``after_id`` (all of them when None), oldest first, at most ``limit``:
        what the event stream sends next. Raises UnknownAlertId for an id this database never gave."""
        query = select(*_RECORD_COLUMNS).order_by(alerts_table.c.seq).limit(limit)
        async with transaction(self._engine) as conn:
            if after_id is not None:
                query = query.where(alerts_table.c.seq > await self._seq_of(conn, after_id))
            rows = (await conn.execute(query)).all()
        return [_to_record(row) for row in rows]

    async def latest_id(self) -> str | None:
        """The newest alert's id: where a stream that starts "from now on" begins."""
        async with transaction(self._engine) as conn:
            return await conn.scalar(select(alerts_table.c.id).order_by(alerts_table.c.seq.desc()).limit(1))

    @staticmethod
    async def _seq_of(conn: AsyncConnection, alert_id: str) -> int:
        seq = await conn.scalar(select(alerts_table.c.seq).where(alerts_table.c.id == alert_id))
        if seq is None:
            raise UnknownAlertId(f"no alert has the id {alert_id!r} (a cursor is an alert id from this feed)")
        return int(seq)
