"""The service database's migrations (alembic), run by ``store.db.init_schema`` in-process: every
process that opens the database brings it to the head revision first, under a lock.

``versions/0001`` is the baseline: the schema the releases before migrations made with
``create_all``. It creates only the tables that are missing, so such a database (no
``alembic_version`` table) is taken as it is, and is at the baseline afterwards exactly as if it had
been stamped; the later revisions then change it. SQLite gets its table changes in batch mode
(a copy of the table, rebuilt), PostgreSQL plain ``ALTER TABLE``; both run in the one transaction
of ``init_schema`` (their DDL is transactional), so a migration is done whole or not at all.

A new revision (the models in ``store/schema.py`` and ``store/subsidy_schema.py`` changed first)::

    .venv/bin/alembic -c store/migrations/alembic.ini revision -m "what changes"

and ``tests/store/test_migrations.py`` checks that the migrations end at exactly the models' schema.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent
BASELINE = "0001"
HEAD = "0008"


def alembic_config() -> Config:
    """An alembic configuration for these migrations, with no ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config
