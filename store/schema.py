"""The service database's tables (SQLAlchemy 2 declarative)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast, get_args

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from domain.actions import OPERATOR_MAX_LENGTH
from domain.alerts import AlertEventKind, AlertLevel, AlertStage

ALERT_STAGES: tuple[str, ...] = get_args(AlertStage)
ALERT_LEVELS: tuple[str, ...] = get_args(AlertLevel)
ALERT_EVENT_KINDS: tuple[str, ...] = get_args(AlertEventKind)


class AwareDateTime(TypeDecorator[datetime]):
    """A point in time: only timezone-aware values go in, and they come out aware (in UTC) on every
    database. PostgreSQL keeps ``timestamptz``; SQLite has no zone, so values are stored as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"a naive datetime cannot be stored (give it a time zone): {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class AlertRow(Base):
    """One SLA, subsidy or attention alert (``AlertRecord`` in ``/openapi.json``). The unique
    constraint on (workflow_id, stage, level, episode) is what makes each alert happen once,
    whatever retries, restarts or replays do.

    The tables change only through migrations (``store/migrations``); this model is the head's
    schema, and a test checks that the migrations make exactly it."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("workflow_id", "stage", "level", "episode"),
        CheckConstraint(_in("stage", ALERT_STAGES), name="stage"),
        CheckConstraint(_in("level", ALERT_LEVELS), name="level"),
        CheckConstraint("episode >= 1", name="episode_positive"),
        CheckConstraint(
            "(acknowledged_by IS NULL) = (acknowledged_at IS NULL)"
            " AND (note IS NULL OR acknowledged_at IS NOT NULL)",
            name="acknowledged_together",
        ),
        # SQLite: AUTOINCREMENT, so a sequence number is never reused even after a delete.
        {"sqlite_autoincrement": True},
    )

    # The order of the feed. BIGINT on PostgreSQL; on SQLite it must be INTEGER to be the rowid.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    # The feed's cursor, and the id of the stream's event that raised it: derived from that event's
    # sequence number (``alert_events.seq``), so ids sort like the feed and the stream.
    id: Mapped[str] = mapped_column(String(40), unique=True)
    workflow_id: Mapped[str] = mapped_column(String(128))
    application_id: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(16))
    deadline: Mapped[datetime | None] = mapped_column(AwareDateTime())
    raised_at: Mapped[datetime] = mapped_column(AwareDateTime())
    district_code: Mapped[str] = mapped_column(String(6))
    enterprise_name: Mapped[str] = mapped_column(Text)
    # When the database took it (raised_at is when the workflow raised it); for diagnosis only.
    recorded_at: Mapped[datetime] = mapped_column(AwareDateTime(), server_default=func.now())
    episode: Mapped[int] = mapped_column(Integer, server_default="1")
    reason: Mapped[str | None] = mapped_column(Text)
    # Set once, by the first acknowledgement (AlertStore.acknowledge); never changed after.
    acknowledged_by: Mapped[str | None] = mapped_column(String(OPERATOR_MAX_LENGTH))
    acknowledged_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    note: Mapped[str | None] = mapped_column(Text)


class AlertEventRow(Base):
    """The alert stream, in order: one row per alert raised (its id the alert's) and one per
    acknowledgement (an id of its own). ``seq`` is the stream's order and the number in every event
    id; (alert_seq, kind) unique, so an alert is raised once and acknowledged at most once."""

    __tablename__ = "alert_events"
    __table_args__ = (
        UniqueConstraint("alert_seq", "kind"),
        CheckConstraint(_in("kind", ALERT_EVENT_KINDS), name="kind"),
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    # The stream's event id (``Last-Event-ID``): ``<seq, 12 digits>-<8 hex>``, as alert ids are.
    id: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    # The alert's ``alerts.seq`` (no foreign key: SQLite's table rebuilds in migrations stay simple).
    alert_seq: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(AwareDateTime(), server_default=func.now())


alerts_table = cast(Table, AlertRow.__table__)
alert_events_table = cast(Table, AlertEventRow.__table__)
