"""The documents part of ``make bench``: the CPU it takes to draw each document of a case.

``python -m bench.documents [DRAWINGS]`` runs in a process of its own, as a documents worker does
(``python worker.py --role documents``): the font registered and the module loaded once, then each
kind drawn through the worker's own path (``activities.documents._render``, its lock included) a few
times to warm up and ``DRAWINGS`` times measured. It prints, as JSON, the median CPU milliseconds of
the drawing thread per kind (``time.thread_time``, so other processes on the machine do not count)
and each kind's page count. The inputs are the realistic ones the document tests draw
(``tests/documents``).
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.config import BenchSettings

WARM_UP = 3
# A page object of a PDF (not the /Pages tree above them).
_PAGE = re.compile(rb"/Type\s*/Page(?![s\w])")


def _inputs() -> dict[str, Callable[[], Any]]:
    from tests.documents import licence, notice, receipt, voucher, waybill

    return {
        "acceptance_receipt": receipt,
        "business_licence": licence,
        "subsidy_voucher": voucher,
        "postal_label": waybill,
        "completion_notice": notice,
    }


def measure(drawings: int) -> dict[str, Any]:
    from activities.documents import _render

    cpu_ms: dict[str, float] = {}
    pages: dict[str, int] = {}
    for kind, make in _inputs().items():
        data = make()
        for _ in range(WARM_UP):
            pdf = _render(data)
        samples = []
        for _ in range(drawings):
            began = time.thread_time()
            _render(data)
            samples.append((time.thread_time() - began) * 1000)
        cpu_ms[kind] = round(statistics.median(samples), 2)
        pages[kind] = len(_PAGE.findall(pdf))
    return {"cpu_ms": cpu_ms, "pages": pages, "drawings": drawings}


async def run_part(settings: BenchSettings) -> dict[str, Any]:
    """Measure in a fresh process (the bench's own has loaded the whole stack's code)."""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bench.documents", str(settings.document_drawings)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        from bench.stack import BenchError

        raise BenchError(f"python -m bench.documents failed: {done.stderr.strip()[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else BenchSettings().document_drawings)))
