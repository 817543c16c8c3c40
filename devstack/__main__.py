"""``python -m devstack temporal | up | run`` (``make temporal``, ``make up``, ``make run``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import Any, TextIO, cast

from pydantic import ValidationError
from rich.console import Console

from devstack import SAMPLES_DIR, exit_now


class _TerminalMayGoAway:
    """stdout that swallows write errors: the stack must still stop in order after its
    terminal has closed (SIGHUP) or the pipe it printed into is gone."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError):
            return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description="The embedded development stack of One-Day Setup (一日办).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("temporal", help="the Temporal dev server alone, in the foreground (make temporal)")
    commands.add_parser(
        "up", help="Temporal, partner sandbox, gateway and a worker, in the foreground (make up)"
    )
    run = commands.add_parser(
        "run", help="`up`, then submit the sample applications and follow them (make run)"
    )
    run.add_argument(
        "--samples",
        type=Path,
        default=SAMPLES_DIR,
        help="folder of application JSON files (default: %(default)s)",
    )
    args = parser.parse_args(argv)

    # Imported late so `--help` works even with a broken environment.
    from infra.settings import get_settings

    try:
        settings = get_settings()
    except ValidationError as exc:
        print(f"devstack: bad configuration:\n{exc}", file=sys.stderr)
        return 2

    if args.command == "temporal":
        from devstack.temporal_server import run_temporal_foreground

        return run_temporal_foreground(settings)

    from devstack.stack import serve

    # Not a terminal (CI, `| tee`): rich would assume 80 columns and squeeze the tables.
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    console = Console(
        file=cast(TextIO, _TerminalMayGoAway(sys.stdout)),
        soft_wrap=True,
        width=160 if wide else None,
    )
    if args.command == "up":
        return asyncio.run(serve(settings, console))

    from devstack.follow import submit_and_follow

    return asyncio.run(serve(settings, console, submit_and_follow(args.samples)))


if __name__ == "__main__":
    exit_now(main())
