"""Ratings (好差评) in the service database: one row per case, and how its follow-up went.

"Once per case" is the database's unique constraint on ``application_id``: a second rating of the
same case inserts nothing (``RatingExists``). A bad rating's follow-up (``workflows/rating_follow_up.py``)
writes its progress here through an activity, only the fields it names, so a retried write is the
same row; the monthly report, the daily report and the metrics read these rows. No comment and
nothing of the rater is kept here (``domain/ratings.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CheckConstraint, Index, String, Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from domain.ratings import RATING_LEVELS, Rating, RatingProgress
from store.db import insert_ignoring_duplicates, transaction
from store.schema import AwareDateTime, Base


class RatingRow(Base):
    """One rating (``Rating``) and its follow-up's progress (``RatingProgress``); the follow-up
    columns stay empty for a rating that is not bad."""

    __tablename__ = "ratings"
    __table_args__ = (
        CheckConstraint(f"level IN ({', '.join(repr(v) for v in RATING_LEVELS)})", name="level"),
        Index(None, "rated_at"),
    )

    rating_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(64), unique=True)
    follow_up: Mapped[str | None] = mapped_column(String(128))
    level: Mapped[str] = mapped_column(String(24))
    about: Mapped[str] = mapped_column(String(24))
    unit: Mapped[str] = mapped_column(String(48))
    district_code: Mapped[str] = mapped_column(String(6))
    rated_at: Mapped[datetime] = mapped_column(AwareDateTime())
    state: Mapped[str | None] = mapped_column(String(16))
    call_back_due: Mapped[datetime | None] = mapped_column(AwareDateTime())
    resolve_due: Mapped[datetime | None] = mapped_column(AwareDateTime())
    called_back_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    resolution_kind: Mapped[str | None] = mapped_column(String(16))
    appeal: Mapped[str | None] = mapped_column(String(16))
    verdict: Mapped[str | None] = mapped_column(String(24))
    closed_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    recorded_at: Mapped[datetime] = mapped_column(AwareDateTime(), server_default=func.now())


ratings_table = cast(Table, RatingRow.__table__)


class RatingExists(Exception):
    """The case was rated before (a 409); ``rating`` is the first rating."""

    def __init__(self, rating: Rating) -> None:
        super().__init__(f"case {rating.application_id} was rated before (rating {rating.rating_id})")
        self.rating = rating


class RatingRecord(Rating):
    """A rating with its follow-up's progress, as the reports read it."""

    state: str | None = None
    call_back_due: datetime | None = None
    resolve_due: datetime | None = None
    called_back_at: datetime | None = None
    answered_at: datetime | None = None
    resolution_kind: str | None = None
    appeal: str | None = None
    verdict: str | None = None
    closed_at: datetime | None = None

    @property
    def called_back_on_time(self) -> bool:
        return self.called_back_at is not None and (
            self.call_back_due is None or self.called_back_at <= self.call_back_due
        )

    @property
    def answered_on_time(self) -> bool:
        return self.answered_at is not None and (
            self.resolve_due is None or self.answered_at <= self.resolve_due
        )

    def late(self, now: datetime) -> bool:
        """Still open past a promise it has not kept."""
        if self.follow_up is None or self.state in (None, "closed"):
            return False
        missed_call = (
            self.called_back_at is None and self.call_back_due is not None and now > self.call_back_due
        )
        missed_answer = self.answered_at is None and self.resolve_due is not None and now > self.resolve_due
        return missed_call or missed_answer


_COLUMNS = [ratings_table.c[name] for name in RatingRecord.model_fields]


class RatingStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, rating: Rating) -> None:
        """Keep the case's rating; ``RatingExists`` (with the first) if it was rated before."""
        row = rating.model_dump()
        if rating.follow_up is not None:
            row["state"] = "open"
        async with transaction(self._engine, write=True) as conn:
            inserted = await conn.execute(
                insert_ignoring_duplicates(conn, ratings_table, "application_id")
                .values(**row)
                .returning(ratings_table.c.rating_id)
            )
            if inserted.scalar_one_or_none() is not None:
                return
        existing = await self.of_case(rating.application_id)
        assert existing is not None
        raise RatingExists(existing)

    async def of_case(self, application_id: str) -> RatingRecord | None:
        return await self._one(ratings_table.c.application_id == application_id)

    async def get(self, rating_id: str) -> RatingRecord | None:
        return await self._one(ratings_table.c.rating_id == rating_id)

    async def _one(self, where: Any) -> RatingRecord | None:
        async with transaction(self._engine) as conn:
            row = (await conn.execute(select(*_COLUMNS).where(where))).first()
        return None if row is None else RatingRecord.model_validate(row._asdict())

    async def progress(self, progress: RatingProgress) -> None:
        """A follow-up's progress: the fields it gives, the others as they were (a repeat is a no-op)."""
        values = progress.model_dump(exclude_none=True, exclude={"rating_id"})
        async with transaction(self._engine, write=True) as conn:
            await conn.execute(
                update(ratings_table).where(ratings_table.c.rating_id == progress.rating_id).values(**values)
            )

    async def between(self, start: datetime, end: datetime) -> list[RatingRecord]:
        """The ratings made in [start, end), oldest first."""
        t = ratings_table
        query = select(*_COLUMNS).where(t.c.rated_at >= start, t.c.rated_at < end).order_by(t.c.rated_at)
        async with transaction(self._engine) as conn:
            rows = (await conn.execute(query)).all()
        return [RatingRecord.model_validate(row._asdict()) for row in rows]

    async def follow_ups(self) -> list[RatingRecord]:
        """Every rating with a follow-up (the metrics' open and late ones)."""
        t = ratings_table
        query = select(*_COLUMNS).where(t.c.follow_up.is_not(None)).order_by(t.c.rated_at)
        async with transaction(self._engine) as conn:
            rows = (await conn.execute(query)).all()
        return [RatingRecord.model_validate(row._asdict()) for row in rows]

    async def all(self) -> list[RatingRecord]:
        async with transaction(self._engine) as conn:
            rows = (await conn.execute(select(*_COLUMNS).order_by(ratings_table.c.rated_at))).all()
        return [RatingRecord.model_validate(row._asdict()) for row in rows]
