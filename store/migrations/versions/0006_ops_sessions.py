"""Operators' sessions (``store/sessions.py``): server-side, so that every gateway sees every sign-in
and a sign-out, a removed token or a timeout ends it everywhere.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ops_sessions",
        sa.Column("id_sha256", sa.String(64), nullable=False),
        sa.Column("operator", sa.String(100), nullable=False),
        sa.Column("personal", sa.Boolean(), nullable=False),
        sa.Column("token_fingerprint", sa.String(64), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_sha256", name=op.f("pk_ops_sessions")),
    )
    op.create_index(op.f("ix_ops_sessions_operator"), "ops_sessions", ["operator"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ops_sessions_operator"), table_name="ops_sessions")
    op.drop_table("ops_sessions")
