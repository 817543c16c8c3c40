"""Baseline: the schema of the releases before migrations (``create_all`` of the alerts and the
subsidy ledger), frozen here as it was.

A database such a release made has these tables and no ``alembic_version``: only the missing
tables are created, so it is taken as it is and ends at this revision as if it had been stamped.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen: the stages and levels of the baseline (revision 0002 widens them).
STAGES = ("registration", "seal_carving", "invoice", "delivery", "overall", "subsidy")
LEVELS = ("at_risk", "breached", "recovered", "budget_exhausted")
GRANT_STATES = ("reserved", "settled", "released")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _seq() -> sa.Column[int]:
    # BIGSERIAL on PostgreSQL; on SQLite an INTEGER PRIMARY KEY AUTOINCREMENT (the rowid).
    return sa.Column(
        "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )


def _moment(name: str, *, nullable: bool = False, **kw: object) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, **kw)  # type: ignore[arg-type]


def _yuan(name: str) -> sa.Column[object]:
    # NUMERIC(14,2) on PostgreSQL, whole fen in a BIGINT on SQLite (store.subsidy_schema.Yuan).
    return sa.Column(name, sa.Numeric(14, 2).with_variant(sa.BigInteger(), "sqlite"), nullable=False)


def _text(name: str, length: int | None = None, *, nullable: bool = False) -> sa.Column[str]:
    kind = sa.String(length) if length is not None else sa.Text()
    return sa.Column(name, kind, nullable=nullable)


def create_alerts() -> None:
    op.create_table(
        "alerts",
        _seq(),
        _text("id", 40),
        _text("workflow_id", 128),
        _text("application_id", 64),
        _text("stage", 16),
        _text("level", 16),
        _moment("deadline", nullable=True),
        _moment("raised_at"),
        _text("district_code", 6),
        _text("enterprise_name"),
        _moment("recorded_at", server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_alerts")),
        sa.UniqueConstraint("workflow_id", "stage", "level", name=op.f("uq_alerts_workflow_id_stage_level")),
        sa.CheckConstraint(_in("stage", STAGES), name=op.f("ck_alerts_stage")),
        sa.CheckConstraint(_in("level", LEVELS), name=op.f("ck_alerts_level")),
        sa.UniqueConstraint("id", name=op.f("uq_alerts_id")),
        sqlite_autoincrement=True,
    )


def create_subsidy_budget() -> None:
    op.create_table(
        "subsidy_budget",
        sa.Column("year", sa.Integer(), nullable=False, autoincrement=False),
        _yuan("annual_budget_cny"),
        _yuan("reserved_cny"),
        _yuan("settled_cny"),
        _moment("updated_at"),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_subsidy_budget")),
        sa.CheckConstraint("reserved_cny >= 0", name=op.f("ck_subsidy_budget_reserved_not_negative")),
        sa.CheckConstraint("settled_cny >= 0", name=op.f("ck_subsidy_budget_settled_not_negative")),
        sa.CheckConstraint(
            "reserved_cny + settled_cny <= annual_budget_cny", name=op.f("ck_subsidy_budget_within_budget")
        ),
    )


def create_subsidy_grants() -> None:
    op.create_table(
        "subsidy_grants",
        _text("id", 40),
        _text("uscc", 18),
        _text("application_id", 64),
        _text("workflow_id", 128),
        _text("enterprise_name"),
        _text("enterprise_kind", 32),
        _text("district_code", 6),
        _text("shop_id", 64),
        _text("shop_name"),
        _text("covered_seals"),
        _text("extra_seals"),
        _text("prices_cny"),
        _yuan("amount_cny"),
        _yuan("enterprise_pays_cny"),
        sa.Column("budget_year", sa.Integer(), nullable=False),
        _text("state", 16),
        _moment("reserved_at"),
        _moment("settled_at", nullable=True),
        _moment("released_at", nullable=True),
        _text("month", 7),
        _moment("recorded_at", server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subsidy_grants")),
        sa.CheckConstraint(_in("state", GRANT_STATES), name=op.f("ck_subsidy_grants_state")),
        sa.CheckConstraint("amount_cny > 0", name=op.f("ck_subsidy_grants_amount_positive")),
        sa.CheckConstraint(
            "enterprise_pays_cny >= 0", name=op.f("ck_subsidy_grants_enterprise_pays_not_negative")
        ),
        sa.UniqueConstraint("uscc", name=op.f("uq_subsidy_grants_uscc")),
    )
    op.create_index(op.f("ix_subsidy_grants_shop_id"), "subsidy_grants", ["shop_id"])
    op.create_index(op.f("ix_subsidy_grants_month"), "subsidy_grants", ["month"])


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for table, create in (
        ("alerts", create_alerts),
        ("subsidy_budget", create_subsidy_budget),
        ("subsidy_grants", create_subsidy_grants),
    ):
        if table not in existing:
            create()


def downgrade() -> None:
    for table in ("subsidy_grants", "subsidy_budget", "alerts"):
        op.drop_table(table)
