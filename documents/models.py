"""What each generated document shows: plain pydantic models, so activities pass them through Temporal.

Every time is aware (the documents print it in Beijing time); ``generated_at`` is the time the
caller stamps in the footer, never read from the clock here, so the same input gives the same PDF.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, Self, get_args

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from domain.application import (
    Application,
    ApplicationId,
    DeliveryMethod,
    DistrictCode,
    EnterpriseKind,
    InvoiceKind,
    Money,
    SealKind,
    Uscc,
)
from domain.identifiers import s10_problem
from domain.partners import Licence
from domain.sla_policy import Clock, SlaLimits, SlaPolicy, parse_duration
from domain.status import EXTRA_ITEMS, STAGE_NAMES, StageName, StageState, StatusDocument

DocumentName = Literal[
    "acceptance_receipt",
    "business_licence",
    "subsidy_voucher",
    "waybill_label",
    "inbound_waybill_label",
    "completion_notice",
]
DOCUMENT_NAMES: tuple[DocumentName, ...] = get_args(DocumentName)

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])", re.ASCII)


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text


def _check_s10(value: str) -> str:
    problem = s10_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _check_month(value: str) -> str:
    if not _MONTH.fullmatch(value):
        raise ValueError("a month is written YYYY-MM, e.g. 2026-11")
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]
WaybillNo = Annotated[str, AfterValidator(_check_s10)]
Month = Annotated[str, AfterValidator(_check_month)]
Text = Annotated[str, Field(min_length=1, max_length=500)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _CaseDocument(_Model):
    """A document of one case: its footer names the application and when the document was made."""

    application_id: ApplicationId
    generated_at: AwareDatetime


# --- 受理通知书 -------------------------------------------------------------------------------


class StagePromise(_Model):
    """A promised limit as the SLA policy writes it ("4h"), and its deadline once known."""

    stage: StageName
    limit: Duration
    deadline: AwareDatetime | None = None


def promises_of(
    limits: SlaLimits | None = None,
    deadlines: dict[str, datetime] | None = None,
    items: Sequence[StageName] = (),
) -> list[StagePromise]:
    """The one-day promise: registration, seal carving, invoice (defaults 4h, 2h, 1h), the other
    items applied for (social insurance, housing fund, bank account: 2h each), overall (7h)."""
    limits = limits or SlaLimits()
    deadlines = deadlines or {}
    stages: tuple[StageName, ...] = ("registration", "seal_carving", "invoice", *items, "overall")
    return [
        StagePromise(stage=stage, limit=getattr(limits, stage), deadline=deadlines.get(stage))
        for stage in stages
    ]


class AcceptanceReceiptData(_CaseDocument):
    """受理通知书: the application is accepted; what happens next and by when."""

    document: Literal["acceptance_receipt"] = "acceptance_receipt"
    workflow_id: Text
    enterprise_name: Text
    kind: EnterpriseKind
    district_code: DistrictCode
    accepted_at: AwareDatetime
    seals: list[SealKind] = Field(min_length=1)
    invoice: InvoiceKind | None = None
    delivery_method: DeliveryMethod
    inbound_materials: bool = False
    # The rest of the 企业开办 scope applied for (social_insurance, housing_fund, bank_account).
    items: list[StageName] = Field(default_factory=list)
    employees: int | None = None
    bank: str | None = Field(default=None, max_length=120)
    clock: Clock = "working_hours"
    promises: list[StagePromise] = Field(default_factory=promises_of)

    @classmethod
    def from_application(
        cls,
        application: Application,
        *,
        workflow_id: str,
        accepted_at: datetime,
        generated_at: datetime,
        policy: SlaPolicy | None = None,
        deadlines: dict[str, datetime] | None = None,
    ) -> AcceptanceReceiptData:
        policy = policy or SlaPolicy()
        items: list[StageName] = [
            name for name in EXTRA_ITEMS if getattr(application, name, None) is not None
        ]
        employees = application.social_insurance or application.housing_fund
        bank = application.bank_account
        return cls(
            items=items,
            employees=employees.employees if employees else None,
            bank=f"{bank.bank}{bank.branch or ''}" if bank else None,
            application_id=application.application_id,
            generated_at=generated_at,
            workflow_id=workflow_id,
            enterprise_name=application.enterprise.name,
            kind=application.enterprise.kind,
            district_code=application.enterprise.district_code,
            accepted_at=accepted_at,
            seals=list(application.seals),
            invoice=application.invoice.kind if application.invoice else None,
            delivery_method=application.delivery.method,
            inbound_materials=application.delivery.inbound_materials,
            clock=policy.clock,
            promises=promises_of(policy.limits, deadlines, items),
        )


# --- 营业执照 ---------------------------------------------------------------------------------


class BusinessLicenceData(_CaseDocument):
    """营业执照: the registration system's electronic licence, as issued (``Licence``)."""

    document: Literal["business_licence"] = "business_licence"
    licence: Licence


# --- 首套印章免费刻制凭证 -----------------------------------------------------------------------


class SealLine(_Model):
    """One seal of the order: its contracted price and who pays it."""

    kind: SealKind
    price_cny: Money
    paid_by: Literal["city", "enterprise"]


class SubsidyVoucherData(_CaseDocument):
    """首套印章免费刻制凭证: the seals the city pays the shop for, and the extras the enterprise pays."""

    document: Literal["subsidy_voucher"] = "subsidy_voucher"
    grant_id: Text
    enterprise_name: Text
    uscc: Uscc
    shop_id: Text
    shop_name: Text
    order_id: str | None = None
    seals: list[SealLine] = Field(min_length=1)
    city_pays_cny: Money
    enterprise_pays_cny: Money
    granted_at: AwareDatetime

    @model_validator(mode="after")
    def _amounts_add_up(self) -> Self:
        total = sum((line.price_cny for line in self.seals), Decimal("0.00"))
        covered = sum((line.price_cny for line in self.seals if line.paid_by == "city"), Decimal("0.00"))
        if self.city_pays_cny + self.enterprise_pays_cny != total:
            raise ValueError(
                f"the city's {self.city_pays_cny} and the enterprise's {self.enterprise_pays_cny} "
                f"do not add up to the seals' {total}"
            )
        if self.city_pays_cny > covered:
            raise ValueError(f"the city pays {self.city_pays_cny}, more than the covered seals' {covered}")
        return self


# --- EMS 邮件详情单 ---------------------------------------------------------------------------


class PostalParty(_Model):
    """Sender or recipient on a waybill; the district (if given) is printed before the address."""

    name: Text
    phone: str | None = Field(default=None, max_length=30)
    district_code: DistrictCode | None = None
    address: Text


class WaybillLabelData(_CaseDocument):
    """EMS 邮件详情单: outbound (licence and seals to the applicant) or prepaid inbound (回寄)."""

    document: Literal["waybill_label"] = "waybill_label"
    waybill_no: WaybillNo
    direction: Literal["outbound", "inbound"]
    sender: PostalParty
    recipient: PostalParty
    contents: list[Text] = Field(min_length=1, max_length=20)
    booked_at: AwareDatetime

    @property
    def name(self) -> DocumentName:
        """The stored document's name: ``waybill_label`` or ``inbound_waybill_label``."""
        return "waybill_label" if self.direction == "outbound" else "inbound_waybill_label"


# --- 一日办结告知单 ---------------------------------------------------------------------------


Verdict = Literal["on_time", "late", "open", "skipped"]


class StageTiming(_Model):
    """One stage of the case against its promise."""

    stage: StageName
    state: StageState
    limit: Duration | None = None
    started_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None
    deadline: AwareDatetime | None = None

    @property
    def verdict(self) -> Verdict:
        if self.state in ("skipped", "cancelled"):
            return "skipped"
        if self.finished_at is None:
            return "open"
        if self.deadline is not None and self.finished_at > self.deadline:
            return "late"
        return "on_time"


class CompletionNoticeData(_CaseDocument):
    """一日办结告知单: each stage's times against its promise, and the overall result."""

    document: Literal["completion_notice"] = "completion_notice"
    workflow_id: Text
    enterprise_name: Text
    uscc: Uscc
    accepted_at: AwareDatetime
    completed_at: AwareDatetime
    clock: Clock = "working_hours"
    stages: list[StageTiming] = Field(min_length=1)
    delivery_method: DeliveryMethod | None = None
    waybill_no: WaybillNo | None = None
    pickup_at: str | None = Field(default=None, max_length=200)

    @property
    def on_time(self) -> bool:
        return all(s.verdict != "late" for s in self.stages)

    @classmethod
    def from_status(
        cls,
        status: StatusDocument,
        *,
        enterprise_name: str,
        generated_at: datetime,
        policy: SlaPolicy | None = None,
    ) -> CompletionNoticeData:
        """The notice of a completed case, from its status document and the policy it ran under."""
        if status.uscc is None or status.completed_at is None:
            raise ValueError("a completion notice is made for a completed case with a USCC")
        policy = policy or SlaPolicy()
        stages = [
            StageTiming(
                stage=name,
                state=stage.state,
                limit=getattr(policy.limits, name),
                started_at=stage.started_at,
                finished_at=stage.finished_at,
                deadline=stage.deadline,
            )
            for name in STAGE_NAMES
            # The items after registration only when applied for; the core stages always.
            if (stage := getattr(status.stages, name)) is not None
            and not (name in EXTRA_ITEMS and stage.state == "skipped")
        ]
        delivery = status.delivery
        return cls(
            application_id=status.application_id,
            generated_at=generated_at,
            workflow_id=status.workflow_id,
            enterprise_name=enterprise_name,
            uscc=status.uscc,
            accepted_at=status.accepted_at,
            completed_at=status.completed_at,
            clock=policy.clock,
            stages=stages,
            delivery_method=delivery.method if delivery else None,
            waybill_no=delivery.waybill_no if delivery else None,
            pickup_at=delivery.pickup_at if delivery else None,
        )


# --- 月度结算单 -------------------------------------------------------------------------------


class StatementEntry(_Model):
    """One enterprise's first seals that the city pays the shop for."""

    grant_id: Text
    enterprise_name: Text
    uscc: Uscc
    seals: list[SealKind] = Field(min_length=1)
    amount_cny: Money
    settled_at: AwareDatetime | None = None


class SubsidyStatementData(_Model):
    """A seal shop's monthly statement of first-seal subsidies, for the finance office."""

    document: Literal["subsidy_statement"] = "subsidy_statement"
    month: Month
    shop_id: Text
    shop_name: Text
    entries: list[StatementEntry]
    total_cny: Money
    generated_at: AwareDatetime

    @model_validator(mode="after")
    def _total_adds_up(self) -> Self:
        total = sum((e.amount_cny for e in self.entries), Decimal("0.00"))
        if total != self.total_cny:
            raise ValueError(f"the entries add up to {total}, not the total {self.total_cny}")
        return self


CaseDocumentData = Annotated[
    AcceptanceReceiptData
    | BusinessLicenceData
    | SubsidyVoucherData
    | WaybillLabelData
    | CompletionNoticeData,
    Field(discriminator="document"),
]
"""Any document of a case, for one ``render_case_document`` activity."""


def document_name(data: CaseDocumentData) -> DocumentName:
    """The name a case document is stored and listed under (the status document's ``documents``)."""
    if isinstance(data, WaybillLabelData):
        return data.name
    return data.document
