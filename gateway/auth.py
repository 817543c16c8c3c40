"""Who may call what: bearer tokens by role, compared in constant time (``ODS_*_TOKEN`` in the
README's configuration table; the security of each route in ``/openapi.json``).

The portal's token opens ``/v1/applications…``; the ops token all of the gateway but the
partner callbacks (which carry signatures instead); the alerts token the alert feed only.
A missing or wrong token is a 401 before anything else happens.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.dependencies import SettingsDep
from infra.settings import Settings

bearer = HTTPBearer(
    auto_error=False,
    description="the portal's, the ops or the alerts token (ODS_PORTAL_TOKEN, ODS_OPS_TOKEN, …)",
)


class Role(StrEnum):
    PORTAL = "portal"
    OPS = "ops"
    ALERTS = "alerts"


def _token_of(settings: Settings, role: Role) -> str:
    tokens = {
        Role.PORTAL: settings.portal_token,
        Role.OPS: settings.ops_token,
        Role.ALERTS: settings.alerts_token,
    }
    return tokens[role]


def _as_bytes(text: str) -> bytes:
    # Header values arrive decoded as latin-1; compare_digest needs bytes for anything non-ASCII.
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def roles_of(settings: Settings, token: str) -> set[Role]:
    """The roles whose token this is (every role is compared, whatever matches first)."""
    presented = _as_bytes(token)
    return {
        role for role in Role if hmac.compare_digest(presented, _token_of(settings, role).encode("utf-8"))
    }


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def require(*allowed: Role) -> Callable[..., Awaitable[Role]]:
    """A dependency that lets only these roles through and names the caller's role."""

    async def check_bearer_token(
        settings: SettingsDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Role:
        if credentials is None:
            raise unauthorized("a bearer token is required (Authorization: Bearer <token>)")
        matched = roles_of(settings, credentials.credentials) & set(allowed)
        if not matched:
            raise unauthorized("the bearer token is not valid for this endpoint")
        return min(matched, key=list(Role).index)

    return check_bearer_token


portal_access = require(Role.PORTAL, Role.OPS)
"""``/v1/applications…``: the portal, and ops who may do everything the portal may."""
ops_access = require(Role.OPS)
"""Operations-only endpoints (subsidies, reports, codec), as later issues add them."""
alerts_access = require(Role.ALERTS, Role.OPS)
"""``/v1/alerts`` and ``/v1/alerts/stream``, once they exist."""
