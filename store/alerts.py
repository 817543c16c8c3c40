"""The alert store: each (workflow, stage, level, episode) recorded exactly once, acknowledged at
most once, and the feed and the stream that read them.

Alerts as ``GET /v1/alerts`` shows them (``AlertRecord`` in ``/openapi.json``). "Exactly once" is
the database's unique constraint on (workflow_id, stage, level, episode), not hope: a retried
activity, a restarted worker or a replayed workflow that records the same alert again gets the first
one back (``created=False``), and never a second row.

The stream is the ``alert_events`` table, in the order of its sequence numbers: one event when an
alert is raised (its event id is the alert's id) and one when it is acknowledged (an event id of its
own). Every event id is ``<sequence number, 12 digits>-<8 random hex>``, so ids sort like the stream
(and alert ids like the feed), and an id from a database that was since recreated is never mistaken
for a new one. Writers take the same lock (``serialize_writers``), so numbers commit in order and a
reader that has seen number n never misses a lower one committed after it.
"""

from __future__ import annotations

import builtins
import re
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, case, func, insert, literal, null, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.actions import NOTE_MAX_LENGTH, OPERATOR_MAX_LENGTH
from domain.alerts import ALERT_ACKNOWLEDGED, ALERT_RAISED, AlertEvent, AlertEventKind, AlertIn, AlertRecord
from store.db import insert_ignoring_duplicates, serialize_writers, transaction
from store.schema import (
    ALERT_LEVELS,
    ALERT_STAGES,
    alert_events_table,
    alerts_table,
)

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_DISTRICT_CODE = re.compile(r"\d{6}")
_LOCK = "alerts"

_alerts = alerts_table
_events = alert_events_table


class UnknownAlertId(ValueError):
    """A cursor or Last-Event-ID that names no alert (or event) in this database."""


class AlertNotFound(LookupError):
    """No alert has this id (acknowledging one: a 404)."""

    def __init__(self, alert_id: str) -> None:
        super().__init__(f"no alert has the id {alert_id[:64]!r}")
        self.alert_id = alert_id


class AlertAlreadyAcknowledged(Exception):
    """The alert was acknowledged before (a 409); ``alert`` is it, with the first acknowledgement."""

    def __init__(self, alert: AlertRecord) -> None:
        super().__init__(
            f"alert {alert.id} was already acknowledged by {alert.acknowledged_by} at "
            f"{alert.acknowledged_at.isoformat() if alert.acknowledged_at else '?'}"
        )
        self.alert = alert


_RECORD_COLUMNS = [_alerts.c[name] for name in AlertRecord.model_fields]
_EVENT_COLUMNS = [_events.c.id.label("event_id"), _events.c.kind.label("event_kind"), *_RECORD_COLUMNS]
_EVENTS_WITH_ALERTS = _events.join(_alerts, _alerts.c.seq == _events.c.alert_seq)
_ONCE_PER = ("workflow_id", "stage", "level", "episode")
_ACKNOWLEDGEMENT = ("acknowledged_by", "acknowledged_at", "note")


def _event_id(seq: int) -> str:
    # Zero-padded sequence first, so ids sort like the stream; a random tail, so an id from a database
    # that was since recreated is never mistaken for a new event by a subscriber dropping repeats.
    return f"{seq:012d}-{secrets.token_hex(4)}"


def _pending_id() -> str:
    return f"pending-{uuid.uuid4().hex}"


def _to_record(row: Row[Any]) -> AlertRecord:
    return AlertRecord.model_validate(
        {name: value for name, value in row._asdict().items() if name in AlertRecord.model_fields}
    )


def _as_raised(alert: AlertRecord) -> AlertRecord:
    """The alert as it was when it was raised: not acknowledged yet."""
    return alert.model_copy(update=dict.fromkeys(_ACKNOWLEDGEMENT))


def _to_event(row: Row[Any]) -> AlertEvent:
    kind: AlertEventKind = row.event_kind
    alert = _to_record(row)
    return AlertEvent(id=row.event_id, kind=kind, alert=_as_raised(alert) if kind == ALERT_RAISED else alert)


def _check_choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


async def _add_event(conn: AsyncConnection, alert_seq: int, kind: AlertEventKind) -> str:
    """Append an event for the alert ``alert_seq`` to the stream; its new id."""
    pending = _pending_id()
    seq = (
        await conn.execute(
            insert(_events).values(id=pending, kind=kind, alert_seq=alert_seq).returning(_events.c.seq)
        )
    ).scalar_one()
    event_id = _event_id(int(seq))
    await conn.execute(update(_events).where(_events.c.seq == seq).values(id=event_id))
    return event_id


class AlertStore:
    """Alerts in the service database. One instance per engine; safe to share between tasks."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def engine(self) -> AsyncEngine:
        """The service database this store writes to (other stores may share it)."""
        return self._engine

    async def record(self, alert: AlertIn) -> tuple[AlertRecord, bool]:
        """Store ``alert`` unless its (workflow, stage, level, episode) already has one. Returns the
        stored alert and whether this call created it; every caller, concurrent ones included, gets
        the same id. A new alert is also its "raised" event in the stream, under the same id."""
        values = alert.model_dump()
        async with transaction(self._engine, write=True) as conn:
            await serialize_writers(conn, _LOCK)
            statement = (
                insert_ignoring_duplicates(conn, _alerts, *_ONCE_PER)
                .values(id=_pending_id(), **values)
                .returning(_alerts.c.seq)
            )
            seq = (await conn.execute(statement)).scalar_one_or_none()
            if seq is None:
                existing = await conn.execute(
                    select(*_RECORD_COLUMNS).where(*(_alerts.c[name] == values[name] for name in _ONCE_PER))
                )
                return _to_record(existing.one()), False
            alert_id = await _add_event(conn, int(seq), ALERT_RAISED)
            await conn.execute(update(_alerts).where(_alerts.c.seq == seq).values(id=alert_id))
        for name in ("deadline", "raised_at"):
            if isinstance(values[name], datetime):
                values[name] = values[name].astimezone(UTC)
        return AlertRecord(id=alert_id, **values), True

    async def get(self, alert_id: str) -> AlertRecord | None:
        async with transaction(self._engine) as conn:
            row = (await conn.execute(select(*_RECORD_COLUMNS).where(_alerts.c.id == alert_id))).one_or_none()
        return None if row is None else _to_record(row)

    async def acknowledge(self, alert_id: str, operator: str, note: str | None, at: datetime) -> AlertRecord:
        """Record that ``operator`` has taken the alert (with an optional ``note``), at ``at``, and
        append its ``alert.acknowledged`` event to the stream. Once only: ``AlertAlreadyAcknowledged``
        (carrying the first acknowledgement, which stays) for a second one, however concurrent;
        ``AlertNotFound`` for an id that names no alert; ValueError for an empty or too long operator
        or note, or a time without its zone."""
        operator = operator.strip()
        if not 1 <= len(operator) <= OPERATOR_MAX_LENGTH:
            raise ValueError(f"operator must be 1 to {OPERATOR_MAX_LENGTH} characters")
        if note is not None and len(note) > NOTE_MAX_LENGTH:
            raise ValueError(f"note must be at most {NOTE_MAX_LENGTH} characters")
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("the time of an acknowledgement needs its time zone")
        async with transaction(self._engine, write=True) as conn:
            # The same lock as record(): the event's number commits in order with every other's.
            await serialize_writers(conn, _LOCK)
            row = (
                await conn.execute(select(_alerts.c.seq, *_RECORD_COLUMNS).where(_alerts.c.id == alert_id))
            ).one_or_none()
            if row is None:
                raise AlertNotFound(alert_id)
            current = _to_record(row)
            if current.acknowledged_at is not None:
                raise AlertAlreadyAcknowledged(current)
            taken = await conn.execute(
                update(_alerts)
                .where(_alerts.c.seq == row.seq, _alerts.c.acknowledged_at.is_(None))
                .values(acknowledged_by=operator, acknowledged_at=at, note=note)
            )
            if taken.rowcount != 1:  # not while writers hold the lock; a guard should that ever change
                raise AlertAlreadyAcknowledged(current)
            await _add_event(conn, int(row.seq), ALERT_ACKNOWLEDGED)
        return current.model_copy(
            update={"acknowledged_by": operator, "acknowledged_at": at.astimezone(UTC), "note": note}
        )

    async def erase_case_text(self, application_id: str, text: str) -> int:
        """Replace the free text of the case's alerts (reasons, acknowledgement notes, the enterprise's
        name, which for an individual business is its owner's) by ``text``: the case's erasure
        (``service/erasure.py``). Stages, levels and times stay, for the figures. Answers how many
        alerts it changed."""
        t = _alerts
        async with transaction(self._engine, write=True) as conn:
            done = await conn.execute(
                update(t)
                .where(t.c.application_id == application_id)
                .values(
                    enterprise_name=text,
                    # NULL stays NULL: an alert without a reason or note gains none.
                    reason=case((t.c.reason.is_(None), null()), else_=literal(text)),
                    note=case((t.c.note.is_(None), null()), else_=literal(text)),
                )
            )
        return int(done.rowcount)

    async def acknowledgement(self, alert_id: str) -> AlertEvent | None:
        """The ``alert.acknowledged`` event of an alert; None while nobody has acknowledged it."""
        query = (
            select(*_EVENT_COLUMNS)
            .select_from(_EVENTS_WITH_ALERTS)
            .where(_alerts.c.id == alert_id, _events.c.kind == ALERT_ACKNOWLEDGED)
        )
        async with transaction(self._engine) as conn:
            row = (await conn.execute(query)).one_or_none()
        return None if row is None else _to_event(row)

    async def list(
        self,
        after: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        district: str | None = None,
        stage: str | None = None,
        level: str | None = None,
        acknowledged: bool | None = None,
    ) -> tuple[builtins.list[AlertRecord], str | None]:
        """One page of the feed, oldest first, after the alert ``after`` (a previous page's cursor).
        The cursor is the page's last id, or None when nothing follows it. ``acknowledged=False``
        is the alerts nobody has taken yet; each alert shows its acknowledgement, if any."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}; got {limit}")
        _check_choice("stage", stage, ALERT_STAGES)
        _check_choice("level", level, ALERT_LEVELS)
        if district is not None and not _DISTRICT_CODE.fullmatch(district):
            raise ValueError(f"district must be a six-digit district code such as 410502; got {district!r}")
        query = select(*_RECORD_COLUMNS).order_by(_alerts.c.seq).limit(limit + 1)
        for column, value in (("district_code", district), ("stage", stage), ("level", level)):
            if value is not None:
                query = query.where(_alerts.c[column] == value)
        if acknowledged is not None:
            taken = _alerts.c.acknowledged_at
            query = query.where(taken.is_not(None) if acknowledged else taken.is_(None))
        async with transaction(self._engine) as conn:
            if after is not None:
                query = query.where(_alerts.c.seq > await self._alert_seq_of(conn, after))
            rows = (await conn.execute(query)).all()
        page = [_to_record(row) for row in rows[:limit]]
        return page, (page[-1].id if len(rows) > limit else None)

    async def raised_between(
        self, start: datetime, end: datetime, *, level: str | None = None
    ) -> builtins.list[AlertRecord]:
        """The alerts raised in [start, end) (by the workflow's clock), oldest first: the daily report's."""
        _check_choice("level", level, ALERT_LEVELS)
        query = (
            select(*_RECORD_COLUMNS)
            .where(_alerts.c.raised_at >= start, _alerts.c.raised_at < end)
            .order_by(_alerts.c.seq)
        )
        if level is not None:
            query = query.where(_alerts.c.level == level)
        async with transaction(self._engine) as conn:
            rows = (await conn.execute(query)).all()
        return [_to_record(row) for row in rows]

    async def counts(self) -> dict[tuple[str, str], int]:
        """(stage, level) → how many alerts: the ``ods_sla_alerts_total`` series."""
        query = select(_alerts.c.stage, _alerts.c.level, func.count()).group_by(
            _alerts.c.stage, _alerts.c.level
        )
        async with transaction(self._engine) as conn:
            rows = (await conn.execute(query)).all()
        return {(stage, level): int(n) for stage, level, n in rows}

    async def events_since(
        self, after_event_id: str | None, limit: int = MAX_PAGE_SIZE
    ) -> builtins.list[AlertEvent]:
        """The stream's events after ``after_event_id`` (all of them when None), oldest first, at
        most ``limit``: what the event stream sends next. A raised event shows the alert as it was
        raised, an acknowledgement the alert as acknowledged. Raises UnknownAlertId for an id this
        database never gave (an alert id is its raised event's id)."""
        query = select(*_EVENT_COLUMNS).select_from(_EVENTS_WITH_ALERTS).order_by(_events.c.seq).limit(limit)
        async with transaction(self._engine) as conn:
            if after_event_id is not None:
                query = query.where(_events.c.seq > await self._event_seq_of(conn, after_event_id))
            rows = (await conn.execute(query)).all()
        return [_to_event(row) for row in rows]

    async def has_event(self, event_id: str) -> bool:
        """Whether ``event_id`` is an event of this stream (an alert id, or an acknowledgement's)."""
        async with transaction(self._engine) as conn:
            return await conn.scalar(select(_events.c.seq).where(_events.c.id == event_id)) is not None

    async def latest_event_id(self) -> str | None:
        """The newest event's id: where a stream that starts "from now on" begins."""
        async with transaction(self._engine) as conn:
            return await conn.scalar(select(_events.c.id).order_by(_events.c.seq.desc()).limit(1))

    @staticmethod
    async def _alert_seq_of(conn: AsyncConnection, alert_id: str) -> int:
        seq = await conn.scalar(select(_alerts.c.seq).where(_alerts.c.id == alert_id))
        if seq is None:
            raise UnknownAlertId(f"no alert has the id {alert_id!r} (a cursor is an alert id from this feed)")
        return int(seq)

    @staticmethod
    async def _event_seq_of(conn: AsyncConnection, event_id: str) -> int:
        seq = await conn.scalar(select(_events.c.seq).where(_events.c.id == event_id))
        if seq is None:
            raise UnknownAlertId(
                f"no event has the id {event_id!r} (an event id is an alert id or an acknowledgement's, "
                "from this stream)"
            )
        return int(seq)
