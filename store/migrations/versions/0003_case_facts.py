"""Case facts (``store/facts.py``): one row per (workflow, kind, stage, episode), what the daily
report and the business metrics count.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen: the kinds of fact this revision allows.
KINDS = ("accepted", "stage_done", "closed", "attention_raised", "attention_resolved", "delivered")


def upgrade() -> None:
    op.create_table(
        "case_facts",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("workflow_id", sa.String(128), nullable=False),
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("stage", sa.String(24), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("within_sla", sa.Boolean(), nullable=True),
        sa.Column("wall_seconds", sa.Float(), nullable=True),
        sa.Column("working_seconds", sa.Float(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_case_facts")),
        sa.UniqueConstraint(
            "workflow_id",
            "kind",
            "stage",
            "episode",
            name=op.f("uq_case_facts_workflow_id_kind_stage_episode"),
        ),
        sa.CheckConstraint(f"kind IN ({', '.join(repr(k) for k in KINDS)})", name=op.f("ck_case_facts_kind")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_case_facts_kind_at"), "case_facts", ["kind", "at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_case_facts_kind_at"), table_name="case_facts")
    op.drop_table("case_facts")
