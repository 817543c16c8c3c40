"""An operator's action on a case (``POST /v1/applications/{id}/actions``, ``starter.py act``).

docs/operations.md tells when each is offered and what it does; the case's ``act`` update
(``workflows/enterprise_setup.py``) checks that it is offered now and records it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.status import ActionName, StageName

ACTION_NOT_OFFERED = "ActionNotOffered"

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ShopId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,64}$")]
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ActionRequest(BaseModel):
    """The body of ``POST /v1/applications/{id}/actions``."""

    model_config = ConfigDict(extra="forbid")

    action: ActionName = Field(description="retry_stage, reassign_seal_shop, switch_to_pickup or reject")
    operator: Name | None = Field(
        default=None,
        description="who acts; with a personal ops token the token's name (a different one is a 403)",
    )
    note: Text = Field(default="", description="why, for the case's history")
    stage: StageName | None = Field(
        default=None, description="retry_stage: the stage to retry (optional when only one offers it)"
    )
    shop_id: ShopId | None = Field(
        default=None, description="reassign_seal_shop: the new shop (default: the district's next shop)"
    )
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] | None = (
        Field(default=None, description="reject: why the case is rejected (required)")
    )

    @model_validator(mode="after")
    def _fields_of_the_action(self) -> ActionRequest:
        if self.action == "reject" and not self.reason:
            raise ValueError("reject needs a reason")
        if self.shop_id is not None and self.action != "reassign_seal_shop":
            raise ValueError("shop_id goes with reassign_seal_shop only")
        if self.stage is not None and self.action != "retry_stage":
            raise ValueError("stage goes with retry_stage only")
        if self.reason is not None and self.action != "reject":
            raise ValueError("reason goes with reject only")
        return self


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
