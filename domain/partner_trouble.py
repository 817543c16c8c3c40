"""What is wrong with a partner that has not answered successfully for the policy's
``partner_patience``, as an operator is told it (docs/operations.md; ../shared/CONTRACT.md
section 9): the partner's last failed answer, read from the pending call's last failure."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from domain.status import StageName

TroubleKind = Literal["http", "timeout", "unreachable", "transport"]

# The activities that call a stage's partner (their registered names): the pending one of these
# holds the partner's last failed answer.
PARTNER_CALLS: dict[StageName, tuple[str, ...]] = {
    "registration": ("file_registration",),
    "seal_carving": ("order_seals",),
    "invoice": ("issue_first_invoices",),
    "social_insurance": ("register_social_insurance",),
    "housing_fund": ("open_housing_fund_account",),
    "bank_account": ("book_bank_appointment",),
    "delivery": ("book_waybill",),
}


class TroubleQuery(BaseModel):
    """Which workflow's pending calls to look at, and which activities call the partner."""

    workflow_id: str
    activity_types: list[str]


class PartnerTrouble(BaseModel):
    """The last failure of a pending partner call: its HTTP status (None without an answer) and
    kind (activities/partners.py ``PartnerUnavailable``), and the attempts made so far."""

    status: int | None
    kind: TroubleKind
    attempts: int


_STATUS_WORDS = {
    401: "refuses our credentials",
    403: "refuses us access",
    404: "does not find what we call",
    408: "times out our requests",
    409: "answers with a conflict it does not document",
    429: "asks us to slow down",
}
_KIND_WORDS = {
    "timeout": "does not answer in time",
    "unreachable": "cannot be reached",
    "transport": "breaks off the connection",
}


def trouble_words(partner: str, trouble: PartnerTrouble) -> str:
    """``the tax bureau refuses our credentials (401)``: the partner, what it does, the status."""
    status = trouble.status
    if status is None:
        return f"{partner} {_KIND_WORDS.get(trouble.kind, 'does not answer')}"
    if status in _STATUS_WORDS:
        return f"{partner} {_STATUS_WORDS[status]} ({status})"
    if status >= 500:
        return f"{partner} is failing ({status})"
    return f"{partner} answers {status}"
