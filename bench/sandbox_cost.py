"""What the determinism guard's per-run import costs: ``python -m bench.sandbox_cost [N]``.

The SDK's sandbox imports a workflow's module, and every module of ours it imports, afresh for each
run it starts or replays (its runner makes a new importer for each workflow instance); everything
in ``worker.PASSED_THROUGH_MODULES`` and the SDK is imported once per process. This imports the
case's module (``workflows.enterprise_setup``) and the bench baseline's (``bench.baseline``)
afresh ``N`` times each in this process, keeping every copy as a cached run keeps its own, and
reports the memory each import holds (``tracemalloc``) and its CPU time: the README's profile of
the worker's memory and CPU per case (README "Performance").
"""

from __future__ import annotations

import gc
import importlib
import json
import sys
import time
import tracemalloc
from types import ModuleType
from typing import Any

import worker  # noqa: F401  (the passed-through modules, imported once as a worker process has them)

CASE_MODULE = "workflows.enterprise_setup"
BASELINE_MODULE = "bench.baseline"


# Our packages the sandbox does not pass through (worker.PASSED_THROUGH_MODULES has the others).
SANDBOXED_ROOTS = ("workflows", "bench")


def _sandboxed() -> list[str]:
    """Our modules loaded in this process that a sandbox would import afresh."""
    return [n for n in sys.modules if n.split(".")[0] in SANDBOXED_ROOTS and n != __name__]


def fresh_import_cost(module: str, times: int) -> dict[str, Any]:
    """KB held and CPU milliseconds per fresh import of ``module`` (and our modules it imports)."""
    importlib.import_module(module)
    names = _sandboxed()
    kept: list[dict[str, ModuleType]] = []
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    cpu = time.process_time()
    for _ in range(times):
        for name in names:
            sys.modules.pop(name, None)
        importlib.import_module(module)
        kept.append({name: sys.modules[name] for name in names if name in sys.modules})
    cpu = time.process_time() - cpu
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {
        "module": module,
        "modules_imported": len(kept[-1]),
        "kb_held_per_import": round(held / times / 1024, 1),
        "cpu_ms_per_import": round(cpu / times * 1000, 1),
    }


def main() -> int:
    times = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    found = {
        "case": fresh_import_cost(CASE_MODULE, times),
        "baseline": fresh_import_cost(BASELINE_MODULE, times),
    }
    print(json.dumps(found, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
