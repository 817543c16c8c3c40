"""``bench/sandbox_cost.py``: the README's profile of the determinism guard's per-run import."""

from __future__ import annotations

import sys

from bench.sandbox_cost import BASELINE_MODULE, CASE_MODULE, fresh_import_cost


def test_a_fresh_import_of_the_case_holds_its_own_copy_of_our_workflow_modules() -> None:
    before = {name: module for name, module in sys.modules.items() if name.startswith(("workflows", "bench"))}
    try:
        case = fresh_import_cost(CASE_MODULE, 2)
        baseline = fresh_import_cost(BASELINE_MODULE, 2)
    finally:
        # The rest of the session keeps the modules it imported first (classes compare by identity).
        for name in [n for n in sys.modules if n.startswith(("workflows", "bench"))]:
            del sys.modules[name]
        sys.modules.update(before)
    # The case's module and the stage modules it imports run again; the passed-through ones
    # (domain/, activities/, pydantic, the SDK) do not.
    assert case["modules_imported"] >= 10 and baseline["modules_imported"] >= 1
    assert "domain.application" in sys.modules
    assert case["kb_held_per_import"] > baseline["kb_held_per_import"] > 0
    assert case["cpu_ms_per_import"] > 0
