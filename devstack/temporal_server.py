"""The embedded Temporal dev server (``make temporal``), from the pip-installed ``temporal`` binary.

State lives in ``$ODS_DATA_DIR/temporal.db`` and survives restarts; the custom search
attributes (``infra.temporal.SEARCH_ATTRIBUTES``, listed in the README's "Finding a case in the Web
UI") are named on the command line for a new file, and registered through the operator API at
every start (``infra.temporal.ensure_search_attributes``: the command line adds none to an
existing file; the devstack and every worker call it). The Web UI decodes payloads
through the gateway's codec endpoint (``$ODS_GATEWAY_URL/codec``, after signing in at
``$ODS_GATEWAY_URL/ops/login``).
"""

from __future__ import annotations

import errno
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import FrameType

from infra.binaries import temporal_cli
from infra.settings import Settings
from infra.temporal import search_attribute_cli_flags

# Measured on these machines (2 cores, file SQLite): about 53 workflows/s with these, 23/s without.
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL")


def data_dir(settings: Settings) -> Path:
    """``ODS_DATA_DIR`` made absolute, so every child agrees on it whatever its working dir."""
    return settings.data_dir.expanduser().resolve()


def temporal_db_path(settings: Settings) -> Path:
    return data_dir(settings) / "temporal.db"


def temporal_host_port(settings: Settings) -> tuple[str, int]:
    return Settings.split_addr(settings.temporal_address)


def web_ui_url(settings: Settings) -> str:
    host, _ = temporal_host_port(settings)
    return f"http://{host}:{settings.temporal_ui_port}"


def codec_endpoint(settings: Settings) -> str:
    """The gateway's codec endpoint, which the Web UI decodes payloads through."""
    return f"{settings.gateway_url.rstrip('/')}/codec"


def temporal_server_command(settings: Settings) -> list[str]:
    """The ``temporal server start-dev`` command line for these settings."""
    host, port = temporal_host_port(settings)
    command = [
        str(temporal_cli()),
        "server",
        "start-dev",
        "--db-filename",
        str(temporal_db_path(settings)),
        "--ip",
        host,
        "--port",
        str(port),
        "--ui-port",
        str(settings.temporal_ui_port),
        "--ui-codec-endpoint",
        codec_endpoint(settings),
        # Offline machines: the UI would otherwise fetch a news feed from the internet.
        "--ui-disable-news-fetch",
        "--namespace",
        settings.temporal_namespace,
    ]
    for pragma in SQLITE_PRAGMAS:
        command += ["--sqlite-pragma", pragma]
    return [*command, *search_attribute_cli_flags(), "--log-level", "warn"]


def temporal_ports(settings: Settings) -> list[tuple[str, int, str]]:
    host, port = temporal_host_port(settings)
    return [
        (host, port, "Temporal gRPC (ODS_TEMPORAL_ADDRESS)"),
        (host, settings.temporal_ui_port, "Temporal Web UI (ODS_TEMPORAL_UI_PORT)"),
    ]


def port_problem(host: str, port: int) -> str | None:
    """None when ``host:port`` can be listened on, else why not (typically: already taken)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    family, socktype, proto, _, sockaddr = infos[0]
    with socket.socket(family, socktype, proto) as sock:
        # Servers set SO_REUSEADDR too; without it a TIME_WAIT from the last run looks "taken".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(sockaddr)
            sock.listen(1)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"{host}:{port} is already in use (another process listens there)"
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def exit_status(returncode: int) -> int:
    """A child's return code as our exit status (killed by signal N: 128 + N, as shells do)."""
    return 128 - returncode if returncode < 0 else returncode


def run_temporal_foreground(settings: Settings) -> int:
    """``make temporal``: run the dev server until it ends; SIGTERM/SIGINT are passed on to it."""
    for host, port, what in temporal_ports(settings):
        problem = port_problem(host, port)
        if problem:
            print(f"devstack temporal: cannot start: {what}: {problem}", file=sys.stderr)
            return 1
    db = temporal_db_path(settings)
    db.parent.mkdir(parents=True, exist_ok=True)
    command = temporal_server_command(settings)
    host, port = temporal_host_port(settings)
    print(
        f"devstack temporal: Temporal dev server on {host}:{port} "
        f"(namespace {settings.temporal_namespace}), Web UI {web_ui_url(settings)}, "
        f"state in {db}; payloads decode after signing in at {settings.gateway_url.rstrip('/')}/ops/login "
        "(the gateway must run); Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    # Its own session, so a terminal's Ctrl-C reaches it once, through us, not twice.
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)

    def forward(signum: int, _frame: FrameType | None) -> None:
        if child.poll() is None:
            # A closed terminal (SIGHUP) must not leave the server, in its own session, running.
            child.send_signal(signal.SIGTERM if signum == signal.SIGHUP else signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        returncode = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return exit_status(returncode)
