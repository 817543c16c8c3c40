"""How the sandbox's partners behave: their latency, their outages, their faults, how long work takes.

Set through ``PUT /_sandbox/behaviour`` (docs/partner-api.md, "Sandbox controls") with any part
of the whole; the rest keeps its value.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Partner = Literal["registration", "seal_shop", "tax", "postal", "social_insurance", "housing_fund", "bank"]
PARTNERS: tuple[Partner, ...] = get_args(Partner)

_DAY_S = 86_400.0


class Fault(BaseModel):
    """Every call to the partner answered with ``status`` (no work done) for ``for_s`` seconds
    from when it was set (docs/partner-api.md, "Sandbox controls")."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    status: int = Field(ge=400, le=599, strict=True)
    for_s: float = Field(gt=0, le=_DAY_S, strict=True)
    retry_after_s: int = Field(default=0, ge=0, le=_DAY_S, strict=True)
    """Sent as a ``Retry-After`` header (whole seconds) when above 0."""
    message: str | None = Field(default=None, min_length=1, max_length=1000, strict=True)
    """The error's ``message`` in the answer instead of the sandbox's own: a partner's words, as a
    test wants them (one with an ID number in it, say)."""


class PartnerBehaviour(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    latency_s: float = Field(default=0.0, ge=0, le=30, strict=True)
    """Delay of each answer (seal shop: of the completion callback; postal: of each event)."""
    error_rate: float = Field(default=0.0, ge=0, le=1, strict=True)
    """Share of calls answered 503; half of those after the work was done."""
    faults: Fault | None = None
    """A fault in force (or ended: ``SandboxState.fault`` says which); null: none."""
    hang_s: float = Field(default=0.0, ge=0, le=120, strict=True)
    """How long each answer of the partner's API is held before it is sent (every partner, the
    seal shop and EMS included; besides ``latency_s``)."""


class SealShopBehaviour(PartnerBehaviour):
    carving_s: float = Field(default=1.0, ge=0, le=_DAY_S, strict=True)
    """How long carving a set of seals takes before the completion callback (plus latency_s)."""
    hold: bool = Field(default=False, strict=True)
    """Orders taken while true are held: carved only when ``POST
    /_sandbox/seal-shop/orders/{order_id}/finish`` says so, however long that takes
    (``carving_s`` does not apply to them). Decided when an order is taken: turning it off
    releases nothing already held."""


class PostalBehaviour(PartnerBehaviour):
    collect_after_s: float = Field(default=1.0, ge=0, le=_DAY_S, strict=True)
    """How long after booking the courier collects an outbound parcel."""
    hold: bool = Field(default=False, strict=True)
    """Waybills booked while true are held: each tracking step (the collection first) happens
    only when ``POST /_sandbox/postal/waybills/{waybill_no}/advance`` says so, however long that
    takes (``collect_after_s`` and ``latency_s`` do not pace them). Decided at booking: turning
    it off releases nothing already held."""


class Behaviour(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registration: PartnerBehaviour = Field(default_factory=PartnerBehaviour)
    seal_shop: SealShopBehaviour = Field(default_factory=SealShopBehaviour)
    tax: PartnerBehaviour = Field(default_factory=PartnerBehaviour)
    postal: PostalBehaviour = Field(default_factory=PostalBehaviour)
    social_insurance: PartnerBehaviour = Field(default_factory=PartnerBehaviour)
    housing_fund: PartnerBehaviour = Field(default_factory=PartnerBehaviour)
    bank: PartnerBehaviour = Field(default_factory=PartnerBehaviour)

    def of(self, partner: Partner) -> PartnerBehaviour:
        behaviour: PartnerBehaviour = getattr(self, partner)
        return behaviour


class BehaviourProblem(ValueError):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {msg}" for field, msg in problems))
        self.problems = problems


def merge_behaviour(current: Behaviour, change: Any) -> Behaviour:
    """``current`` with the parts named in ``change`` replaced; raises BehaviourProblem."""
    if not isinstance(change, dict):
        raise BehaviourProblem([("", "the behaviour is a JSON object keyed by partner")])
    merged = current.model_dump()
    problems: list[tuple[str, str]] = []
    for partner, part in change.items():
        if partner not in merged:
            problems.append((str(partner), f"unknown partner; one of {', '.join(PARTNERS)}"))
        elif not isinstance(part, dict):
            problems.append((str(partner), "a partner's behaviour is a JSON object"))
        else:
            merged[partner] = {**merged[partner], **part}
    if problems:
        raise BehaviourProblem(problems)
    try:
        return Behaviour.model_validate(merged)
    except ValidationError as exc:
        raise BehaviourProblem(
            [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
        ) from exc
