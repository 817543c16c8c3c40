"""``/v1/callbacks/{partner}``: partners' signed events (seal carved, parcel moved).

No bearer token: a callback is authenticated by its ``X-ODS-Signature`` over the raw body and the
partner of the path, keyed by the signer's own secret (``Settings.callback_secret_of``): EMS for
``postal``, the shop named in the event's ``data.shop_id`` for ``seal_shop``. So a shop cannot sign
a postal event, nor one shop another's completion. The URL is the one orders carried before the
secrets were split, so callbacks of orders placed before still land here.
Partners retry until they get a 2xx or 4xx, so every answer here is final for them: 202 once
the case has the event (a durable signal), 4xx when retrying cannot help.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Path, Request

from domain.identifiers import is_application_id
from domain.partners import PartnerEvent
from gateway.bodies import BodyRoute, read_body
from gateway.dependencies import SettingsDep, TemporalDep
from gateway.models import CallbackAccepted, CallbackEnvelope, Detail
from infra.settings import Settings
from infra.signing import CALLBACK_SIGNATURE_PATTERN, DEFAULT_TOLERANCE_S, SIGNATURE_HEADER, verify_callback
from service import cases

PARTNERS = ("seal_shop", "postal")
# The events each partner sends: a shop's secret signs no tracking event, whatever its path.
EVENT_PREFIXES = {"seal_shop": "seal_order.", "postal": "postal."}

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
            description='t=<unix seconds>,v2=<hex HMAC-SHA256 of "<t>.<partner>." + raw body>, keyed by '
            "the signer's own callback secret (EMS's; a seal shop's, the one in data.shop_id); t within "
            f"{DEFAULT_TOLERANCE_S} s of the gateway's clock. Missing, wrong or stale: 401.",
            json_schema_extra={"pattern": CALLBACK_SIGNATURE_PATTERN},
        ),
    ] = None,
) -> str:
    """The partner of the path, once the signature holds for the body exactly as sent: an unknown
    partner is a 404 and a bad signature a 401, before the envelope is looked at."""
    if partner not in PARTNERS:
        raise HTTPException(404, f"no partner {partner[:40]!r}; callbacks come from {PARTNERS}")
    body = await read_body(request)
    signer = _signer(partner, body)
    key = settings.callback_secret_of(signer) if signer is not None else None
    # The shared secret's signature of before only where nothing is exposed (dev, the tests).
    legacy = settings.callback_secret if settings.exposure is None else None
    problem = verify_callback(key, partner, body, signature, legacy_secret=legacy)
    if problem is not None:
        raise HTTPException(401, problem, headers={"WWW-Authenticate": SIGNATURE_HEADER})
    return partner


def _signer(partner: str, body: bytes) -> str | None:
    """Whose secret signs a callback to ``partner``: EMS's, or the seal shop's its event names
    (read before the signature is checked only to choose the key; nothing else of it is used)."""
    if partner == "postal":
        return "postal"
    try:
        shop = json.loads(body).get("data", {}).get("shop_id")
    except (ValueError, AttributeError):
        return None
    return shop if isinstance(shop, str) and Settings.is_callback_party(shop) else None


@router.post(
    "/{partner}",
    status_code=202,
    summary="A partner's signed callback",
    responses={
        401: {"model": Detail, "description": "bad, missing or stale signature"},
        403: {"model": Detail, "description": "an event this partner does not send"},
        404: {"model": Detail, "description": "unknown partner or unknown case"},
        409: {
            "model": Detail,
            "description": "the case is closed, or holds no seal order by the completion's order_id",
        },
        503: {"model": Detail, "description": "Temporal is unreachable; retry"},
    },
)
async def partner_callback(
    partner: Annotated[str, Depends(signed_by_partner)],
    envelope: Annotated[CallbackEnvelope, Body(description="the event envelope, signed byte for byte")],
    temporal: TemporalDep,
) -> CallbackAccepted:
    """The common envelope of docs/partner-api.md; which partner sent it comes from the path."""
    if not envelope.event.startswith(EVENT_PREFIXES[partner]):
        raise HTTPException(
            403, f"{partner} sends {EVENT_PREFIXES[partner]}* events, not {envelope.event[:64]!r}"
        )
    if not is_application_id(envelope.application_id):
        raise cases.CaseNotFound(envelope.application_id)
    client = await temporal.client()
    await cases.deliver_partner_event(client, PartnerEvent(partner=partner, **envelope.model_dump()))
    return CallbackAccepted()
