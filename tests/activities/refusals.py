"""What an activity raised when the partner said no, as the workflows read it."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.partners import PARTNER_REFUSED, PartnerRefusal


async def refused(run: Awaitable[Any], *, kind: str = PARTNER_REFUSED) -> PartnerRefusal:
    """The refusal the activity ``run`` raised: a non-retryable ``ApplicationError`` of ``kind``
    that carries the partner's code, words and fields."""
    with pytest.raises(ApplicationError) as caught:
        await run
    assert caught.value.type == kind
    assert caught.value.non_retryable
    refusal = PartnerRefusal.of(caught.value)
    assert refusal is not None
    assert refusal.type == kind
    return refusal
