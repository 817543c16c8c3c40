"""``Alarms``: one durable timer for a case's next due point, however many promises it watches.

A case watches a promise per stage running (its at-risk point, then its deadline) and a patience
per partner it waits for; given a timer each, a case whose stages all keep their promises started
and cancelled fifteen, each two events in its history. A lean case (``workflows/versions.py``)
asks :meth:`Alarms.wait` instead of ``workflow.wait_condition(..., timeout=...)``: the one timer
runs to the earliest point anyone waits for and is moved only when an earlier one comes. When
the waiter it runs for is done (its stage finished in time, the usual case) it is left running:
cancelling it and starting one for the next point costs two events every time, while a timer left
to fire at a point nobody waits for any more costs four once, and none at all if the case closes
first, which is what a case that keeps its promises does. Its summary in the Web UI is the
waiter's it was started for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import count

from temporalio import workflow


class Alarms:
    def __init__(self) -> None:
        # What each waiter waits for: its point in time and the timer's summary while it is first.
        self._due: dict[int, tuple[datetime, str]] = {}
        self._rung: set[int] = set()
        self._keys = count()
        self._ringer: asyncio.Task[None] | None = None

    async def wait(self, condition: Callable[[], bool], at: datetime, summary: str) -> None:
        """``workflow.wait_condition(condition, timeout=at - now)``: returns once ``condition``
        holds, raises ``TimeoutError`` once ``at`` has come first."""
        if condition():
            return
        key = next(self._keys)
        self._due[key] = (at, summary)
        if self._ringer is None:
            self._ringer = asyncio.create_task(self._ring())
        try:
            await workflow.wait_condition(lambda: condition() or key in self._rung)
        finally:
            self._due.pop(key, None)
            rung = key in self._rung
            self._rung.discard(key)
        if rung and not condition():
            raise TimeoutError(summary)

    def _earliest(self) -> tuple[datetime, str] | None:
        waiting = [due for key, due in self._due.items() if key not in self._rung]
        return min(waiting, key=lambda due: due[0]) if waiting else None

    async def _ring(self) -> None:
        """The one timer: to the earliest point, moved only when that point changes."""
        while True:
            await workflow.wait_condition(lambda: self._earliest() is not None)
            earliest = self._earliest()
            assert earliest is not None
            at, summary = earliest
            remaining = at - workflow.now()
            if remaining > timedelta(0):

                def sooner(at: datetime = at) -> bool:
                    earliest = self._earliest_at()
                    return earliest is not None and earliest < at

                try:
                    await workflow.wait_condition(sooner, timeout=remaining, timeout_summary=summary)
                    continue  # an earlier point came: the timer moves to it
                except TimeoutError:
                    pass
            now = workflow.now()
            self._rung |= {key for key, (due, _) in self._due.items() if due <= now}

    def _earliest_at(self) -> datetime | None:
        earliest = self._earliest()
        return earliest[0] if earliest is not None else None


async def wait_until(
    alarms: Alarms | None, condition: Callable[[], bool], timeout: timedelta | None, summary: str
) -> None:
    """``workflow.wait_condition(condition, timeout=timeout)``: on the case's one timer when it has
    one (a lean case), else (or with no timeout) as the workflow always did."""
    if alarms is None or timeout is None:
        await workflow.wait_condition(condition, timeout=timeout, timeout_summary=summary)
    else:
        await alarms.wait(condition, workflow.now() + timeout, summary)
