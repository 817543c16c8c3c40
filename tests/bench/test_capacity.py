"""The README's capacity table follows the measured figures it is computed from (bench/capacity.py)."""

from __future__ import annotations

import json
from typing import Any

from bench.capacity import RESULTS, VOLUMES, db_writes_per_case, table


def _results(server_cpu: float, events: int) -> dict[str, Any]:
    return {
        "throughput": {
            "setups_per_s": 2.0,
            "cpu_s_per_case": {"temporal": server_cpu, "worker": 0.2, "documents": 0.05, "gateway": 0.03},
            "case_shape": {"events": events, "workflow_tasks": 20, "history_bytes": 100_000},
        }
    }


def _row(text: str, label: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {label}"))
    return [cell.strip() for cell in line.strip("|").split("|")][1:]


def test_the_table_scales_with_the_volume_and_the_measured_cost() -> None:
    cheap, dear = table(_results(0.1, 100)), table(_results(0.4, 200))
    events = [float(v.replace(",", "")) for v in _row(dear, "history events/s")]
    assert events == sorted(events) and events[-1] > events[0]  # Anyang < Henan < China
    assert _row(dear, "history events/s") != _row(cheap, "history events/s")
    server = [float(v) for v in _row(dear, "Temporal server CPU")]
    cheap_server = [float(v) for v in _row(cheap, "Temporal server CPU")]
    pairs = zip(server, cheap_server, strict=True)
    assert all(abs(d - 4 * c) <= 0.25 for d, c in pairs), (server, cheap_server)  # 4× the CPU
    gigabytes = [float(v.replace(",", "")) for v in _row(dear, "history a year")]
    assert gigabytes == [round(v.per_year * 100_000 / 1e9, 2) for v in VOLUMES]
    # 2 cases/s on one machine: Anyang's peak fits many times over, the country's does not.
    machine = _row(dear, "one 2-core machine")
    assert machine[0].endswith("× the peak") and machine[-1].endswith("× short")


def test_the_committed_results_make_a_table() -> None:
    assert db_writes_per_case() >= 10  # a data key, five documents, two ledger entries, the facts
    assert "cases workers" in table(json.loads(RESULTS.read_text()))
