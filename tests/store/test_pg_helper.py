"""The PostgreSQL test server helper: it finds the server binaries, or says which package to install."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pg import PostgresUnavailable, find_postgres_bin


def test_without_the_server_binaries_the_postgresql_tests_name_the_package(tmp_path: Path) -> None:
    with pytest.raises(PostgresUnavailable, match="install the Debian package `postgresql`") as refused:
        find_postgres_bin(debian_root=tmp_path, path=str(tmp_path))
    assert "ODS_SKIP_PG=1" in str(refused.value)


def test_the_newest_installed_server_is_chosen(tmp_path: Path) -> None:
    for version in ("9.6", "15", "13"):
        bin_dir = tmp_path / version / "bin"
        bin_dir.mkdir(parents=True)
        for name in ("initdb", "pg_ctl", "postgres"):
            (bin_dir / name).touch(mode=0o755)
    assert find_postgres_bin(debian_root=tmp_path, path="") == tmp_path / "15" / "bin"
