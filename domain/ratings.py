"""Ratings (好差评): a closed case rated once by its applicant, and the follow-up of a bad rating.

The national rules (国办发〔2019〕51号, GB/T 39734 "一事一评"): five levels, the last two bad
(差评); a bad rating goes to the unit that handled what it is about (谁办理、谁负责), someone calls the
applicant back (回访核实), the case is put right at once (立行立改), by a date (限期整改) or explained
(解释说明), the answer goes back to the applicant, who rates it. A unit may appeal (申诉); someone
else decides (复核), and an upheld appeal keeps the rating on record but out of the unit's score.

Nothing here names the rater: a rating carries its case's id, what it is about and the unit; its
comment (masked like every free text, ``infra/privacy.py``) lives only in the follow-up's encrypted
payloads, never in the service database, a search attribute, a summary or a report.
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from domain.actions import NOTE_MAX_LENGTH, IdempotencyKey, _Action
from domain.application import TEXT_PATTERN
from domain.sla_policy import SlaPolicy
from domain.status import StageName
from domain.validation import operator_required_in_the_document

RatingLevel = Literal[
    "very_satisfied", "satisfied", "basically_satisfied", "dissatisfied", "very_dissatisfied"
]
RATING_LEVELS: tuple[RatingLevel, ...] = (
    "very_satisfied",
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
    "very_dissatisfied",
)
GOOD_LEVELS: frozenset[str] = frozenset({"very_satisfied", "satisfied"})
BAD_LEVELS: frozenset[str] = frozenset({"dissatisfied", "very_dissatisfied"})
LEVEL_NAMES: dict[str, str] = {
    "very_satisfied": "非常满意",
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "dissatisfied": "不满意",
    "very_dissatisfied": "非常不满意",
}

# What a rating is about: the whole case (overall), one of its stages, the delivery, or the staff.
RatingAbout = Literal[StageName, "staff"]
FollowUpState = Literal["open", "claimed", "called_back", "resolved", "answered", "appealed", "closed"]
ResolutionKind = Literal["immediate", "by_date", "explained"]
Verdict = Literal["satisfied", "basically_satisfied", "dissatisfied"]
FollowUpActionName = Literal["claim", "called_back", "resolve", "appeal", "decide_appeal"]
AppealOutcome = Literal["pending", "upheld", "refused"]

COMMENT_MAX_LENGTH = 500
RATING_FOLLOW_UP_WORKFLOW = "RatingFollowUp"
# The update refusals a follow-up answers with (service/ratings.py turns them into 409 and 403).
FOLLOW_UP_CLOSED = "FollowUpClosed"
APPEAL_BY_ITS_AUTHOR = "AppealDecidedByItsAuthor"
VERDICT_NOT_DUE = "VerdictNotDue"


def handling_unit(district_code: str, about: str) -> str:
    """Who answers for what a rating is about (谁办理、谁负责): the district's service centre for the
    case, its staff and its stages; the window a monthly ranking names."""
    return f"{district_code}/{about}"


class RatingBody(BaseModel):
    """The body of ``POST /v1/applications/{id}/rating``."""

    model_config = ConfigDict(extra="forbid")

    level: RatingLevel = Field(description="非常满意 … 非常不满意; the last two are bad ratings (差评)")
    about: RatingAbout = Field(
        default="overall", description="what the rating is about: the case, a stage, the delivery, the staff"
    )
    comment: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=COMMENT_MAX_LENGTH)] | None
    ) = Field(
        default=None,
        description="a short text (ID and mobile numbers in it are masked)",
        json_schema_extra={"pattern": "^[^\\x00]*$"},
    )


class RatingAnswer(BaseModel):
    rating_id: str
    follow_up: str | None = Field(
        description="the follow-up's workflow id; null for a rating that is not bad"
    )


class Rating(BaseModel):
    """A rating as the service database keeps it: no comment, nothing of the rater."""

    model_config = ConfigDict(frozen=True)

    rating_id: str
    application_id: str
    level: RatingLevel
    about: RatingAbout
    unit: str
    district_code: str
    rated_at: AwareDatetime
    follow_up: str | None = None


class FollowUpInput(BaseModel):
    """What a ``RatingFollowUp`` starts with: the rating, the case's district and name (its alerts
    carry them like a case's), the masked comment, and the policy in force when it was made."""

    rating: Rating
    enterprise_name: str
    comment: str | None = None
    policy: SlaPolicy = Field(default_factory=SlaPolicy)
    portal_webhooks: list[str] = Field(default_factory=list)


class Resolution(BaseModel):
    kind: ResolutionKind
    answer: str
    by: str
    date: dt.date | None = None
    at: AwareDatetime | None = None


class Appeal(BaseModel):
    by: str
    reason: str
    at: AwareDatetime
    upheld: bool | None = None
    decided_by: str | None = None
    decided_at: AwareDatetime | None = None


class FollowUpEntry(BaseModel):
    at: datetime
    event: str
    detail: str = ""


class FollowUpDocument(BaseModel):
    """``GET /v1/ratings/{rating_id}``: the follow-up of a bad rating."""

    rating_id: str
    application_id: str
    workflow_id: str
    level: RatingLevel
    about: RatingAbout
    unit: str
    district_code: str
    rated_at: datetime
    comment: str | None = None
    state: FollowUpState = "open"
    owner: str | None = None
    call_back_due: datetime | None = None
    resolve_due: datetime | None = None
    called_back_at: datetime | None = None
    resolution: Resolution | None = None
    applicant_verdict: Verdict | None = None
    appeal: Appeal | None = None
    history: list[FollowUpEntry] = Field(default_factory=list)


# --- operators' actions on a follow-up ----------------------------------------------------------
_Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NOTE_MAX_LENGTH, pattern=TEXT_PATTERN),
]


class Claim(_Action):
    action: Literal["claim"]


class CalledBack(_Action):
    action: Literal["called_back"]
    outcome: _Text = Field(description="what the call found (回访核实), for the follow-up's history")


def _by_date_needs_a_date(schema: dict[str, Any]) -> None:
    operator_required_in_the_document(schema)
    schema["if"] = {"properties": {"kind": {"const": "by_date"}}, "required": ["kind"]}
    schema["then"] = {"required": ["date"], "properties": {"date": {"type": "string", "format": "date"}}}


class Resolve(_Action):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_by_date_needs_a_date)

    action: Literal["resolve"]
    kind: ResolutionKind = Field(description="immediate 立行立改, by_date 限期整改, explained 解释说明")
    answer: _Text = Field(description="the answer to the applicant, sent to the portal")
    date: dt.date | None = Field(
        default=None,
        validate_default=True,
        description="by_date (required there): the date it is put right by",
    )

    @field_validator("date")
    @classmethod
    def _by_date_has_a_date(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        if info.data.get("kind") == "by_date" and value is None:
            raise ValueError("a by_date resolution names the date it is put right by")
        return value


class AppealRating(_Action):
    action: Literal["appeal"]
    reason: _Text = Field(description="why the unit holds the rating mistaken or false (申诉)")


class DecideAppeal(_Action):
    action: Literal["decide_appeal"]
    upheld: bool = Field(description="true: the rating stays on record, out of the unit's score (复核)")


class FollowUpActionRequest(
    RootModel[
        Annotated[Claim | CalledBack | Resolve | AppealRating | DecideAppeal, Field(discriminator="action")]
    ]
):
    """The body of ``POST /v1/ratings/{rating_id}/actions``."""

    def fields(self) -> dict[str, object]:
        body = self.root
        return {
            name: getattr(body, name, None)
            for name in ("outcome", "kind", "answer", "date", "reason", "upheld")
        }


class FollowUpAction(BaseModel):
    """An action as the follow-up receives it: the operator's name settled by the gateway."""

    action: FollowUpActionName
    operator: str
    note: str = ""
    outcome: str | None = None
    kind: ResolutionKind | None = None
    answer: str | None = None
    date: dt.date | None = None
    reason: str | None = None
    upheld: bool | None = None
    idempotency_key: IdempotencyKey | None = None


class VerdictBody(BaseModel):
    """The body of ``POST /v1/ratings/{rating_id}/verdict``: the applicant's verdict on the answer."""

    model_config = ConfigDict(extra="forbid")

    verdict: Verdict


class RatingProgress(BaseModel):
    """What a follow-up tells the service database as it goes (the reports count it); only the
    fields given change."""

    rating_id: str
    state: FollowUpState
    call_back_due: AwareDatetime | None = None
    resolve_due: AwareDatetime | None = None
    called_back_at: AwareDatetime | None = None
    answered_at: AwareDatetime | None = None
    resolution_kind: ResolutionKind | None = None
    appeal: AppealOutcome | None = None
    verdict: Verdict | None = None
    closed_at: AwareDatetime | None = None
