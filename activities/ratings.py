"""A rating's follow-up, recorded in the service database as it goes (``store/ratings.py``)."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.ratings import RatingProgress
from store.ratings import RatingStore


class RatingActivities:
    def __init__(self, store: RatingStore | None) -> None:
        self.store = store

    @activity.defn
    async def record_rating_progress(self, progress: RatingProgress) -> None:
        """The fields the follow-up names, set on its rating's row (a retry sets them again)."""
        if self.store is None:
            raise ApplicationError("this worker has no service database", non_retryable=False)
        await self.store.progress(progress)
