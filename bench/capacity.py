"""``python -m bench.capacity``: the README's capacity table, on paper, from a ``make bench`` run.

Per case, as measured in the run (``bench/results.json``, its throughput part): the CPU seconds of
each process, the events, workflow tasks and history bytes of the case (and any children); the
service-database writes of a case are counted from a committed lean case's history
(``tests/replay/histories/l2_completed__*.json``: its facts, documents and subsidy ledger entries,
and the case's data key written at intake). Volumes are assumptions, stated in ``VOLUMES``: new
market entities a year, 250 working days, 40 % of a day's applications in the two morning hours
and the busiest minute of those at three times their average.
"""

from __future__ import annotations

import base64
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"
LEAN_CASE = sorted((ROOT / "tests" / "replay" / "histories").glob("l2_completed__*.json"))

WORKING_DAYS = 250
PEAK_SHARE = 0.40  # of a day's applications, in the two morning hours
PEAK_HOURS = 2.0
PEAK_MINUTE = 3.0  # the busiest minute of the peak, against the peak's average
# One core of a worker or server process, kept at most this busy so a burst does not queue.
HEADROOM = 0.6


@dataclass(frozen=True)
class Volume:
    name: str
    per_year: int
    source: str


VOLUMES = (
    Volume("Anyang", 55_000, "about 5.5 % of Henan's, by population (5.4 of 99 million)"),
    Volume("Henan", 1_000_000, "on the order of a million new market entities a year (issue 21)"),
    Volume("China", 33_000_000, "32.7 million new market entities registered in 2023"),
)


def db_writes_per_case() -> int:
    """The service-database writes of one lean postal case that kept its promises."""
    events = json.loads(LEAN_CASE[0].read_text())["events"]
    writes = 1  # the case's data key, at intake (infra/case_keys.py)
    for event in events:
        scheduled = event.get("activityTaskScheduledEventAttributes")
        if scheduled and scheduled["activityType"]["name"] in (
            "issue_document",
            "reserve_first_seal_subsidy",
            "settle_first_seal_subsidy",
        ):
            writes += 1
        marker = event.get("markerRecordedEventAttributes")
        if marker and marker["markerName"] == "core_local_activity":
            data = json.loads(base64.b64decode(marker["details"]["data"]["payloads"][0]["data"]))
            writes += data["activity_type"] == "record_case_fact"
    return writes


def table(results: dict[str, Any]) -> str:
    throughput = results["throughput"]
    cpu = throughput["cpu_s_per_case"]
    shape = throughput["case_shape"]
    server_cpu = cpu["temporal"]
    worker_cpu = sum(v for k, v in cpu.items() if k.startswith("worker"))
    documents_cpu = sum(v for k, v in cpu.items() if k.startswith("documents"))
    gateway_cpu = cpu.get("gateway", 0.0)
    events, tasks = shape["events"], shape["workflow_tasks"]
    history_bytes = shape.get("history_bytes", 0)
    writes = db_writes_per_case()

    def cores(rate: float, seconds: float) -> int:
        return max(1, math.ceil(rate * seconds / HEADROOM))

    rows = [
        "| | " + " | ".join(v.name for v in VOLUMES) + " |",
        "|---|" + "---|" * len(VOLUMES),
    ]

    def row(label: str, values: list[str]) -> None:
        rows.append(f"| {label} | " + " | ".join(values) + " |")

    per_day = [v.per_year / WORKING_DAYS for v in VOLUMES]
    peak = [d * PEAK_SHARE / (PEAK_HOURS * 3600) * PEAK_MINUTE for d in per_day]
    row("new cases a year (assumed)", [f"{v.per_year:,}" for v in VOLUMES])
    row("a working day", [f"{d:,.0f}" for d in per_day])
    row("cases/s at the morning peak's busiest minute", [f"{p:.2f}" for p in peak])
    row("cases workers (cores, at 60 % busy)", [str(cores(p, worker_cpu)) for p in peak])
    row("documents workers (cores)", [str(cores(p, documents_cpu)) for p in peak])
    row("gateways (cores)", [str(cores(p, gateway_cpu)) for p in peak])
    row(
        "Temporal server CPU at the peak (cores, as the dev server spends it)",
        [f"{p * server_cpu / HEADROOM:.2f}" for p in peak],
    )
    row("history events/s at the peak", [f"{p * events:,.0f}" for p in peak])
    row("workflow tasks/s at the peak", [f"{p * tasks:,.0f}" for p in peak])
    row("service-database writes/s at the peak", [f"{p * writes:,.0f}" for p in peak])
    yearly = [f"{v.per_year * history_bytes / 1e9:,.2f}" for v in VOLUMES]
    row("history a year (GB, before retention)", yearly)
    measured = throughput["setups_per_s"]
    row(
        f"one 2-core machine with everything, dev server included ({measured:.2f} cases/s measured)",
        [f"{measured / p:,.1f}× the peak" if measured >= p else f"{p / measured:,.0f}× short" for p in peak],
    )
    rows.append("")
    rows.append(
        f"Per case, measured: Temporal server {server_cpu:.3f} s CPU, cases worker {worker_cpu:.3f} s, "
        f"documents worker {documents_cpu:.3f} s, gateway {gateway_cpu:.3f} s; {events} events, "
        f"{tasks} workflow tasks, {history_bytes:,} history bytes (the case and any children); "
        f"{writes} service-database writes (counted from `{LEAN_CASE[0].name}`)."
    )
    return "\n".join(rows)


def main() -> int:
    results = json.loads((Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS).read_text())
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
