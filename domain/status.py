"""The status document of CONTRACT §4, kept by the workflow and answered by its ``status`` query."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

CaseStage = Literal[
    "accepted",
    "registration",
    "awaiting_supplement",
    "seal_carving_and_invoice",
    "delivery",
    "completed",
    "rejected",
    "withdrawn",
]
FINAL_STAGES: frozenset[str] = frozenset({"completed", "rejected", "withdrawn"})
SlaState = Literal["on_track", "at_risk", "breached"]
StageState = Literal["pending", "running", "waiting", "done", "failed", "cancelled", "skipped"]
StageName = Literal["registration", "seal_carving", "invoice", "delivery", "overall"]
STAGE_NAMES: tuple[StageName, ...] = (
    "registration",
    "seal_carving",
    "invoice",
    "delivery",
    "overall",
)
SLA_ORDER: dict[str, int] = {"on_track": 0, "at_risk": 1, "breached": 2}


class StageStatus(BaseModel):
    state: StageState = "pending"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    deadline: datetime | None = None
    sla: SlaState = "on_track"


class Stages(BaseModel):
    registration: StageStatus = Field(default_factory=StageStatus)
    seal_carving: StageStatus = Field(default_factory=StageStatus)
    invoice: StageStatus = Field(default_factory=StageStatus)
    # Built by the delivery issue; null until then (CONTRACT: no stubs).
    delivery: StageStatus | None = None
    overall: StageStatus = Field(default_factory=StageStatus)

    def of(self, name: StageName) -> StageStatus:
        stage = getattr(self, name)
        if stage is None:
            raise KeyError(f"stage {name} is not tracked")
        return stage  # type: ignore[no-any-return]

    def tracked(self) -> list[StageStatus]:
        return [s for s in (getattr(self, n) for n in STAGE_NAMES) if s is not None]


class SupplementRequest(BaseModel):
    requested: list[str]
    due: datetime | None = None


class SubsidyStatus(BaseModel):
    eligible: bool
    granted: bool
    amount_cny: Decimal
    reason: str


class DeliveryStatus(BaseModel):
    method: Literal["postal", "pickup"]
    waybill_no: str | None = None
    state: str
    pickup_at: str | None = None


class HistoryEntry(BaseModel):
    at: datetime
    event: str
    detail: str = ""


class StatusDocument(BaseModel):
    application_id: str
    workflow_id: str
    stage: CaseStage
    sla_status: SlaState = "on_track"
    accepted_at: datetime
    completed_at: datetime | None = None
    reason: str | None = None
    supplement: SupplementRequest | None = None
    # Set when a deadline falls in a year without official holiday data (weekends only then).
    calendar_note: str | None = None
    uscc: str | None = None
    stages: Stages = Field(default_factory=Stages)
    # Built by later issues (subsidy, delivery, documents); null until then (CONTRACT: no stubs).
    subsidy: SubsidyStatus | None = None
    delivery: DeliveryStatus | None = None
    documents: list[str] | None = None
    history: list[HistoryEntry] = Field(default_factory=list)

    @property
    def is_final(self) -> bool:
        return self.stage in FINAL_STAGES
