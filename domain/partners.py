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
