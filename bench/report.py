"""``bench/results.json`` (a run of some parts updates only those) and the table ``make bench`` prints."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from infra.binaries import temporal_cli


def machine() -> dict[str, Any]:
    version = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        answer = subprocess.run(
            [str(temporal_cli()), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
        version = answer.stdout.strip().removeprefix("temporal version ").strip() or version
    return {"cpus": os.cpu_count() or 0, "python": platform.python_version(), "temporal_cli": version}


def load_results(path: Path) -> dict[str, Any]:
    """The results file as it is, or an empty one when it is missing or unreadable."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def save_part(path: Path, part: str, figures: Any, elapsed_s: float, machine_info: dict[str, Any]) -> None:
    """Write one part's figures into the results file, keeping every other part as it was."""
    results = load_results(path)
    results["machine"] = machine_info
    results[part] = figures
    results.setdefault("elapsed_s", {})[part] = round(elapsed_s, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(path)


Check = Callable[[float], bool]
DOCUMENT_CPU_MS = 10  # issue 21's goal for each document kind
# (part, key, what it is, unit, goal text, check)
ROWS: list[tuple[str, str, str, str, str, Check | None]] = [
    ("throughput", "setups_per_s", "throughput: our cases", "setups/s", "", None),
    ("throughput", "baseline_per_s", "throughput: baseline workflow", "setups/s", "", None),
    ("throughput", "ratio", "throughput: ours / baseline", "", "≥ 0.8", lambda v: v >= 0.8),
    ("throughput", "p50_s", "throughput: case duration p50", "s", "", None),
    (
        "throughput",
        "case_shape.events",
        "case: history events (with any children)",
        "",
        "≤ 140",
        lambda v: v <= 140,
    ),
    ("throughput", "case_shape.workflow_tasks", "case: workflow tasks", "", "", None),
    ("throughput", "case_shape.timers", "case: timers started", "", "", None),
    ("throughput", "case_shape.history_bytes", "case: history bytes", "B", "", None),
    ("throughput", "case_shape.payload_bytes", "case: payload bytes", "B", "", None),
    ("throughput", "p95_s", "throughput: case duration p95", "s", "", None),
    ("intake", "p50_ms", "intake: POST /v1/applications p50", "ms", "", None),
    ("intake", "p99_ms", "intake: POST /v1/applications p99", "ms", "", None),
    ("intake", "raw_start_p99_ms", "intake: client.start_workflow p99", "ms", "", None),
    ("intake", "ratio", "intake: p99 ours / raw", "", "≤ 1.3", lambda v: v <= 1.3),
    ("scale", "worker_idle_rss_mb", "scale: worker RSS, idle", "MB", "", None),
    ("scale", "worker_rss_mb", "scale: worker RSS, cases open", "MB", "", None),
    ("scale", "kb_per_open_case", "scale: worker memory per open case", "KB", "", None),
    ("scale", "baseline_kb_per_open_case", "scale: baseline worker memory per open case", "KB", "", None),
    (
        "scale",
        "kb_per_open_case_ratio",
        "scale: memory per open case, ours / baseline",
        "",
        "≤ 1.5",
        lambda v: v <= 1.5,
    ),
    ("scale", "cached_workflows", "scale: cases in the worker's cache", "", "", None),
    ("scale", "server_rss_mb", "scale: Temporal server RSS, cases open", "MB", "", None),
    ("outage", "alerts", "outage: at-risk alerts stored, partners hanging", "", "", None),
    ("outage", "late_p50_s", "outage: stored after due, p50", "s", "", None),
    ("outage", "late_p99_s", "outage: stored after due, p99", "s", "≤ 2", lambda v: v <= 2),
    ("outage", "missing", "outage: alerts missing", "", "0", lambda v: v == 0),
    ("outage", "duplicated", "outage: alerts doubled", "", "0", lambda v: v == 0),
    ("outage", "completed", "outage: cases completed after recovery", "", "", None),
    ("timers", "alerts", "timers: at-risk alerts stored", "", "", None),
    ("timers", "late_p50_s", "timers: stored after due, p50", "s", "", None),
    ("timers", "late_p99_s", "timers: stored after due, p99", "s", "≤ 2", lambda v: v <= 2),
    ("timers", "missing", "timers: alerts missing", "", "0", lambda v: v == 0),
    ("timers", "duplicated", "timers: alerts doubled", "", "0", lambda v: v == 0),
]


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    return "—" if value is None else str(value)


def table(results: dict[str, Any], parts: list[str]) -> Table:
    """One row per figure of the parts run now, with its goal beside it."""
    grid = Table(title="make bench", title_justify="left")
    for column in ("figure", "value", "unit", "goal", ""):
        grid.add_column(column)
    for part, key, what, unit, goal, check in ROWS:
        figures = results.get(part)
        if part not in parts or not isinstance(figures, dict):
            continue
        value: Any = figures
        for step in key.split("."):  # "case_shape.events": a figure inside a part's figure
            value = value.get(step) if isinstance(value, dict) else None
        if value is None:
            continue
        if part == "scale" and key in ("worker_idle_rss_mb", "worker_rss_mb"):
            what += f" ({figures.get('open_setups')} cases)" if key == "worker_rss_mb" else ""
        verdict = ""
        if check is not None and isinstance(value, int | float):
            verdict = "[green]met[/]" if check(value) else "[red]missed[/]"
        grid.add_row(what, _value(value), unit, goal, verdict)
    if "workers" in parts and isinstance(results.get("workers"), list):
        for row in results["workers"]:
            grid.add_row(
                f"workers: {row['processes']} process(es) of each role",
                _value(row["setups_per_s"]),
                "setups/s",
                "",
                "",
            )
    drawn = results.get("documents")
    if "documents" in parts and isinstance(drawn, dict):
        for kind, ms in drawn.get("cpu_ms", {}).items():
            pages = drawn.get("pages", {}).get(kind)
            verdict = "[green]met[/]" if ms <= DOCUMENT_CPU_MS else "[red]missed[/]"
            what = f"documents: {kind} ({pages} page{'' if pages == 1 else 's'}), CPU median"
            grid.add_row(what, _value(float(ms)), "ms", f"≤ {DOCUMENT_CPU_MS}", verdict)
    for part in parts:
        elapsed = results.get("elapsed_s", {}).get(part)
        if elapsed is not None:
            grid.add_row(f"time: {part} part", _value(float(elapsed)), "s", "", "")
    return grid


def print_table(console: Console, results: dict[str, Any], parts: list[str]) -> None:
    console.print(table(results, parts))
