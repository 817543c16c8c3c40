"""The Temporal codec-server protocol's bodies, and the CORS of its endpoints (``routers/codec.py``).

In and out: the protobuf JSON of ``temporal.api.common.v1.Payloads``
(``{"payloads": [{"metadata": {k: base64}, "data": base64}]}``), documented and checked by
``CodecPayloads``: every value base64 (standard or URL-safe alphabet, padding optional, as protobuf
JSON reads it), so that whatever the document admits decodes. Other members of a payload are ignored
(this service keeps no payload in external storage, so ``externalPayloads`` never carries anything).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Annotated, Any

from google.protobuf import json_format
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.api.common.v1 import Payload
from typing_extensions import TypeAliasType

from gateway.models import NO_NUL_PATTERN

PATH_PREFIX = "/codec"
ALLOWED_METHODS = "POST, OPTIONS"
ALLOWED_HEADERS = "authorization, content-type, x-namespace"
PREFLIGHT_MAX_AGE_S = "600"

_B64 = "[A-Za-z0-9+/_-]"
BASE64_PATTERN = f"^(?:{_B64}{{4}})*(?:{_B64}{{2}}(?:==)?|{_B64}{{3}}=?)?$"
Base64Text = Annotated[str, StringConstraints(pattern=BASE64_PATTERN)]
# A codec body's strings are as long as the body allows (``routers/codec.py``), and hold no NUL.
CodecText = Annotated[str, StringConstraints(pattern=NO_NUL_PATTERN)]
CodecJson = TypeAliasType(  # type: ignore[misc]
    "CodecJson", "bool | int | float | CodecText | list[CodecJson] | dict[CodecText, CodecJson] | None"
)
_URL_SAFE = str.maketrans("-_", "+/")


def _bytes_of(text: str) -> bytes:
    """The bytes of a value ``BASE64_PATTERN`` admits."""
    text = text.rstrip("=").translate(_URL_SAFE)
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


class AnswerPayload(BaseModel):
    """One ``temporal.api.common.v1.Payload`` in protobuf JSON, as the gateway answers it."""

    metadata: dict[CodecText, Base64Text] = Field(
        default_factory=dict,
        description="metadata values, base64",
        examples=[{"encoding": "YmluYXJ5L2VuY3J5cHRlZA==", "encryption-key-id": "ZGV2"}],
    )
    data: Base64Text = Field(default="", description="the payload's bytes, base64")


class CodecPayload(AnswerPayload):
    """One ``temporal.api.common.v1.Payload`` in protobuf JSON; other members are ignored."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[CodecText, CodecJson] = Field(init=False)  # type: ignore[valid-type]

    def proto(self) -> Payload:
        metadata = {key: _bytes_of(value) for key, value in self.metadata.items()}
        return Payload(metadata=metadata, data=_bytes_of(self.data))


class CodecPayloads(BaseModel):
    """``temporal.api.common.v1.Payloads`` in protobuf JSON: the body of the codec protocol; other
    members are ignored (allowed, so that the document says what they may hold: JSON without NUL)."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[CodecText, CodecJson] = Field(init=False)  # type: ignore[valid-type]

    payloads: list[CodecPayload] = Field(default_factory=list)

    def protos(self) -> list[Payload]:
        return [payload.proto() for payload in self.payloads]


class CodecAnswer(BaseModel):
    """``temporal.api.common.v1.Payloads`` in protobuf JSON: the payloads encoded or decoded."""

    payloads: list[AnswerPayload]


def payloads_json(payloads: Sequence[Payload]) -> dict[str, Any]:
    """The answer's body, as protobuf writes it (base64 with padding; empty members left out)."""
    return {"payloads": [json_format.MessageToDict(payload) for payload in payloads]}


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
