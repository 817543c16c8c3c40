"""Per-case data keys and erasure (``store/case_keys.py``), and sealed documents (``store/documents.py``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_keys",
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("wrapped_by", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_by", sa.String(100), nullable=True),
        sa.Column("erasure_reason", sa.Text(), nullable=True),
        sa.Column("erased_status", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("application_id", name=op.f("pk_case_keys")),
        sa.CheckConstraint(
            "(wrapped_key IS NULL) = (erased_at IS NOT NULL)", name=op.f("ck_case_keys_key_or_erased")
        ),
        sa.CheckConstraint(
            "(erased_at IS NULL) = (erased_by IS NULL)", name=op.f("ck_case_keys_erased_together")
        ),
    )
    # The key a document is sealed under (``case/<application_id>``); NULL: stored in the clear
    # (documents stored before this revision).
    with op.batch_alter_table("case_documents") as batch:
        batch.add_column(sa.Column("sealed_with", sa.String(80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_documents") as batch:
        batch.drop_column("sealed_with")
    op.drop_table("case_keys")
