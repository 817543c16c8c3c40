"""A tiny ``make bench``: every part runs on the bench's own stack and writes its figures in the
shape of ``bench/results.json`` (README, Performance); every case and baseline workflow completes,
no alert is missing or doubled, every ratio is a number above zero, and a part of the results
file that was not run stays as it was.
No timing is asserted: this machine's speed is not what is tested."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devstack import PROJECT_ROOT

pytestmark = pytest.mark.e2e

TINY = {
    "BENCH_SETUPS": "2",
    "BENCH_INTAKE_REQUESTS": "20",
    "BENCH_OPEN": "3",
    "BENCH_TIMERS": "3",
    "BENCH_TIMER_OFFSET_S": "4",
    "BENCH_TIMER_SPREAD_S": "0",
    "BENCH_OUTAGE": "2",
    "BENCH_OUTAGE_HANG_S": "2",
    "BENCH_OUTAGE_AT_RISK_S": "4",
    "BENCH_OUTAGE_SPREAD_S": "0",
    "BENCH_STALL_S": "60",
    "BENCH_DOCUMENT_DRAWINGS": "20",
}
DOCUMENT_KINDS = {
    "acceptance_receipt",
    "business_licence",
    "subsidy_voucher",
    "postal_label",
    "completion_notice",
}
SHAPE: dict[str, tuple[str, ...]] = {
    "machine": ("cpus", "python", "temporal_cli"),
    "throughput": ("setups", "setups_per_s", "baseline_per_s", "ratio", "p50_s", "p95_s"),
    "intake": ("concurrency", "requests", "p50_ms", "p99_ms", "raw_start_p99_ms", "ratio"),
    "scale": ("open_setups", "worker_idle_rss_mb", "worker_rss_mb", "server_rss_mb"),
    "timers": ("open_setups", "alerts", "late_p50_s", "late_p99_s", "missing", "duplicated"),
    "outage": ("cases", "alerts", "late_p50_s", "late_p99_s", "missing", "duplicated", "completed"),
}


def _numbers(figures: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        assert isinstance(figures[key], int | float) and not isinstance(figures[key], bool), (key, figures)


def test_a_tiny_bench_run_writes_every_figure(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"earlier": {"kept": True}}))
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--results", str(results), "--data-dir", str(tmp_path / "data")],
        cwd=PROJECT_ROOT,
        env={**os.environ, **TINY},
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    logs = tmp_path / "data" / "logs"
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n(logs in {logs})"
    found = json.loads(results.read_text())

    assert found["earlier"] == {"kept": True}
    for part, keys in SHAPE.items():
        assert set(keys) <= set(found[part]), (part, found[part])
        if part != "machine":
            _numbers(found[part], keys)
    assert found["machine"]["cpus"] >= 1

    throughput = found["throughput"]
    assert throughput["setups"] == throughput["completed"] == throughput["baseline_completed"] == 2
    assert throughput["ratio"] > 0 and throughput["setups_per_s"] > 0 and throughput["baseline_per_s"] > 0
    shape, baseline = throughput["case_shape"], throughput["baseline_shape"]
    # Local activities played back as local activities, patches as patches: the same markers and
    # the same upserts (a patch's marker brings the SDK's TemporalChangeVersion upsert, a local
    # activity's does not).
    kinds = ("activities", "timers", "signals_received", "updates", "child_workflows", "markers", "upserts")
    for kind in kinds:
        assert baseline[kind] == shape[kind], (kind, shape, baseline)
    # The partners' callbacks arrive as updates; the parcel is the case's own (no delivery child).
    assert shape["activities"] > 0 and shape["updates"] >= 1 and shape["child_workflows"] == 0
    assert shape["history_bytes"] > shape["payload_bytes"] > 0, shape

    intake = found["intake"]
    assert intake["requests"] == 20 and intake["concurrency"] == 32
    assert intake["ratio"] > 0

    assert found["scale"]["open_setups"] == 3
    assert found["scale"]["worker_rss_mb"] > 0 and found["scale"]["server_rss_mb"] > 0
    assert "baseline_kb_per_open_case" in found["scale"] and "kb_per_open_case_ratio" in found["scale"]

    timers = found["timers"]
    assert timers["open_setups"] == timers["alerts"] == 3
    assert timers["missing"] == 0 and timers["duplicated"] == 0

    outage = found["outage"]
    assert outage["cases"] == outage["alerts"] == outage["completed"] == 2
    assert outage["missing"] == 0 and outage["duplicated"] == 0

    documents = found["documents"]
    assert set(documents["cpu_ms"]) == set(documents["pages"]) == DOCUMENT_KINDS
    assert all(ms > 0 for ms in documents["cpu_ms"].values()), documents
    assert all(pages >= 1 for pages in documents["pages"].values()), documents

    workers = found["workers"]
    assert [w["processes"] for w in workers] == [1, 2]
    for row in workers:
        assert row["completed"] == row["setups"] == 2 and row["setups_per_s"] > 0
    assert "make bench" in run.stdout and "ours / baseline" in run.stdout
