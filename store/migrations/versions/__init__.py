"""Revisions, one file each (alembic reads them; this file is only what makes them a package)."""
