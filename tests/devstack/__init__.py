"""What the devstack tests share: the devstack command run as an operator runs it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from devstack import PROJECT_ROOT


async def start_devstack(command: str, *, env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """``python -m devstack <command>`` from the project root, its output appended to ``log``."""
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "devstack",
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
