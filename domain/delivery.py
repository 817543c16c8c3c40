"""Free postal delivery (免费寄递) of the licence and seals: what the ``PostalDelivery`` child
workflow takes and reports, and what its EMS activities send and get back."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator

from domain.application import Delivery
from domain.districts import local_name
from domain.status import DeliveryStatus, HistoryEntry

Direction = Literal["outbound", "inbound"]
# The status document's ``delivery.state`` (``DeliveryStatus`` in ``/openapi.json``).
DeliveryState = Literal[
    "not_applicable",
    "awaiting_dispatch",
    "booked",
    "collected",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "failed_attempt",
    "ready_for_pickup",
]
FINAL_DELIVERY_STATES: frozenset[str] = frozenset({"delivered", "ready_for_pickup"})

DEFAULT_CONTENTS = ["business_licence", "seals"]
INBOUND_CONTENTS = ["application_materials"]
PICKUP_WINDOW = "企业开办窗口"
# The service centre's window line as printed on inbound labels (a placeholder until the centres
# name theirs; EMS wants a mobile or a landline like 0372-1234567).
CENTRE_PHONE = "0372-2012345"

# ApplicationError types the delivery activities raise and the workflow branches on.
ALREADY_COLLECTED = "AlreadyCollected"
"""EMS has collected (or returned) the parcel: its recipient can no longer change."""
NO_FAILED_ATTEMPT = "NoFailedAttempt"
"""A redelivery was asked for while no failed attempt awaits one."""
ALREADY_DELIVERED = "AlreadyDelivered"
"""A return was asked for after the parcel was delivered."""
INVALID_WAYBILL_NUMBER = "InvalidWaybillNumber"
"""EMS answered with an item number that is not a valid UPU S10 number."""
DELIVERY_ERROR_TYPES = [ALREADY_COLLECTED, NO_FAILED_ATTEMPT, ALREADY_DELIVERED, INVALID_WAYBILL_NUMBER]


def service_centre(district_code: str) -> str:
    """The district's government service centre (政务服务中心), where EMS returns parcels."""
    return f"{local_name(district_code)}政务服务中心"


def pickup_centre(district_code: str) -> str:
    """Where a pickup package waits: ``安阳市文峰区政务服务中心 企业开办窗口``."""
    return f"{service_centre(district_code)} {PICKUP_WINDOW}"


class Recipient(BaseModel):
    """The recipient block of an EMS waybill."""

    name: str
    phone: str
    district_code: str
    address: str

    @classmethod
    def of(cls, delivery: Delivery) -> Recipient:
        """The recipient of a postal delivery (the gateway validated that every part is there)."""
        if delivery.method != "postal" or None in (
            delivery.recipient,
            delivery.phone,
            delivery.district_code,
            delivery.address,
        ):
            raise ValueError("only a complete postal delivery has a recipient")
        assert delivery.recipient and delivery.phone and delivery.district_code and delivery.address
        return cls(
            name=delivery.recipient,
            phone=delivery.phone,
            district_code=delivery.district_code,
            address=delivery.address,
        )

    @classmethod
    def centre(cls, district_code: str) -> Recipient:
        """The service centre's window: the recipient of a prepaid inbound label (双向寄递)."""
        return cls(
            name=f"{service_centre(district_code)}{PICKUP_WINDOW}",
            phone=CENTRE_PHONE,
            district_code=district_code,
            address=service_centre(district_code),
        )


# ------------------------------------------------------------------ the child workflow
class DeliveryInput(BaseModel):
    """Input of the ``PostalDelivery`` workflow."""

    application_id: str
    workflow_id: str
    """The case's workflow (``setup-<application_id>``); the idempotency keys are scoped to it."""
    delivery: Delivery
    contents: list[str] = Field(default_factory=lambda: list(DEFAULT_CONTENTS))
    sender_district_code: str
    """The case's district: its service centre sends the parcel and keeps it for pickup."""
    callback_url: str
    """Where EMS posts tracking events; empty: the worker's gateway (``ODS_GATEWAY_URL`` +
    ``/v1/callbacks/postal``), filled in by the booking activity."""
    max_attempts: int = Field(default=3, ge=1, le=10)
    pickup_centre: str = ""
    """Where the package waits if it is picked up; defaults to the district's centre window."""
    parent_workflow_id: str | None = None
    operator_actions: bool = False
    """The case relays operators' actions (``operator_action`` signal): a booking EMS refuses
    waits for one instead of falling back to pickup at once. False in deliveries from before."""
    """Signalled ``delivery_progress`` after each state change (best effort); None: nobody."""

    @model_validator(mode="after")
    def _default_centre(self) -> Self:
        if not self.pickup_centre:
            self.pickup_centre = pickup_centre(self.sender_district_code)
        return self


class AddressChange(BaseModel):
    """Argument of the ``change_address`` update: the new delivery (validated by ``parse_delivery``)."""

    delivery: Delivery


class DeliveryOutcome(DeliveryStatus):
    """The result of ``PostalDelivery`` and the answer of its ``status`` query.

    ``method``, ``waybill_no``, ``state``, ``pickup_at`` are the status document's ``delivery``
    (see :meth:`as_status`); ``attempts`` counts delivery attempts made, ``history`` the changes.
    """

    attempts: int = 0
    history: list[HistoryEntry] = Field(default_factory=list)

    def as_status(self) -> DeliveryStatus:
        return DeliveryStatus(
            method=self.method, waybill_no=self.waybill_no, state=self.state, pickup_at=self.pickup_at
        )

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_DELIVERY_STATES


class DeliveryProgress(BaseModel):
    """Signal ``delivery_progress`` to the case: the delivery now, and the change that made it so."""

    application_id: str
    delivery: DeliveryStatus
    entry: HistoryEntry
    attempts: int = 0
    refusal: str | None = None
    """EMS refused the booking, in its words: the case asks an operator (``operator_actions``)."""

    @property
    def is_final(self) -> bool:
        return self.delivery.state in FINAL_DELIVERY_STATES


# ------------------------------------------------------------------ EMS activities
class WaybillBooking(BaseModel):
    """Book a shipment (effect: a waybill). The key is made once in the workflow."""

    application_id: str
    direction: Direction
    recipient: Recipient
    contents: list[str] = Field(min_length=1)
    callback_url: str | None = None
    """Required for outbound parcels; optional for inbound labels."""
    idempotency_key: str = Field(min_length=1, max_length=200)


class Waybill(BaseModel):
    """EMS's waybill document (the recipient is left out on purpose: it is personal data and the
    workflow already has it)."""

    waybill_no: str
    application_id: str
    direction: Direction
    status: str
    booked_at: datetime
    attempts: int = 0
    amendments: int = 0


class WaybillAmendment(BaseModel):
    """Replace the recipient of a waybill that EMS has not collected yet (no new effect)."""

    waybill_no: str
    recipient: Recipient
    idempotency_key: str | None = None


class RedeliveryRequest(BaseModel):
    """Another delivery attempt after a failed one; the key makes a retried request safe."""

    waybill_no: str
    attempt: int
    idempotency_key: str = Field(min_length=1, max_length=200)


class Redelivery(BaseModel):
    waybill_no: str
    status: str
    attempt: int


class ReturnRequest(BaseModel):
    """Give up delivering: EMS returns the parcel to the service centre."""

    waybill_no: str
    idempotency_key: str | None = None


class WaybillReturn(BaseModel):
    waybill_no: str
    status: str
