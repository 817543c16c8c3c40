"""``/codec/encode`` and ``/codec/decode``: the Temporal codec-server protocol, for ops.

Payloads in Temporal are encrypted (``infra.codec``, keys in ``ODS_CODEC_KEYS``). The Web UI
(``temporal server start-dev --ui-codec-endpoint <gateway>/codec``) and the CLI (``temporal
workflow show --codec-endpoint <gateway>/codec --codec-auth "Bearer <ops token>"``) post the
payloads they hold here and show what comes back. In and out: the protobuf JSON of
``temporal.api.common.v1.Payloads`` (``{"payloads": [{"metadata": {k: base64}, "data": base64}]}``);
query strings (``?preserveStorageRefs=true``) and the ``X-Namespace`` header are accepted, and the
keys are the same for every namespace.

Who may: the ops token, or the ops session cookie of ``/ops/login`` (the Web UI sends cookies,
never tokens, to a codec endpoint over plain HTTP). CORS with credentials for exactly
``ODS_UI_ORIGIN`` (``CodecCors``); other origins get no CORS headers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.api.common.v1 import Payload, Payloads

from gateway.auth import codec_access
from gateway.dependencies import RawBody
from gateway.errors import ParameterInvalid
from gateway.models import Detail, FieldErrors
from gateway.openapi import json_body
from infra.codec import EncryptionCodec, PayloadDecryptionError, UnknownCodecKey
from infra.logging import get_logger
from infra.settings import Settings

log = get_logger("gateway.codec")

PATH_PREFIX = "/codec"
ALLOWED_METHODS = "POST, OPTIONS"
ALLOWED_HEADERS = "authorization, content-type, x-namespace"
PREFLIGHT_MAX_AGE_S = "600"


class CodecPayload(BaseModel):
    """One ``temporal.api.common.v1.Payload`` in protobuf JSON."""

    metadata: dict[str, str] = Field(
        default_factory=dict,
        description="metadata values, base64",
        examples=[{"encoding": "YmluYXJ5L2VuY3J5cHRlZA==", "encryption-key-id": "ZGV2"}],
    )
    data: str = Field(default="", description="the payload's bytes, base64")


class CodecPayloads(BaseModel):
    """``temporal.api.common.v1.Payloads`` in protobuf JSON: the codec protocol's body, in and out."""

    payloads: list[CodecPayload] = Field(default_factory=list)


router = APIRouter(
    prefix=PATH_PREFIX,
    tags=["codec"],
    dependencies=[Depends(codec_access)],
    responses={
        200: {"model": CodecPayloads, "description": "the payloads, encoded or decoded"},
        401: {"model": Detail, "description": "neither the ops token nor the ops session cookie"},
        413: {"model": Detail, "description": "the body is larger than 1 MiB"},
        422: {
            "model": FieldErrors,
            "description": "not Payloads JSON, or a payload under a key id that is not configured",
        },
    },
)

_BODY = json_body(CodecPayloads, "temporal.api.common.v1.Payloads as protobuf JSON")


def payload_codec(request: Request) -> EncryptionCodec:
    """The gateway's codec, made from its settings on first use."""
    state = request.app.state
    codec: EncryptionCodec | None = getattr(state, "payload_codec", None)
    if codec is None:
        settings: Settings = state.settings
        codec = EncryptionCodec.from_text(settings.codec_keys)
        state.payload_codec = codec
    return codec


def _payloads_of(body: bytes) -> Payloads:
    try:
        return json_format.Parse(body or b"{}", Payloads(), ignore_unknown_fields=True)
    except (json_format.ParseError, UnicodeDecodeError) as err:
        raise ParameterInvalid("payloads", f"not temporal.api.common.v1.Payloads JSON: {err}") from None


def _answer(payloads: Sequence[Payload]) -> JSONResponse:
    return JSONResponse({"payloads": [json_format.MessageToDict(p) for p in payloads]})


@router.post("/encode", summary="Encrypt payloads (the codec protocol's /encode)", openapi_extra=_BODY)
async def encode(request: Request, body: RawBody) -> JSONResponse:
    payloads = _payloads_of(body)
    return _answer(await payload_codec(request).encode(payloads.payloads))


@router.post("/decode", summary="Decrypt payloads (the codec protocol's /decode)", openapi_extra=_BODY)
async def decode(request: Request, body: RawBody) -> JSONResponse:
    """Payloads that are not encrypted come back as they are."""
    payloads = _payloads_of(body)
    try:
        decoded = await payload_codec(request).decode(payloads.payloads)
    except (UnknownCodecKey, PayloadDecryptionError) as err:
        log.warning("codec_decode_refused", namespace=request.headers.get("x-namespace"), error=str(err))
        raise ParameterInvalid("payloads", str(err)) from None
    return _answer(decoded)


class CodecCors:
    """CORS for the codec endpoints only: credentials allowed, for exactly one origin (the Web UI's,
    ``ODS_UI_ORIGIN``); never ``*``. A preflight from that origin is answered here (204); one from
    any other origin is refused (403) without CORS headers, and so are its answers."""

    def __init__(self, app: ASGIApp, origin: str) -> None:
        self.app = app
        self.origin = origin.lower()

    def _applies(self, scope: Scope) -> bool:
        path = str(scope.get("path", ""))
        return scope["type"] == "http" and (path == PATH_PREFIX or path.startswith(PATH_PREFIX + "/"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._applies(scope):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        origin = headers.get("origin")
        allowed = origin is not None and origin.lower() == self.origin
        if scope.get("method") == "OPTIONS" and origin and "access-control-request-method" in headers:
            await self._preflight(send, origin if allowed else None, headers)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"vary", b"Origin")]
                if allowed and origin:
                    extra += [
                        (b"access-control-allow-origin", origin.encode("latin-1")),
                        (b"access-control-allow-credentials", b"true"),
                    ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, send: Send, origin: str | None, headers: dict[str, str]) -> None:
        if origin is None:
            body = json.dumps({"detail": "this origin may not call the codec endpoints"}).encode()
            answer = [(b"content-type", b"application/json"), (b"vary", b"Origin")]
            await send({"type": "http.response.start", "status": 403, "headers": answer})
            await send({"type": "http.response.body", "body": body})
            return
        answer = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
            (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE_S.encode()),
            (b"vary", b"Origin"),
        ]
        if headers.get("access-control-request-private-network") == "true":
            # Chrome's Private Network Access: a UI on a LAN address calling a gateway on loopback.
            answer.append((b"access-control-allow-private-network", b"true"))
        await send({"type": "http.response.start", "status": 204, "headers": answer})
        await send({"type": "http.response.body", "body": b""})
