"""The status document (``GET /v1/applications/{id}``), kept by the workflow and answered by its
``status`` query; docs/architecture.md says how each part is kept."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal, get_args

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
StageName = Literal[
    "registration",
    "seal_carving",
    "invoice",
    "social_insurance",
    "housing_fund",
    "bank_account",
    "delivery",
    "overall",
]
STAGE_NAMES: tuple[StageName, ...] = get_args(StageName)
# The items after registration that run beside seal carving (the whole 企业开办 scope).
EXTRA_ITEMS: tuple[StageName, ...] = ("social_insurance", "housing_fund", "bank_account")
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
    # Null in cases that began before the whole 企业开办 scope; ``skipped`` when not applied for.
    social_insurance: StageStatus | None = None
    housing_fund: StageStatus | None = None
    bank_account: StageStatus | None = None
    # Null in cases that began before the free services (their histories still replay).
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


ActionName = Literal["retry_stage", "reassign_seal_shop", "switch_to_pickup", "reject"]
ACTION_NAMES: tuple[ActionName, ...] = ("retry_stage", "reassign_seal_shop", "switch_to_pickup", "reject")


class ShopCandidate(BaseModel):
    shop_id: str
    shop_name: str


class Attention(BaseModel):
    """An operator must act on one stage (docs/operations.md): why, since when, and what to do."""

    stage: StageName
    reason: str
    since: datetime
    actions: list[ActionName]
    candidates: list[ShopCandidate] | None = None
    episode: int = 1


class SocialInsuranceStatus(BaseModel):
    """员工参保登记: the unit's social insurance registration number."""

    registration_no: str
    bureau: str
    employees: int
    registered_at: datetime


class HousingFundStatus(BaseModel):
    """住房公积金缴存登记: the unit's housing fund account."""

    account_no: str
    centre: str
    office: str
    employees: int
    opened_at: datetime


class BankAppointmentStatus(BaseModel):
    """银行预约开户: where and when the legal representative opens the basic account."""

    appointment_id: str
    bank: str
    branch: str
    branch_address: str
    appointment_at: datetime


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
    # Null in cases that began before the free services (subsidy, delivery, documents).
    subsidy: SubsidyStatus | None = None
    delivery: DeliveryStatus | None = None
    # The rest of the 企业开办 scope, once done (null until then, and when not applied for).
    social_insurance: SocialInsuranceStatus | None = None
    housing_fund: HousingFundStatus | None = None
    bank_account: BankAppointmentStatus | None = None
    # The oldest stage waiting for an operator (``attentions`` lists every one).
    attention: Attention | None = None
    attentions: list[Attention] = Field(default_factory=list)
    documents: list[str] | None = None
    history: list[HistoryEntry] = Field(default_factory=list)

    @property
    def is_final(self) -> bool:
        return self.stage in FINAL_STAGES

    @property
    def worst_sla(self) -> SlaState:
        """The worst state any stage's promise has reached (what ``sla_status`` reports)."""
        return max((s.sla for s in self.stages.tracked()), key=SLA_ORDER.__getitem__, default="on_track")

    @property
    def breached_stages(self) -> list[StageName]:
        """The stages whose promise is broken, in the order they broke (their breach alerts)."""
        broken = {
            n for n in STAGE_NAMES if (s := getattr(self.stages, n)) is not None and s.sla == "breached"
        }
        ordered: list[StageName] = []
        for entry in self.history:
            name = entry.event.removeprefix("alert.").removesuffix(".breached")
            if entry.event.startswith("alert.") and entry.event.endswith(".breached") and name in broken:
                if name not in ordered:
                    ordered.append(name)  # type: ignore[arg-type]
        return ordered + [n for n in STAGE_NAMES if n in broken and n not in ordered]
