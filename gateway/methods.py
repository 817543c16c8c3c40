"""Which methods a path takes, said in ``Allow`` (RFC 9110): on every 405, and as the answer to OPTIONS.

Starlette's 405 names only the methods of the first route it tried for the path (``Allow: POST`` on
``/v1/applications``, which takes GET too); this names them all. ``OPTIONS`` on a path the gateway
serves is answered 204 with ``Allow`` and nothing else, without a token (it reveals no more than the
OpenAPI document does); a CORS preflight to the codec endpoints is answered before it gets here.
"""

from __future__ import annotations

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(scope: Scope) -> set[str]:
    """Every method some route of the app takes at the request's path (none: an unknown path).

    Asked of the routes themselves, method by method (``BaseRoute.matches``), so that routers that
    FastAPI includes lazily answer like plain routes."""
    routes = getattr(scope.get("app"), "routes", ())
    return {
        method
        for method in _METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    }


def _allow(methods: set[str]) -> bytes:
    return ", ".join(sorted(methods | {"OPTIONS"})).encode("latin-1")


class AllowedMethods:
    """Pure ASGI: answers OPTIONS, and completes the ``Allow`` header of every 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("method") == "OPTIONS":
            methods = allowed_methods(scope)
            if methods and "OPTIONS" not in methods:
                allow = _allow(methods)
                await send({"type": "http.response.start", "status": 204, "headers": [(b"allow", allow)]})
                await send({"type": "http.response.body", "body": b""})
                return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = allowed_methods(scope)
                if methods:
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                    message = {**message, "headers": [*headers, (b"allow", _allow(methods))]}
            await send(message)

        await self.app(scope, receive, send_with_allow)
