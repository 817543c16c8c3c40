"""How the gateway reads a request body: the one place for its limits, its JSON and its refusals.

Every router of the gateway makes its routes with ``BodyRoute`` (``tests/gateway/test_routers.py``
holds them to it). A route names the typed model of
its body as a parameter (``application: Application``); FastAPI binds it, and documents it in
``/openapi.json`` from that model. This class decides how the bytes become the value FastAPI
validates:

- at most ``MAX_BODY_BYTES``: a larger Content-Length is refused unread, and a body that grows past
  the limit (chunked, or longer than it said) as soon as it does (413, ``BodyTooLarge``);
- JSON whatever its Content-Type says (the gateway has always read bodies so), decoded strictly
  (``domain.validation.decode_json_body``: depth, string lengths, entries, repeated keys, NaN, NUL):
  a 422 at the offending field otherwise;
- a refused body is answered where FastAPI answers the body's own field errors: once everything
  the route checks first has passed (the token, 401; the path, 404; a partner's signature, 401).

The field errors themselves (dotted paths, plain words) are made in ``gateway/errors.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.types import Receive, Scope

from domain.validation import MAX_JSON_STRING, ApplicationInvalid, decode_json_body
from gateway.models import Detail, FieldErrors

# Every body this API takes is a few kilobytes; a megabyte is a mistake or an attack.
MAX_BODY_BYTES = 1 << 20
TOO_LARGE = "the body is larger than 1 MiB"
_JSON = (b"content-type", b"application/json")


class BodyTooLarge(Exception):
    """A body over ``MAX_BODY_BYTES``: 413, never read further."""


# What a body that could not be read gives FastAPI to validate: nothing any model takes, so that
# FastAPI reports it where it reports a body's errors (the route then answers the reason). A bare
# ``object()``: FastAPI validates with ``from_attributes``, under which an instance of any class of
# ours would pass as a model whose fields all have defaults (``{"payloads": []}``, no ``WithdrawBody``).
_UNREADABLE = object()


class BodyRequest(Request):
    """A request whose body is read within the limits and, for a route with a JSON body, decoded
    strictly; what went wrong is kept in ``body_problem`` until the route answers it."""

    def __init__(
        self, scope: Scope, receive: Receive, *, json_body: bool, body_required: bool, max_string: int
    ) -> None:
        super().__init__(scope, receive)
        self.body_problem: BodyTooLarge | ApplicationInvalid | None = None
        self._body_required = body_required
        self._max_string = max_string
        if json_body:
            # FastAPI decodes a body as JSON only when Content-Type says it is.
            raw = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-type"]
            self._headers = Headers(raw=[*raw, _JSON])

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            try:
                self._body = await self._read_within_limit()
            except BodyTooLarge as err:
                self.body_problem = err
                self._body = b"\0"  # not empty, so that it is not taken for a missing body
        return self._body

    async def _read_within_limit(self) -> bytes:
        declared = self.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise BodyTooLarge()
        chunks: list[bytes] = []
        size = 0
        async for chunk in self.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise BodyTooLarge()
            chunks.append(chunk)
        return b"".join(chunks)

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            if self.body_problem is not None:
                self._json = _UNREADABLE
            elif not body.strip() and not self._body_required:
                self._json = None  # no body: a route whose body is optional takes that
            else:
                try:
                    self._json = decode_json_body(body, max_string=self._max_string)
                except ApplicationInvalid as err:
                    self.body_problem = err
                    self._json = _UNREADABLE
        return self._json


async def read_body(request: Request) -> bytes:
    """The raw body (a signature is over these bytes, a form is parsed from them), within the limit:
    ``BodyTooLarge`` past it."""
    body = await request.body()
    if isinstance(request, BodyRequest) and isinstance(request.body_problem, BodyTooLarge):
        raise request.body_problem
    return body


async def readable_body(request: Request) -> None:
    """A dependency for a route that must refuse an unreadable body before it looks any further
    (the supplement: a body that is not JSON at once, the case's state only then)."""
    if isinstance(request, BodyRequest) and request.body_problem is None:
        await request.json()
    if isinstance(request, BodyRequest) and request.body_problem is not None:
        raise request.body_problem


def form_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for the one route that takes a form (``/ops/login``, which reads it itself:
    FastAPI's forms need a multipart parser this gateway has no other use for), from its model."""
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": schema}},
        }
    }


_TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {"model": Detail, "description": f"{TOO_LARGE}; it was not read"},
}
_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": FieldErrors, "description": "field errors, each at its dotted path"},
}


class BodyRoute(APIRoute):
    """A route whose body is read as the module says; one that takes a body documents 413 (and 422
    when FastAPI binds it to a model)."""

    max_json_string = MAX_JSON_STRING
    """Characters in one string of the body (the codec's payloads are as long as the body allows)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if self.body_field is not None:
            self.responses = {**_TOO_LARGE, **_INVALID, **self.responses}
        elif "requestBody" in (self.openapi_extra or {}):
            self.responses = {**_TOO_LARGE, **self.responses}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        json_body, max_string = self.body_field is not None, self.max_json_string
        # A required body that is empty is not JSON (a 422 at ``body``), as any other that is not.
        body_required = self.body_field is not None and self.body_field.field_info.is_required()

        async def read_then_handle(request: Request) -> Response:
            request = BodyRequest(
                request.scope,
                request.receive,
                json_body=json_body,
                body_required=body_required,
                max_string=max_string,
            )
            try:
                return await handle(request)
            except RequestValidationError:
                if request.body_problem is None and body_required:
                    await request.json()  # FastAPI takes an empty body for a missing one: not JSON
                if request.body_problem is not None:
                    raise request.body_problem from None
                raise

        return read_then_handle
