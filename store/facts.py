"""Case facts in the service database: one row per (workflow, kind, stage, episode).

What the daily report (``reports/daily.py``) and the business metrics (``gateway/business_metrics.py``)
count. "Once" is the database's unique constraint, so a fact recorded again by a retried
activity, a restarted worker or a replayed workflow is the same row, and every gateway that
reads the table sees the same figures.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from domain.facts import FACT_KINDS, CaseFact
from store.db import insert_ignoring_duplicates, transaction
from store.schema import AwareDateTime, Base

_ONCE_PER = ("workflow_id", "kind", "stage", "episode")


class CaseFactRow(Base):
    """One fact of one case (``domain/facts.py``)."""

    __tablename__ = "case_facts"
    __table_args__ = (
        UniqueConstraint(*_ONCE_PER),
        CheckConstraint(f"kind IN ({', '.join(repr(k) for k in FACT_KINDS)})", name="kind"),
        Index(None, "kind", "at"),
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    workflow_id: Mapped[str] = mapped_column(String(128))
    application_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(24))
    stage: Mapped[str] = mapped_column(String(24), default="")
    episode: Mapped[int] = mapped_column(Integer, default=1)
    at: Mapped[datetime] = mapped_column(AwareDateTime())
    district_code: Mapped[str] = mapped_column(String(6))
    outcome: Mapped[str | None] = mapped_column(String(16))
    within_sla: Mapped[bool | None] = mapped_column(Boolean)
    wall_seconds: Mapped[float | None] = mapped_column(Float)
    working_seconds: Mapped[float | None] = mapped_column(Float)
    recorded_at: Mapped[datetime] = mapped_column(AwareDateTime(), server_default=func.now())


case_facts_table = cast(Table, CaseFactRow.__table__)
_COLUMNS = [case_facts_table.c[name] for name in CaseFact.model_fields]


class CaseFactStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def record(self, fact: CaseFact) -> bool:
        """Store the fact unless it is there already; True if this call stored it."""
        async with transaction(self._engine, write=True) as conn:
            inserted = await conn.execute(
                insert_ignoring_duplicates(conn, case_facts_table, *_ONCE_PER)
                .values(**fact.model_dump())
                .returning(case_facts_table.c.seq)
            )
            return inserted.scalar_one_or_none() is not None

    async def between(self, start: datetime, end: datetime, *kinds: str) -> list[CaseFact]:
        """The facts of these kinds that happened in [start, end), oldest first."""
        query = (
            select(*_COLUMNS)
            .where(case_facts_table.c.at >= start, case_facts_table.c.at < end)
            .order_by(case_facts_table.c.at, case_facts_table.c.seq)
        )
        if kinds:
            query = query.where(case_facts_table.c.kind.in_(kinds))
        async with transaction(self._engine) as conn:
            rows = (await conn.execute(query)).all()
        return [CaseFact.model_validate(row._asdict()) for row in rows]

    async def all_of(self, *kinds: str) -> list[CaseFact]:
        query = select(*_COLUMNS).order_by(case_facts_table.c.seq)
        if kinds:
            query = query.where(case_facts_table.c.kind.in_(kinds))
        async with transaction(self._engine) as conn:
            rows = (await conn.execute(query)).all()
        return [CaseFact.model_validate(row._asdict()) for row in rows]

    async def counts(self) -> dict[tuple[str, str, str], int]:
        """(kind, stage, outcome) → how many facts: what the business metrics are made of."""
        t = case_facts_table
        query = select(t.c.kind, t.c.stage, t.c.outcome, func.count()).group_by(
            t.c.kind, t.c.stage, t.c.outcome
        )
        async with transaction(self._engine) as conn:
            rows: list[Any] = list((await conn.execute(query)).all())
        return {(kind, stage, outcome or ""): int(n) for kind, stage, outcome, n in rows}
