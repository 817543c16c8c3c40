"""The embedded development stack: ``make temporal``, ``make up`` and ``make run``.

- ``python -m devstack temporal``: the Temporal dev server alone, in the foreground
  (state in ``$ODS_DATA_DIR/temporal.db``, the custom search attributes registered).
- ``python -m devstack up``: the Temporal dev server, the partner sandbox, the gateway
  and one worker, each a child process, started in order and stopped in reverse.
- ``python -m devstack run``: ``up``, then the applications in ``samples/`` submitted
  through the gateway and followed live until every case is final.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = PROJECT_ROOT / "samples"
