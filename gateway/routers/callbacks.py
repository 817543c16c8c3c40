"""``/v1/callbacks/{partner}``: partners' signed events (seal carved, parcel moved).

No bearer token: a callback is authenticated by its ``X-ODS-Signature`` over the raw body.
Partners retry until they get a 2xx or 4xx, so every answer here is final for them: 202 once
the case has the event (a durable signal), 4xx when retrying cannot help.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path

from domain.identifiers import is_application_id
from domain.partners import PartnerEvent
from domain.validation import decode_json_body, json_object, validated
from gateway.dependencies import RawBody, SettingsDep, TemporalDep
from gateway.models import CallbackAccepted, CallbackEnvelope, Detail, FieldErrors
from gateway.openapi import json_body
from infra.signing import DEFAULT_TOLERANCE_S, SIGNATURE_HEADER, SIGNATURE_PATTERN, verify
from service import cases

PARTNERS = ("seal_shop", "postal")

router = APIRouter(prefix="/v1/callbacks", tags=["partner callbacks"])


def parse_partner_event(partner: str, body: bytes) -> PartnerEvent:
    """The common envelope of docs/partner-api.md; ``partner`` comes from the path."""
    envelope = validated(CallbackEnvelope, json_object(decode_json_body(body)))
    return PartnerEvent(partner=partner, **envelope.model_dump())


@router.post(
    "/{partner}",
    status_code=202,
    summary="A partner's signed callback",
    openapi_extra=json_body(CallbackEnvelope, "the event envelope, signed byte for byte"),
    responses={
        401: {"model": Detail, "description": "bad, missing or stale signature"},
        404: {"model": Detail, "description": "unknown partner or unknown case"},
        409: {"model": Detail, "description": "the case is closed"},
        413: {"model": Detail, "description": "the body is larger than 1 MiB; it was not read"},
        422: {"model": FieldErrors, "description": "malformed envelope"},
        503: {"model": Detail, "description": "Temporal is unreachable; retry"},
    },
)
async def partner_callback(
    partner: Annotated[
        str,
        Path(
            description=f"one of {', '.join(PARTNERS)}; any other is a 404",
            json_schema_extra={"enum": list(PARTNERS)},
        ),
    ],
    body: RawBody,
    settings: SettingsDep,
    temporal: TemporalDep,
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
) -> CallbackAccepted:
    if partner not in PARTNERS:
        raise HTTPException(404, f"no partner {partner[:40]!r}; callbacks come from {PARTNERS}")
    problem = verify(settings.callback_secret, body, signature)
    if problem is not None:
        raise HTTPException(401, problem, headers={"WWW-Authenticate": SIGNATURE_HEADER})
    event = parse_partner_event(partner, body)
    if not is_application_id(event.application_id):
        raise cases.CaseNotFound(event.application_id)
    client = await temporal.client()
    await cases.deliver_partner_event(client, event)
    return CallbackAccepted()
