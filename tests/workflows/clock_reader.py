"""A workflow that reads the host's clock: what the sandbox's determinism guard must stop
(tests/workflows/test_determinism.py). Nothing else is imported, so the sandbox imports it cheaply."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow


@workflow.defn
class ClockReader:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()
