"""What a case records once about itself, for the daily report and the business metrics.

The workflow sends each fact through the same ordered outbox as its alerts
(``workflows/promises.py``). The service database keeps one row per (workflow, kind, stage,
episode) (``store/facts.py``), so replays, retries and restarts never count a case twice, however
many workers and gateways run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

FactKind = Literal["accepted", "stage_done", "closed", "attention_raised", "attention_resolved", "delivered"]
FACT_KINDS: tuple[str, ...] = (
    "accepted",
    "stage_done",
    "closed",
    "attention_raised",
    "attention_resolved",
    "delivered",
)
# ``delivered``: how the package reached the applicant. ``fallback``: meant for the post, handed
# over at the window (an undeliverable address, EMS refusing, an operator's switch).
DeliveryWay = Literal["postal", "pickup", "fallback"]


class CaseFact(BaseModel):
    model_config = ConfigDict(frozen=True)

    workflow_id: str
    application_id: str
    kind: FactKind
    # The stage a ``stage_done`` or attention fact is about; empty for the others.
    stage: str = ""
    episode: int = 1
    at: AwareDatetime
    district_code: str
    # closed: completed | rejected | withdrawn; delivered: postal | pickup | fallback.
    outcome: str | None = None
    # stage_done: finished by its deadline.
    within_sla: bool | None = None
    # stage_done: from start to finish on the wall clock, and on the policy's clock (time awaiting
    # a supplement left out); closed: from acceptance, on the wall clock.
    wall_seconds: float | None = None
    working_seconds: float | None = None
