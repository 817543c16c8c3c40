"""A throwaway real PostgreSQL server for tests: ``initdb`` into a temporary folder, ``pg_ctl start``
listening only on a unix socket in that folder, gone again at the end.

Use the fixtures: import them into a ``conftest.py``::

    from tests.pg import postgres_database, postgres_server  # noqa: F401  (pytest fixtures)

``postgres_server`` (session) is the running server; ``postgres_database`` (per test) is the
``postgresql+asyncpg://`` URL of a new empty database on it. Outside pytest, ``running_postgres()``
is the same server as an async context manager.

The server binaries come from the Debian package ``postgresql`` (``/usr/lib/postgresql/*/bin``).
Without them the tests that need PostgreSQL fail and say so; ``ODS_SKIP_PG=1`` skips them instead.
PostgreSQL refuses to run as root, so as root every server command runs as the ``postgres`` user.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

PACKAGE = "postgresql"
SERVER_USER = "postgres"
# The socket lives in our own private folder, so the standard port cannot collide with anything.
PORT = 5432
_FAST_AND_PRIVATE = (
    "-c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=200"
)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (or no user to run them as)."""


def _version(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", bin_dir.parent.name)) or (0,)


def find_postgres_bin(debian_root: Path = Path("/usr/lib/postgresql"), path: str | None = None) -> Path:
    """The folder with ``initdb`` and ``pg_ctl``: the newest /usr/lib/postgresql/*/bin, else PATH."""
    candidates = sorted(debian_root.glob("*/bin"), key=_version, reverse=True)
    on_path = shutil.which("initdb", path=path)
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for bin_dir in candidates:
        if all(os.access(bin_dir / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return bin_dir
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found under /usr/lib/postgresql/*/bin "
        f"or on PATH: install the Debian package `{PACKAGE}` (scripts/setup-system.sh does, as root), "
        "or set ODS_SKIP_PG=1 to skip the PostgreSQL tests"
    )


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway server; connect through its unix socket as the superuser, no password."""

    root: Path
    bin_dir: Path
    user: str = SERVER_USER

    @property
    def socket_dir(self) -> Path:
        return self.root

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://{self.user}@/{database}?host={self.socket_dir}"

    async def create_database(self, name: str | None = None) -> str:
        """A new empty database (``name`` or a fresh unique one); returns its URL."""
        name = name or f"test_{uuid.uuid4().hex[:16]}"
        conn = await asyncpg.connect(
            host=str(self.socket_dir), port=PORT, user=self.user, database="postgres"
        )
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)


def _as_server_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", SERVER_USER, "--"]


async def _run(argv: Sequence[str], cwd: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "LC_ALL": "C", "LANG": "C"},
    )
    output, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {proc.returncode}:\n{output.decode(errors='replace')[-4000:]}"
        )


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server: nobody else when we are not root; the ``postgres`` user when we are."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, PostgreSQL must run as the user `{SERVER_USER}`, which does not exist; "
            f"the Debian package `{PACKAGE}` creates it"
        ) from None


def check_postgres_available() -> Path:
    """The binaries' folder, once it is certain a server can be started here; else PostgresUnavailable."""
    bin_dir = find_postgres_bin()
    _server_user()
    return bin_dir


def _private_root() -> Path:
    # Not under pytest's tmp_path: as root that is a 0700 root folder the server user cannot enter.
    root = Path(tempfile.mkdtemp(prefix="ods-pg-"))
    server_user = _server_user()
    if server_user is not None:
        os.chown(root, server_user.pw_uid, server_user.pw_gid)
    return root


@asynccontextmanager
async def running_postgres(bin_dir: Path | None = None) -> AsyncIterator[PostgresServer]:
    """Start a throwaway server, yield it, then stop it and delete everything it wrote."""
    bin_dir = bin_dir or check_postgres_available()
    root = _private_root()
    data, log = root / "data", root / "server.log"
    run_as = _as_server_user()
    started = False
    try:
        await _run(
            [
                *run_as,
                str(bin_dir / "initdb"),
                "--pgdata", str(data),
                "--username", SERVER_USER,
                "--auth", "trust",
                "--encoding", "UTF8",
                "--locale", "C",
                "--no-sync",
            ],
            cwd=root,
        )  # fmt: skip
        options = f"{_FAST_AND_PRIVATE} -k {root} -p {PORT}"
        try:
            await _run(
                [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                 "-o", options, "start"],
                cwd=root,
            )  # fmt: skip
        except RuntimeError as e:
            tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
            raise RuntimeError(f"{e}\nserver log:\n{tail}") from None
        started = True
        yield PostgresServer(root=root, bin_dir=bin_dir)
    finally:
        if started:
            await _run(
                [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], root
            )
        shutil.rmtree(root, ignore_errors=True)


@pytest_asyncio.fixture(scope="session")
async def postgres_server() -> AsyncIterator[PostgresServer]:
    """One real PostgreSQL for the whole test session."""
    try:
        bin_dir = check_postgres_available()
    except PostgresUnavailable as e:
        unavailable = str(e)
    else:
        async with running_postgres(bin_dir) as server:
            yield server
        return
    if os.environ.get("ODS_SKIP_PG") == "1":
        pytest.skip(f"ODS_SKIP_PG=1: {unavailable}")
    pytest.fail(unavailable, pytrace=False)


@pytest_asyncio.fixture
async def postgres_database(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database on the session's server, for one test."""
    return await postgres_server.create_database()
