"""The embedded development stack: ``make temporal``, ``make up`` and ``make run``.

- ``python -m devstack temporal``: the Temporal dev server alone, in the foreground
  (state in ``$ODS_DATA_DIR/temporal.db``, the custom search attributes registered).
- ``python -m devstack up``: the Temporal dev server, the partner sandbox, the gateway
  and a worker for the cases and one for their documents, each a child process, started in
  order and stopped in reverse.
- ``python -m devstack run``: ``up``, then the applications in ``samples/`` submitted
  through the gateway and followed live until every case is final.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import NoReturn

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = PROJECT_ROOT / "samples"


def exit_now(code: int) -> NoReturn:
    """End a command-line process with ``code`` once its output is flushed. The Temporal SDK can
    abort at interpreter exit after all work is done (sdk-python#300): no exit handlers run."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
