"""An operator's action on a case (``POST /v1/applications/{id}/actions``, ``starter.py act``).

docs/operations.md tells when each is offered and what it does; the case's ``act`` update
(``workflows/enterprise_setup.py``) checks that it is offered now and records it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints

from domain.application import TEXT_PATTERN
from domain.privacy import MaskedText
from domain.status import ActionName, StageName
from domain.validation import operator_required_in_the_document, validated

ACTION_NOT_OFFERED = "ActionNotOffered"
# An operator's name and note, wherever they are kept (actions, acknowledgements, the alerts table).
OPERATOR_MAX_LENGTH = 100
NOTE_MAX_LENGTH = 1000

ShopId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,64}$")]
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=operator_required_in_the_document)

    operator: (
        Annotated[
            str,
            StringConstraints(
                strip_whitespace=True, min_length=1, max_length=OPERATOR_MAX_LENGTH, pattern=TEXT_PATTERN
            ),
        ]
        | None
    ) = Field(
        default=None,
        description="who acts: required with the shared ops token; with a personal ops token the token's "
        "name (which may be left out; another name is a 403)",
        examples=["王敏"],
    )
    # Kept in the case's history, the alerts table and the webhooks: ID numbers and phones masked.
    note: Annotated[MaskedText, StringConstraints(strip_whitespace=True, max_length=NOTE_MAX_LENGTH)] = Field(
        default="",
        description="why, for the case's history (ID numbers and phone numbers in it are masked)",
        json_schema_extra={"pattern": "^[^\\x00]*$"},
    )


class RetryStage(_Action):
    action: Literal["retry_stage"]
    stage: StageName | None = Field(
        default=None, description="the stage to retry (may be left out when only one stage offers it)"
    )


class ReassignSealShop(_Action):
    action: Literal["reassign_seal_shop"]
    shop_id: ShopId | None = Field(
        default=None,
        description="one of the district's other shops (`attention.candidates`); default the next",
    )


class SwitchToPickup(_Action):
    action: Literal["switch_to_pickup"]


class Reject(_Action):
    action: Literal["reject"]
    reason: Annotated[
        MaskedText,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=TEXT_PATTERN),
    ] = Field(
        description="why the case is rejected (the status document's `reason`; ID numbers and phone "
        "numbers in it are masked)"
    )


class ActionRequest(
    RootModel[
        Annotated[RetryStage | ReassignSealShop | SwitchToPickup | Reject, Field(discriminator="action")]
    ]
):
    """The body of ``POST /v1/applications/{id}/actions``: one of the four actions, with its fields."""

    def fields(self) -> dict[str, str | None]:
        """The action's own fields (stage, shop_id, reason) as ``OperatorAction`` takes them."""
        body = self.root
        return {
            "stage": getattr(body, "stage", None),
            "shop_id": getattr(body, "shop_id", None),
            "reason": getattr(body, "reason", None),
        }


def parse_action(data: object) -> ActionRequest:
    """The body of an action; ``ApplicationInvalid`` naming each field as the body has it
    (``reason``, not the union's ``reject.reason``; ``action`` for a missing or unknown one)."""
    return validated(ActionRequest, data)


class OperatorAction(BaseModel):
    """The action as the case receives it: the operator's name settled by the gateway."""

    action: ActionName
    operator: str
    note: str = ""
    stage: StageName | None = None
    shop_id: str | None = None
    reason: str | None = None
    # The request's Idempotency-Key: a repeat is answered and changes nothing.
    idempotency_key: IdempotencyKey | None = None

    @property
    def summary(self) -> str:
        extra = self.stage or self.shop_id or self.reason
        said = f"{self.action}" + (f" ({extra})" if extra else "")
        return f"{said} by {self.operator}" + (f": {self.note}" if self.note else "")
