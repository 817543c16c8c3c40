"""Ratings (``store/ratings.py``): one row per rated case and its follow-up's progress; alerts take
the stage ``rating_follow_up``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen: what this revision allows.
LEVELS = ("very_satisfied", "satisfied", "basically_satisfied", "dissatisfied", "very_dissatisfied")
OLD_STAGES = (
    "registration",
    "seal_carving",
    "invoice",
    "delivery",
    "overall",
    "subsidy",
    "social_insurance",
    "housing_fund",
    "bank_account",
)
STAGES = (*OLD_STAGES, "rating_follow_up")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _alert_stages(stages: tuple[str, ...]) -> None:
    with op.batch_alter_table("alerts", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint(op.f("ck_alerts_stage"), type_="check")
        batch.create_check_constraint(op.f("ck_alerts_stage"), _in("stage", stages))


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("rating_id", sa.String(40), nullable=False),
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("follow_up", sa.String(128), nullable=True),
        sa.Column("level", sa.String(24), nullable=False),
        sa.Column("about", sa.String(24), nullable=False),
        sa.Column("unit", sa.String(48), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=True),
        sa.Column("call_back_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolve_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("called_back_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_kind", sa.String(16), nullable=True),
        sa.Column("appeal", sa.String(16), nullable=True),
        sa.Column("verdict", sa.String(24), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("rating_id", name=op.f("pk_ratings")),
        sa.UniqueConstraint("application_id", name=op.f("uq_ratings_application_id")),
        sa.CheckConstraint(_in("level", LEVELS), name=op.f("ck_ratings_level")),
    )
    op.create_index(op.f("ix_ratings_rated_at"), "ratings", ["rated_at"])
    _alert_stages(STAGES)


def downgrade() -> None:
    op.execute(f"DELETE FROM alerts WHERE NOT ({_in('stage', OLD_STAGES)})")
    _alert_stages(OLD_STAGES)
    op.drop_index(op.f("ix_ratings_rated_at"), table_name="ratings")
    op.drop_table("ratings")
