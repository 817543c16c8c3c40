"""The case's facts, recorded once in the service database (``store/facts.py``)."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.facts import CaseFact
from store.facts import CaseFactStore


class CaseFactActivities:
    def __init__(self, store: CaseFactStore | None) -> None:
        self.store = store

    @activity.defn
    async def record_case_fact(self, fact: CaseFact) -> bool:
        """Store the fact unless it is stored already (a retry, a replay); True if this call did."""
        if self.store is None:
            raise ApplicationError("this worker has no service database", non_retryable=False)
        return await self.store.record(fact)
