"""The service database (``ODS_DATABASE_URL``: SQLite by default, PostgreSQL supported).

``store.db`` opens it and owns everything dialect-specific, ``store.schema`` holds the tables,
``store.alerts`` records each alert exactly once and serves the alert feed.
"""
