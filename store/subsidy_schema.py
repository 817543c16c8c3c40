"""The first-seal subsidy ledger's tables, on the service database's one ``Base`` (``init_schema``
makes them through the migrations in ``store/migrations``, whichever modules are imported; this
model is what they must match, and ``tests/store/test_migrations.py`` checks that they do).

Money is exact on both databases: ``NUMERIC(14,2)`` on PostgreSQL, whole fen in an ``INTEGER`` on
SQLite (whose NUMERIC would be a float). Both come back as ``Decimal`` with two places, and sums
(``SUM``, ``reserved_cny + :amount``) stay exact to the cent.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Dialect,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from store.schema import AwareDateTime, Base

GRANT_STATES: tuple[str, ...] = ("reserved", "settled", "released")
_CENT = Decimal("0.01")
_FEN_PER_YUAN = 100


class Yuan(TypeDecorator[Decimal]):
    """An amount of money in yuan, exact: NUMERIC(14,2) on PostgreSQL, integer fen on SQLite."""

    impl = Numeric(14, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(14, 2, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> object:
        if value is None:
            return None
        amount = Decimal(value).quantize(_CENT)
        return int(amount * _FEN_PER_YUAN) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: object, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / _FEN_PER_YUAN).quantize(_CENT)  # type: ignore[call-overload]
        return Decimal(value).quantize(_CENT)  # type: ignore[arg-type]


def _states(column: str) -> str:
    return f"{column} IN ({', '.join(repr(s) for s in GRANT_STATES)})"


class SubsidyBudgetRow(Base):
    """One year's budget. ``reserved_cny + settled_cny <= annual_budget_cny`` is a database rule, so
    no race ever overspends it; reservations move money in, settlement moves it reserved → settled."""

    __tablename__ = "subsidy_budget"
    __table_args__ = (
        CheckConstraint("reserved_cny >= 0", name="reserved_not_negative"),
        CheckConstraint("settled_cny >= 0", name="settled_not_negative"),
        CheckConstraint("reserved_cny + settled_cny <= annual_budget_cny", name="within_budget"),
    )

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    annual_budget_cny: Mapped[Decimal] = mapped_column(Yuan())
    reserved_cny: Mapped[Decimal] = mapped_column(Yuan())
    settled_cny: Mapped[Decimal] = mapped_column(Yuan())
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime())


class SubsidyGrantRow(Base):
    """One enterprise's first-seal subsidy. The unique USCC is what makes it one grant per enterprise
    ever, whatever retries, replays, races or duplicate cases do."""

    __tablename__ = "subsidy_grants"
    __table_args__ = (
        CheckConstraint(_states("state"), name="state"),
        CheckConstraint("amount_cny > 0", name="amount_positive"),
        CheckConstraint("enterprise_pays_cny >= 0", name="enterprise_pays_not_negative"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    application_id: Mapped[str] = mapped_column(String(64))
    workflow_id: Mapped[str] = mapped_column(String(128))
    enterprise_name: Mapped[str] = mapped_column(Text)
    enterprise_kind: Mapped[str] = mapped_column(String(32))
    district_code: Mapped[str] = mapped_column(String(6))
    shop_id: Mapped[str] = mapped_column(String(64), index=True)
    shop_name: Mapped[str] = mapped_column(Text)
    # JSON lists of seal kinds, and a JSON object of each ordered seal's price ("200.00").
    covered_seals: Mapped[str] = mapped_column(Text)
    extra_seals: Mapped[str] = mapped_column(Text)
    prices_cny: Mapped[str] = mapped_column(Text)
    amount_cny: Mapped[Decimal] = mapped_column(Yuan())
    enterprise_pays_cny: Mapped[Decimal] = mapped_column(Yuan())
    # The budget year the money is reserved in (the reservation's year on the city's clock, CITY_ZONE).
    budget_year: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    reserved_at: Mapped[datetime] = mapped_column(AwareDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    released_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    # YYYY-MM (on the city's clock) of the settlement, or of the reservation until then: the report's month.
    month: Mapped[str] = mapped_column(String(7), index=True)
    recorded_at: Mapped[datetime] = mapped_column(AwareDateTime(), server_default=func.now())


subsidy_budget_table = cast(Table, SubsidyBudgetRow.__table__)
subsidy_grants_table = cast(Table, SubsidyGrantRow.__table__)
