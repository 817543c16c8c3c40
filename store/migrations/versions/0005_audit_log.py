"""The audit log (``store/audit.py``): one hash chain of who opened which cases, append-only.

Triggers refuse UPDATE and DELETE on both tables (and TRUNCATE on PostgreSQL), so the service
itself can only append; whoever can drop a trigger can still change rows, and ``starter.py audit
verify`` shows that.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("audit_log", "audit_log_cases")
_PG_FUNCTION = "audit_log_append_only"


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("id", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("cases", sa.Text(), nullable=False),
        sa.Column("payloads", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(200), nullable=False),
        sa.Column("detail", sa.String(200), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("id", name=op.f("uq_audit_log_id")),
        sa.CheckConstraint(
            "action IN ('decode', 'document', 'act', 'acknowledge', 'login', 'login_failed', 'erase', "
            "'export')",
            name=op.f("ck_audit_log_action"),
        ),
        sa.CheckConstraint("role IN ('ops', 'portal', 'auditor', 'cli')", name=op.f("ck_audit_log_role")),
        sa.CheckConstraint("payloads >= 0", name=op.f("ck_audit_log_payloads_not_negative")),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_audit_log_seq_positive")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_table(
        "audit_log_cases",
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("application_id", "seq", name=op.f("pk_audit_log_cases")),
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            f"CREATE FUNCTION {_PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'the audit log is append-only: % refused on %', TG_OP, TG_TABLE_NAME; END $$"
        )
        for table in _TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {_PG_FUNCTION}()"
            )
    else:
        for table in _TABLES:
            for what in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{what.lower()} BEFORE {what} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: {what} refused'); END"
                )


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_table(table)  # its triggers go with it
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION {_PG_FUNCTION}()")
