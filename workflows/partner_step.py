"""``PartnerStep``: one business action at a partner, the one place that knows what an attempt is.

A stage asks it for a result and gets one, or an exception it can act on. Underneath, each
attempt is a new business action with an idempotency key of its own (a retry of the activity
reuses it); the call races the operators (past the partner's patience they are asked, and their
action on the stage, if it comes first, ends the attempt); a business refusal goes to the stage's
own answer first (registration's supplement, the delivery's pickup) and otherwise to an
operator, whose ``retry_stage``, ``reassign_seal_shop`` or ``switch_to_pickup`` starts the next
attempt (the stage's ``acted`` hook says what changes) and whose ``reject`` ends the case (the
case's, not the stage's). Who the operators are is the caller's: the case's
:class:`workflows.attention.OperatorDesk`, or the actions a delivery child is relayed.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.partners import PartnerRefusal
    from domain.actions import OperatorAction
    from domain.status import ActionName, ShopCandidate, StageName

T = TypeVar("T")
RETRY_STAGE: tuple[ActionName, ...] = ("retry_stage",)
Candidates = Callable[[], Awaitable[list[ShopCandidate]]]


class Operators(Protocol):
    """Who decides when a partner refuses or stays silent."""

    @property
    def enabled(self) -> bool: ...

    async def race(
        self,
        stage: StageName,
        partner: str,
        make_call: Callable[[], Coroutine[Any, Any, T]],
        actions: Sequence[ActionName],
        candidates: Candidates | None = None,
    ) -> T | OperatorAction:
        """The call, or an operator's action on the stage if that comes first."""
        ...

    async def refused(
        self,
        stage: StageName,
        reason: str,
        actions: Sequence[ActionName],
        candidates: list[ShopCandidate] | None = None,
    ) -> OperatorAction:
        """A partner refused for good: the operator's action on the stage."""
        ...


@dataclass(frozen=True)
class Refusal:
    """How a refusal is put to an operator: the attention's ``reason``, and the ``note`` recorded
    as ``<stage>.refused`` before it (None: nothing recorded)."""

    reason: str
    note: str | None = None


# A stage's own answer to a refusal: raise to end the stage (or the case), or return True to try
# again at once (a new business action); False hands it to an operator.
OwnAnswer = Callable[[PartnerRefusal, ActivityError], Awaitable[bool]]


class PartnerStep:
    def __init__(self, operators: Operators, note: Callable[[str, str], None]) -> None:
        self._operators = operators
        self._note = note

    async def attempt(
        self,
        stage: StageName,
        call: Callable[[str], Coroutine[Any, Any, T]],
        *,
        keys: str,
        partner: Callable[[], str],
        actions: Sequence[ActionName] = RETRY_STAGE,
        candidates: Candidates | None = None,
        own_answer: OwnAnswer | None = None,
        explain: Callable[[PartnerRefusal], Awaitable[Refusal]] | None = None,
        acted: Callable[[OperatorAction], Awaitable[None]] | None = None,
    ) -> T:
        """The partner's answer to ``call(idempotency_key)``; each attempt's key is
        ``<keys>/<uuid>``. ``explain`` words a refusal for the operator (without it, or with no
        operators, the refusal is raised); ``acted`` hears each operator's action before the next
        attempt."""
        operators = self._operators
        while True:
            key = f"{keys}/{workflow.uuid4()}"
            try:
                outcome = await operators.race(
                    stage, partner(), functools.partial(call, key), actions, candidates
                )
            except ActivityError as err:
                refusal = PartnerRefusal.of(err)
                if refusal is None:
                    raise
                if own_answer is not None and await own_answer(refusal, err):
                    continue
                if explain is None or not operators.enabled:
                    raise
                said = await explain(refusal)
                if said.note is not None:
                    self._note(f"{stage}.refused", said.note)
                shops = await candidates() if candidates is not None else None
                outcome = await operators.refused(stage, said.reason, actions, shops)
            if not isinstance(outcome, OperatorAction):
                return outcome
            if acted is not None:
                await acted(outcome)
