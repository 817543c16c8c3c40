"""``/v1/callbacks/{partner}``: partners' signed events (seal carved, parcel moved).

No bearer token: a callback is authenticated by its ``X-ODS-Signature`` over the raw body.
Partners retry until they get a 2xx or 4xx, so every answer here is final for them: 202 once
the case has the event (a durable signal), 4xx when retrying cannot help.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Path, Request

from domain.identifiers import is_application_id
from domain.partners import PartnerEvent
from gateway.bodies import BodyRoute, read_body
from gateway.dependencies import SettingsDep, TemporalDep
from gateway.models import CallbackAccepted, CallbackEnvelope, Detail
from infra.signing import DEFAULT_TOLERANCE_S, SIGNATURE_HEADER, SIGNATURE_PATTERN, verify
from service import cases

PARTNERS = ("seal_shop", "postal")

router = APIRouter(route_class=BodyRoute, prefix="/v1/callbacks", tags=["partner callbacks"])


async def signed_by_partner(
    partner: Annotated[
        str,
        Path(
            description=f"one of {', '.join(PARTNERS)}; any other is a 404",
            json_schema_extra={"enum": list(PARTNERS)},
        ),
    ],
    request: Request,
    settings: SettingsDep,
    signature: Annotated[
        str | None,
        Header(
            alias=SIGNATURE_HEADER,
            description='t=<unix seconds>,sha256=<hex HMAC-SHA256 of "<t>." + raw body>, keyed by the '
            f"callback secret; t within {DEFAULT_TOLERANCE_S} s of the gateway's clock. Missing, wrong "
            "or stale: 401.",
            json_schema_extra={"pattern": SIGNATURE_PATTERN},
        ),
    ] = None,
) -> str:
    """The partner of the path, once the signature holds for the body exactly as sent: an unknown
    partner is a 404 and a bad signature a 401, before the envelope is looked at."""
    if partner not in PARTNERS:
        raise HTTPException(404, f"no partner {partner[:40]!r}; callbacks come from {PARTNERS}")
    problem = verify(settings.callback_secret, await read_body(request), signature)
    if problem is not None:
        raise HTTPException(401, problem, headers={"WWW-Authenticate": SIGNATURE_HEADER})
    return partner


@router.post(
    "/{partner}",
    status_code=202,
    summary="A partner's signed callback",
    responses={
        401: {"model": Detail, "description": "bad, missing or stale signature"},
        404: {"model": Detail, "description": "unknown partner or unknown case"},
        409: {"model": Detail, "description": "the case is closed"},
        503: {"model": Detail, "description": "Temporal is unreachable; retry"},
    },
)
async def partner_callback(
    partner: Annotated[str, Depends(signed_by_partner)],
    envelope: Annotated[CallbackEnvelope, Body(description="the event envelope, signed byte for byte")],
    temporal: TemporalDep,
) -> CallbackAccepted:
    """The common envelope of docs/partner-api.md; which partner sent it comes from the path."""
    if not is_application_id(envelope.application_id):
        raise cases.CaseNotFound(envelope.application_id)
    client = await temporal.client()
    await cases.deliver_partner_event(client, PartnerEvent(partner=partner, **envelope.model_dump()))
    return CallbackAccepted()
