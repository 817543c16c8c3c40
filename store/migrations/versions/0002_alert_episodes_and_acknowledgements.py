"""Alerts: episodes and reasons (``needs_attention``), the new stages, acknowledgements, and the
stream's own event log.

- ``alerts`` gains ``episode`` (1 for every alert so far), ``reason``, ``acknowledged_by``,
  ``acknowledged_at`` and ``note``; once per (workflow, stage, level, episode) instead of per
  (workflow, stage, level); the stages ``social_insurance``, ``housing_fund``, ``bank_account`` and
  the level ``needs_attention`` are allowed.
- ``alert_events`` is the stream, in order: every alert so far is its "raised" event, with the
  alert's own sequence number and id, so the event ids subscribers hold (alert ids) go on working.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen: what this revision allows (a later revision widens them again, if ever).
OLD_STAGES = ("registration", "seal_carving", "invoice", "delivery", "overall", "subsidy")
OLD_LEVELS = ("at_risk", "breached", "recovered", "budget_exhausted")
STAGES = (*OLD_STAGES, "social_insurance", "housing_fund", "bank_account")
LEVELS = (*OLD_LEVELS, "needs_attention")
EVENT_KINDS = ("alert.raised", "alert.acknowledged")
ACKNOWLEDGED_TOGETHER = (
    "(acknowledged_by IS NULL) = (acknowledged_at IS NULL) AND (note IS NULL OR acknowledged_at IS NOT NULL)"
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _seq() -> sa.Column[int]:
    return sa.Column(
        "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )


def _alerts_v1() -> sa.Table:
    """``alerts`` as revision 0001 made it: what SQLite's batch mode copies from (no reflection)."""
    return sa.Table(
        "alerts",
        sa.MetaData(),
        _seq(),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("workflow_id", sa.String(128), nullable=False),
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("enterprise_name", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_alerts")),
        sa.UniqueConstraint("workflow_id", "stage", "level", name=op.f("uq_alerts_workflow_id_stage_level")),
        sa.CheckConstraint(_in("stage", OLD_STAGES), name=op.f("ck_alerts_stage")),
        sa.CheckConstraint(_in("level", OLD_LEVELS), name=op.f("ck_alerts_level")),
        sa.UniqueConstraint("id", name=op.f("uq_alerts_id")),
        sqlite_autoincrement=True,
    )


def upgrade() -> None:
    with op.batch_alter_table(
        "alerts", copy_from=_alerts_v1(), table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.add_column(sa.Column("episode", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("acknowledged_by", sa.String(100), nullable=True))
        batch.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.drop_constraint(op.f("uq_alerts_workflow_id_stage_level"), type_="unique")
        batch.drop_constraint(op.f("ck_alerts_stage"), type_="check")
        batch.drop_constraint(op.f("ck_alerts_level"), type_="check")
        batch.create_unique_constraint(
            op.f("uq_alerts_workflow_id_stage_level_episode"), ["workflow_id", "stage", "level", "episode"]
        )
        batch.create_check_constraint(op.f("ck_alerts_stage"), _in("stage", STAGES))
        batch.create_check_constraint(op.f("ck_alerts_level"), _in("level", LEVELS))
        batch.create_check_constraint(op.f("ck_alerts_episode_positive"), "episode >= 1")
        batch.create_check_constraint(op.f("ck_alerts_acknowledged_together"), ACKNOWLEDGED_TOGETHER)

    op.create_table(
        "alert_events",
        _seq(),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("alert_seq", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_alert_events")),
        sa.UniqueConstraint("alert_seq", "kind", name=op.f("uq_alert_events_alert_seq_kind")),
        sa.CheckConstraint(_in("kind", EVENT_KINDS), name=op.f("ck_alert_events_kind")),
        sa.UniqueConstraint("id", name=op.f("uq_alert_events_id")),
        sqlite_autoincrement=True,
    )
    # Every alert so far is raised at its own place in the stream, under its own id: the event's
    # number is the one its id carries (``<number>-<hex>``, the alert's seq when an older release made
    # it), so every event id keeps naming its own place in the stream.
    postgres = op.get_bind().dialect.name == "postgresql"
    number = (
        "CAST(split_part(id, '-', 1) AS BIGINT)"
        if postgres
        else "CAST(substr(id, 1, instr(id, '-') - 1) AS INTEGER)"
    )
    op.execute(
        "INSERT INTO alert_events (seq, id, kind, alert_seq, recorded_at) "
        f"SELECT {number}, id, 'alert.raised', seq, recorded_at FROM alerts ORDER BY seq"
    )
    if postgres:
        # Explicit values do not move a serial's sequence; the next event comes after them.
        op.execute(
            "SELECT setval(pg_get_serial_sequence('alert_events', 'seq'), MAX(seq)) "
            "FROM alert_events HAVING COUNT(*) > 0"
        )


def downgrade() -> None:
    op.drop_table("alert_events")
    # What the old schema cannot hold goes: later episodes, and the new stages and levels.
    op.execute(
        f"DELETE FROM alerts WHERE episode <> 1 OR NOT ({_in('stage', OLD_STAGES)}) "
        f"OR NOT ({_in('level', OLD_LEVELS)})"
    )
    with op.batch_alter_table("alerts", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint(op.f("ck_alerts_acknowledged_together"), type_="check")
        batch.drop_constraint(op.f("ck_alerts_episode_positive"), type_="check")
        batch.drop_constraint(op.f("ck_alerts_level"), type_="check")
        batch.drop_constraint(op.f("ck_alerts_stage"), type_="check")
        batch.drop_constraint(op.f("uq_alerts_workflow_id_stage_level_episode"), type_="unique")
        batch.create_check_constraint(op.f("ck_alerts_stage"), _in("stage", OLD_STAGES))
        batch.create_check_constraint(op.f("ck_alerts_level"), _in("level", OLD_LEVELS))
        batch.create_unique_constraint(
            op.f("uq_alerts_workflow_id_stage_level"), ["workflow_id", "stage", "level"]
        )
        for column in ("note", "acknowledged_at", "acknowledged_by", "reason", "episode"):
            batch.drop_column(column)
