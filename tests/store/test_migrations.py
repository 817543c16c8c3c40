"""Schema migrations on SQLite and on a real PostgreSQL: a database that the release before
migrations made (``create_all``, no ``alembic_version``) is adopted at the baseline and upgraded, its
alerts kept, and ends with exactly the schema a new database gets (and the models describe)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

import store.audit  # their tables are on Base too (so are the facts', sessions' and ledger's)
import store.case_keys
import store.documents
import store.facts
import store.ratings
import store.sessions
import store.subsidy_schema  # noqa: F401
from store.alerts import AlertIn, AlertStore
from store.db import create_engine, init_schema, transaction
from store.migrations import BASELINE, HEAD, alembic_config
from store.schema import Base
from tests.factories import an_attention_alert

# The schema exactly as the release before migrations made it (Base.metadata.create_all), frozen.
OLD_SQLITE = [
    """CREATE TABLE alerts (
	seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	id VARCHAR(40) NOT NULL,
	workflow_id VARCHAR(128) NOT NULL,
	application_id VARCHAR(64) NOT NULL,
	stage VARCHAR(16) NOT NULL,
	level VARCHAR(16) NOT NULL,
	deadline DATETIME,
	raised_at DATETIME NOT NULL,
	district_code VARCHAR(6) NOT NULL,
	enterprise_name TEXT NOT NULL,
	recorded_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL,
	CONSTRAINT uq_alerts_workflow_id_stage_level UNIQUE (workflow_id, stage, level),
	CONSTRAINT ck_alerts_stage CHECK (stage IN ('registration', 'seal_carving', 'invoice', 'delivery', 'overall', 'subsidy')),
	CONSTRAINT ck_alerts_level CHECK (level IN ('at_risk', 'breached', 'recovered', 'budget_exhausted')),
	CONSTRAINT uq_alerts_id UNIQUE (id)
)""",  # noqa: E501
    """CREATE TABLE subsidy_budget (
	year INTEGER NOT NULL,
	annual_budget_cny BIGINT NOT NULL,
	reserved_cny BIGINT NOT NULL,
	settled_cny BIGINT NOT NULL,
	updated_at DATETIME NOT NULL,
	CONSTRAINT pk_subsidy_budget PRIMARY KEY (year),
	CONSTRAINT ck_subsidy_budget_reserved_not_negative CHECK (reserved_cny >= 0),
	CONSTRAINT ck_subsidy_budget_settled_not_negative CHECK (settled_cny >= 0),
	CONSTRAINT ck_subsidy_budget_within_budget CHECK (reserved_cny + settled_cny <= annual_budget_cny)
)""",
    """CREATE TABLE subsidy_grants (
	id VARCHAR(40) NOT NULL,
	uscc VARCHAR(18) NOT NULL,
	application_id VARCHAR(64) NOT NULL,
	workflow_id VARCHAR(128) NOT NULL,
	enterprise_name TEXT NOT NULL,
	enterprise_kind VARCHAR(32) NOT NULL,
	district_code VARCHAR(6) NOT NULL,
	shop_id VARCHAR(64) NOT NULL,
	shop_name TEXT NOT NULL,
	covered_seals TEXT NOT NULL,
	extra_seals TEXT NOT NULL,
	prices_cny TEXT NOT NULL,
	amount_cny BIGINT NOT NULL,
	enterprise_pays_cny BIGINT NOT NULL,
	budget_year INTEGER NOT NULL,
	state VARCHAR(16) NOT NULL,
	reserved_at DATETIME NOT NULL,
	settled_at DATETIME,
	released_at DATETIME,
	month VARCHAR(7) NOT NULL,
	recorded_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL,
	CONSTRAINT pk_subsidy_grants PRIMARY KEY (id),
	CONSTRAINT ck_subsidy_grants_state CHECK (state IN ('reserved', 'settled', 'released')),
	CONSTRAINT ck_subsidy_grants_amount_positive CHECK (amount_cny > 0),
	CONSTRAINT ck_subsidy_grants_enterprise_pays_not_negative CHECK (enterprise_pays_cny >= 0),
	CONSTRAINT uq_subsidy_grants_uscc UNIQUE (uscc)
)""",
    "CREATE INDEX ix_subsidy_grants_shop_id ON subsidy_grants (shop_id)",
    "CREATE INDEX ix_subsidy_grants_month ON subsidy_grants (month)",
]
OLD_POSTGRESQL = [
    """CREATE TABLE alerts (
	seq BIGSERIAL NOT NULL,
	id VARCHAR(40) NOT NULL,
	workflow_id VARCHAR(128) NOT NULL,
	application_id VARCHAR(64) NOT NULL,
	stage VARCHAR(16) NOT NULL,
	level VARCHAR(16) NOT NULL,
	deadline TIMESTAMP WITH TIME ZONE,
	raised_at TIMESTAMP WITH TIME ZONE NOT NULL,
	district_code VARCHAR(6) NOT NULL,
	enterprise_name TEXT NOT NULL,
	recorded_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
	CONSTRAINT pk_alerts PRIMARY KEY (seq),
	CONSTRAINT uq_alerts_workflow_id_stage_level UNIQUE (workflow_id, stage, level),
	CONSTRAINT ck_alerts_stage CHECK (stage IN ('registration', 'seal_carving', 'invoice', 'delivery', 'overall', 'subsidy')),
	CONSTRAINT ck_alerts_level CHECK (level IN ('at_risk', 'breached', 'recovered', 'budget_exhausted')),
	CONSTRAINT uq_alerts_id UNIQUE (id)
)""",  # noqa: E501
    """CREATE TABLE subsidy_budget (
	year INTEGER NOT NULL,
	annual_budget_cny NUMERIC(14, 2) NOT NULL,
	reserved_cny NUMERIC(14, 2) NOT NULL,
	settled_cny NUMERIC(14, 2) NOT NULL,
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
	CONSTRAINT pk_subsidy_budget PRIMARY KEY (year),
	CONSTRAINT ck_subsidy_budget_reserved_not_negative CHECK (reserved_cny >= 0),
	CONSTRAINT ck_subsidy_budget_settled_not_negative CHECK (settled_cny >= 0),
	CONSTRAINT ck_subsidy_budget_within_budget CHECK (reserved_cny + settled_cny <= annual_budget_cny)
)""",
    """CREATE TABLE subsidy_grants (
	id VARCHAR(40) NOT NULL,
	uscc VARCHAR(18) NOT NULL,
	application_id VARCHAR(64) NOT NULL,
	workflow_id VARCHAR(128) NOT NULL,
	enterprise_name TEXT NOT NULL,
	enterprise_kind VARCHAR(32) NOT NULL,
	district_code VARCHAR(6) NOT NULL,
	shop_id VARCHAR(64) NOT NULL,
	shop_name TEXT NOT NULL,
	covered_seals TEXT NOT NULL,
	extra_seals TEXT NOT NULL,
	prices_cny TEXT NOT NULL,
	amount_cny NUMERIC(14, 2) NOT NULL,
	enterprise_pays_cny NUMERIC(14, 2) NOT NULL,
	budget_year INTEGER NOT NULL,
	state VARCHAR(16) NOT NULL,
	reserved_at TIMESTAMP WITH TIME ZONE NOT NULL,
	settled_at TIMESTAMP WITH TIME ZONE,
	released_at TIMESTAMP WITH TIME ZONE,
	month VARCHAR(7) NOT NULL,
	recorded_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
	CONSTRAINT pk_subsidy_grants PRIMARY KEY (id),
	CONSTRAINT ck_subsidy_grants_state CHECK (state IN ('reserved', 'settled', 'released')),
	CONSTRAINT ck_subsidy_grants_amount_positive CHECK (amount_cny > 0),
	CONSTRAINT ck_subsidy_grants_enterprise_pays_not_negative CHECK (enterprise_pays_cny >= 0),
	CONSTRAINT uq_subsidy_grants_uscc UNIQUE (uscc)
)""",
    "CREATE INDEX ix_subsidy_grants_shop_id ON subsidy_grants (shop_id)",
    "CREATE INDEX ix_subsidy_grants_month ON subsidy_grants (month)",
]
OLD_ALERT_ID = "000000000007-0badcafe"  # as the old release made them: its sequence number 7
OLD_ALERT = {
    "seq": 7,
    "id": OLD_ALERT_ID,
    "workflow_id": "setup-AY20261127-0001",
    "application_id": "AY20261127-0001",
    "stage": "seal_carving",
    "level": "breached",
    "deadline": datetime(2026, 11, 27, 6, 30),
    "raised_at": datetime(2026, 11, 27, 6, 31),
    "district_code": "410502",
    "enterprise_name": "安阳市文峰区晨曦餐饮有限公司",
}


async def old_release_database(url: str) -> AsyncEngine:
    """A database as the release before migrations left it: its tables, one alert, one budget."""
    engine = create_engine(url)
    postgres = engine.dialect.name == "postgresql"
    async with engine.begin() as conn:
        for statement in OLD_POSTGRESQL if postgres else OLD_SQLITE:
            await conn.execute(text(statement))
        values = dict(OLD_ALERT)
        if postgres:  # timestamptz takes aware values; SQLite stored UTC without a zone
            values = {k: v.replace(tzinfo=UTC) if isinstance(v, datetime) else v for k, v in values.items()}
        await conn.execute(
            text(
                "INSERT INTO alerts (seq, id, workflow_id, application_id, stage, level, deadline, raised_at,"
                " district_code, enterprise_name) VALUES (:seq, :id, :workflow_id, :application_id, :stage,"
                " :level, :deadline, :raised_at, :district_code, :enterprise_name)"
            ),
            values,
        )
        if postgres:  # as if the serial had handed out 1..7
            await conn.execute(text("SELECT setval(pg_get_serial_sequence('alerts', 'seq'), 7)"))
        await conn.execute(
            text(
                "INSERT INTO subsidy_budget (year, annual_budget_cny, reserved_cny, settled_cny, updated_at)"
                " VALUES (2026, :budget, 0, 0, :now)"
            ),
            {"budget": 5_000_000 if not postgres else 50_000, "now": datetime(2026, 1, 1, tzinfo=UTC)},
        )
    return engine


def needs_attention(episode: int) -> AlertIn:
    return an_attention_alert(episode=episode, raised_at=datetime.now(UTC))


async def test_an_old_releases_database_is_adopted_upgraded_and_keeps_its_alerts(database_url: str) -> None:
    engine = await old_release_database(database_url)
    try:
        await init_schema(engine)
        store = AlertStore(engine)

        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT version_num FROM alembic_version")) == HEAD
        old = await store.get(OLD_ALERT_ID)
        assert old is not None
        assert (old.stage, old.level, old.episode, old.reason, old.acknowledged_by) == (
            "seal_carving", "breached", 1, None, None,
        )  # fmt: skip
        assert old.raised_at == datetime(2026, 11, 27, 6, 31, tzinfo=UTC)

        # What the old constraints refused: the level needs_attention, and a second episode.
        first, created_first = await store.record(needs_attention(1))
        second, created_second = await store.record(needs_attention(2))
        assert created_first and created_second and first.id != second.id
        again, created_again = await store.record(needs_attention(2))
        assert not created_again and again == second
        # The old alert is still the one of its (workflow, stage, level, episode 1).
        kept = {k: v for k, v in OLD_ALERT.items() if k not in ("seq", "id", "deadline", "raised_at")}
        repeat = AlertIn.model_validate({**kept, "deadline": old.deadline, "raised_at": datetime.now(UTC)})
        assert await store.record(repeat) == (old, False)

        page, _ = await store.list()
        assert [a.id for a in page] == [OLD_ALERT_ID, first.id, second.id]
        assert OLD_ALERT_ID < first.id < second.id, "new ids come after the old ones"

        # A subscriber holding the old alert's id as its Last-Event-ID resumes right after it.
        assert await store.has_event(OLD_ALERT_ID)
        events = await store.events_since(OLD_ALERT_ID)
        assert [(e.kind, e.id) for e in events] == [("alert.raised", first.id), ("alert.raised", second.id)]
        assert (await store.events_since(None))[0].id == OLD_ALERT_ID

        taken = await store.acknowledge(OLD_ALERT_ID, "zhang.wei", "calling the shop", datetime.now(UTC))
        assert taken.acknowledged_by == "zhang.wei"

        async with engine.connect() as conn:  # the subsidy ledger's rows are kept too
            assert await conn.scalar(text("SELECT count(*) FROM subsidy_budget WHERE year = 2026")) == 1
    finally:
        await engine.dispose()


def _schema_of(conn: Connection) -> dict[str, Any]:
    """Everything about the tables that a difference would matter for, comparable across databases."""
    inspector = inspect(conn)
    schema: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        schema[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in inspector.get_columns(table)
            ],
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "unique": sorted(
                (u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)
            ),
            "checks": sorted(
                (c["name"], " ".join(c["sqltext"].split())) for c in inspector.get_check_constraints(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
                if not i.get("duplicates_constraint")
            ),
        }
    if conn.dialect.name == "sqlite":
        sql = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql LIKE '%AUTOINCREMENT%' "
            "ORDER BY name"
        )
        schema["autoincrement"] = [name for name, _ in sql]
    return schema


async def test_an_upgraded_database_has_exactly_the_schema_of_a_new_one_and_of_the_models(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    old = await old_release_database(database_url)
    if old.dialect.name == "sqlite":
        fresh_url = f"sqlite+aiosqlite:///{tmp_path}/fresh.db"
    else:
        fresh_url = await request.getfixturevalue("postgres_server").create_database()
    fresh = create_engine(fresh_url)
    try:
        await init_schema(old)
        await init_schema(fresh)
        async with old.connect() as conn:
            upgraded = await conn.run_sync(_schema_of)
        async with fresh.connect() as conn:
            new = await conn.run_sync(_schema_of)
            differences = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
        assert upgraded == new
        tables = set(new) - {"autoincrement"}
        assert tables == {
            "alerts",
            "alert_events",
            "audit_log",
            "audit_log_cases",
            "case_documents",
            "case_keys",
            "alembic_version",
            "case_facts",
            "ops_sessions",
            "ratings",
            "subsidy_budget",
            "subsidy_grants",
        }
        assert differences == [], "the migrations end where the models are"
    finally:
        await old.dispose()
        await fresh.dispose()


async def test_processes_upgrading_an_old_database_at_once_migrate_it_once(database_url: str) -> None:
    old = await old_release_database(database_url)
    engines = [create_engine(database_url) for _ in range(4)]
    try:
        await asyncio.gather(*(init_schema(engine) for engine in engines))
        await init_schema(old)
        async with old.connect() as conn:
            assert await conn.scalar(text("SELECT version_num FROM alembic_version")) == HEAD
            assert await conn.scalar(text("SELECT count(*) FROM alembic_version")) == 1
            assert await conn.scalar(text("SELECT count(*) FROM alert_events")) == 1
        stored, created = await AlertStore(engines[0]).record(needs_attention(1))
        assert created and stored.id > OLD_ALERT_ID
    finally:
        await old.dispose()
        for engine in engines:
            await engine.dispose()


def _downgrade_to_baseline(conn: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    command.downgrade(config, BASELINE)


def an_old_kind_of_alert(level: str) -> AlertIn:
    return needs_attention(1).model_copy(update={"level": level, "reason": None})


async def test_down_to_the_baseline_and_up_again_keeps_every_event_id_in_its_place(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await init_schema(engine)
        store = AlertStore(engine)
        # What the baseline can hold (a needs_attention alert it could not: the way down drops it).
        first, _ = await store.record(an_old_kind_of_alert("at_risk"))
        await store.acknowledge(first.id, "zhang.wei", None, datetime.now(UTC))  # takes a number too
        second, _ = await store.record(an_old_kind_of_alert("breached"))
        await store.record(needs_attention(1))
        async with transaction(engine, write=True) as conn:
            await conn.run_sync(_downgrade_to_baseline)
        await init_schema(engine)

        # The alerts come back as raised events under their ids; what follows sorts after them.
        assert [e.id for e in await store.events_since(None)] == [first.id, second.id]
        third, _ = await store.record(needs_attention(3))
        assert second.id < third.id
        assert [e.id for e in await store.events_since(second.id)] == [third.id]
    finally:
        await engine.dispose()
