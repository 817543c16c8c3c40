"""``/codec/encode`` and ``/codec/decode``: the Temporal codec-server protocol, for ops.

Payloads in Temporal are encrypted (``infra.codec``, keys in ``ODS_CODEC_KEYS``). The Web UI
(``temporal server start-dev --ui-codec-endpoint <gateway>/codec``) and the CLI (``temporal
workflow show --codec-endpoint <gateway>/codec --codec-auth "Bearer <ops token>"``) post the
payloads they hold here and show what comes back, in the bodies of ``gateway/codec.py``; query
strings (``?preserveStorageRefs=true``) and the ``X-Namespace`` header are accepted, and the keys are
the same for every namespace.

Who may: an ops token, or the session cookie of ``/ops/login`` (the Web UI sends cookies, never
tokens, to a codec endpoint over plain HTTP); in production a person only, not the shared ops token
(``gateway.auth.codec_access``). CORS with credentials for exactly ``ODS_UI_ORIGIN``
(``gateway.codec.CodecCors``); other origins get no CORS headers.

Every decode is in the audit log (``service/audit.py``) before its answer leaves: who, from where,
the cases whose keys the payloads are under, and how many encrypted payloads. When the log cannot
be written the answer is a 503, and nothing is decoded for the caller.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse

from gateway.access import access_of
from gateway.auth import Caller, codec_access
from gateway.bodies import MAX_BODY_BYTES, BodyRoute
from gateway.codec import PATH_PREFIX, CodecAnswer, CodecPayloads, payloads_json
from gateway.dependencies import ServiceDatabaseDep
from gateway.errors import ParameterInvalid
from gateway.models import Detail, FieldErrors
from infra.codec import EncryptionCodec, PayloadDecryptionError, UnknownCodecKey
from infra.logging import get_logger
from infra.settings import Settings
from service import audit

log = get_logger("gateway.codec")


class CodecRoute(BodyRoute):
    """A payload's base64 is as long as the body allows (any other body keeps the usual limit)."""

    max_json_string = MAX_BODY_BYTES


router = APIRouter(
    route_class=CodecRoute,
    prefix=PATH_PREFIX,
    tags=["codec"],
    dependencies=[Depends(codec_access)],
    responses={
        200: {"model": CodecAnswer, "description": "the payloads, encoded or decoded"},
        401: {"model": Detail, "description": "neither an ops token nor a session cookie that counts"},
        403: {"model": Detail, "description": "ODS_ENV=production and the shared ops token: a person must"},
        503: {"model": Detail, "description": "a session cookie, and the service database is unreachable"},
    },
)

PayloadsBody = Annotated[CodecPayloads, Body(description="temporal.api.common.v1.Payloads as protobuf JSON")]


def payload_codec(request: Request) -> EncryptionCodec:
    """The gateway's codec, made from its settings and case keys on first use, for the namespace the
    caller names (``X-Namespace``: a case's payload bound to another one is refused)."""
    state = request.app.state
    codec: EncryptionCodec | None = getattr(state, "payload_codec", None)
    if codec is None:
        settings: Settings = state.settings
        codec = EncryptionCodec.from_text(settings.codec_keys, getattr(state, "case_keys", None))
        state.payload_codec = codec
    return codec.for_namespace(request.headers.get("x-namespace"))


@router.post("/encode", summary="Encrypt payloads (the codec protocol's /encode)")
async def encode(request: Request, body: PayloadsBody) -> JSONResponse:
    return JSONResponse(payloads_json(await payload_codec(request).encode(body.protos())))


@router.post(
    "/decode",
    summary="Decrypt payloads (the codec protocol's /decode)",
    responses={
        422: {
            "model": FieldErrors,
            "description": "field errors of the body; or (field `payloads`) a payload under a key id "
            "that is not configured, or one that does not decrypt with the key of its id: which payloads "
            "decrypt, no schema can say",
        },
        503: {"model": Detail, "description": "the audit log cannot be written: nothing is decoded"},
    },
)
async def decode(
    request: Request,
    body: PayloadsBody,
    database: ServiceDatabaseDep,
    caller: Annotated[Caller, Depends(codec_access)],
) -> JSONResponse:
    """Payloads that are not encrypted come back as they are."""
    protos = body.protos()
    try:
        decoded = await payload_codec(request).decode(protos)
    except (UnknownCodecKey, PayloadDecryptionError) as err:
        log.warning("codec_decode_refused", namespace=request.headers.get("x-namespace"), error=str(err))
        raise ParameterInvalid("payloads", str(err)) from None
    cases, encrypted = audit.cases_of_payloads(protos)
    namespace = request.headers.get("x-namespace")
    await audit.record(
        database,
        access_of(caller),
        "decode",
        cases=cases,
        payloads=encrypted,
        detail=f"namespace {namespace}" if namespace else "",
    )
    return JSONResponse(payloads_json(decoded))
