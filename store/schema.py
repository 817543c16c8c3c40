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

from domain.alerts import AlertLevel, AlertStage

ALERT_STAGES: tuple[str, ...] = get_args(AlertStage)
ALERT_LEVELS: tuple[str, ...] = get_args(AlertLevel)


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
    """One SLA or subsidy alert (``AlertRecord`` in ``/openapi.json``). The unique constraint on
    (workflow_id, stage, level) is what makes each alert happen once, whatever retries, restarts or
    replays do."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("workflow_id", "stage", "level"),
        CheckConstraint(_in("stage", ALERT_STAGES), name="stage"),
        CheckConstraint(_in("level", ALERT_LEVELS), name="level"),
        # SQLite: AUTOINCREMENT, so a sequence number is never reused even after a delete.
        {"sqlite_autoincrement": True},
    )

    # The order of the feed. BIGINT on PostgreSQL; on SQLite it must be INTEGER to be the rowid.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    # The feed's cursor and the stream's event id: derived from seq, so ids sort like the feed.
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


alerts_table = cast(Table, AlertRow.__table__)
