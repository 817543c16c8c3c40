"""What crosses the boundary with the partner systems: activity inputs and results, callbacks."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from domain.application import Application, InvoiceKind, SealKind
from domain.sla_policy import SlaPolicy
from domain.subsidy_policy import SubsidyPolicy


class SetupInput(BaseModel):
    """Input of the ``EnterpriseSetup`` workflow."""

    application: Application
    # Captured when the case starts, so editing the policy file never changes a running case.
    sla_policy: SlaPolicy = Field(default_factory=SlaPolicy)
    subsidy_policy: SubsidyPolicy = Field(default_factory=SubsidyPolicy)
    # Where the portal hears of each stage change (ODS_PORTAL_WEBHOOKS when the case started).
    portal_webhooks: list[str] = Field(default_factory=list)


class Licence(BaseModel):
    """The electronic business licence (营业执照) the registration system issues."""

    filing_id: str
    uscc: str
    name: str
    kind: str
    registered_capital_cny: Decimal
    legal_representative: str
    address: str
    business_scope: list[str]
    district_code: str
    issued_at: datetime
    authority: str


class RegistrationFiling(BaseModel):
    application: Application
    idempotency_key: str


class SealOrderRequest(BaseModel):
    application_id: str
    uscc: str
    enterprise_name: str
    legal_representative_name: str
    seals: list[SealKind]
    idempotency_key: str
    shop_id: str | None = None
    """One of the district's seal shops (``list_seal_shops``); None: the district's first."""


class SealShop(BaseModel):
    """A licensed seal shop of a district, as the seal-shop API lists it."""

    shop_id: str
    shop_name: str


class SealOrder(BaseModel):
    order_id: str
    shop_id: str
    shop_name: str
    seals: list[SealKind]
    prices_cny: dict[str, Decimal] = Field(default_factory=dict)
    accepted_at: datetime


class InvoiceAllotmentRequest(BaseModel):
    application_id: str
    uscc: str
    enterprise_name: str
    kind: InvoiceKind
    monthly_quota: int
    idempotency_key: str


class InvoiceAllotment(BaseModel):
    allotment_id: str
    uscc: str
    kind: str
    monthly_quota: int
    tax_authority: str
    issued_at: datetime


class SocialInsuranceRequest(BaseModel):
    """Employees' social insurance registration (员工参保登记) at the district's human resources and
    social security bureau."""

    application_id: str
    uscc: str
    enterprise_name: str
    employees: int
    idempotency_key: str


class SocialInsuranceRegistration(BaseModel):
    """The unit's social insurance registration, as the bureau made it."""

    registration_no: str
    """The unit's 14-digit social insurance number: district code, 2-digit year, 6-digit serial."""
    uscc: str
    employees: int
    bureau: str
    """安阳市文峰区人力资源和社会保障局, 林州市人力资源和社会保障局, …"""
    registered_at: datetime


class HousingFundRequest(BaseModel):
    """Housing provident fund registration (住房公积金缴存登记) at the housing fund centre."""

    application_id: str
    uscc: str
    enterprise_name: str
    employees: int
    idempotency_key: str


class HousingFundAccount(BaseModel):
    """The unit's housing provident fund account, as the centre opened it."""

    account_no: str
    uscc: str
    employees: int
    centre: str
    """安阳市住房公积金管理中心."""
    office: str
    """The district's managing department: 安阳市住房公积金管理中心文峰区管理部, …"""
    opened_at: datetime


class BankAppointmentRequest(BaseModel):
    """An appointment to open the basic deposit account (银行预约开户) at a bank in Anyang."""

    application_id: str
    uscc: str
    enterprise_name: str
    bank: str
    """One of ``domain.banks.ANYANG_BANKS``."""
    legal_representative_name: str
    idempotency_key: str
    branch: str | None = None
    """One of the bank's branches in Anyang; None: the bank's main branch."""


class BankAppointment(BaseModel):
    """The booked appointment: where and when the legal representative opens the account."""

    appointment_id: str
    bank: str
    branch: str
    branch_address: str
    appointment_at: datetime
    """A half-hour slot on a working day within 09:00–17:00 Asia/Shanghai, ≥ 2 h after booking."""
    booked_at: datetime


class PendingOrdersCancellation(BaseModel):
    application_id: str
    reason: str


class PartnerEvent(BaseModel):
    """A partner's signed callback (seal completion, postal tracking), as the gateway passes it on."""

    partner: str = ""
    event_id: str
    event: str
    application_id: str
    occurred_at: datetime
    data: dict[str, Any] = Field(default_factory=dict)


class WithdrawRequest(BaseModel):
    reason: str | None = Field(default=None, max_length=500)
