"""Who calls, as the audit log names them (``service.audit.Access``), from the request.

The actor is a person where the credential names one (a personal ops token); otherwise the shared
credential used: the shared ops token, the portal's token, or the ops session cookie of
``/ops/login``, which names nobody. The client is the address the connection came from (behind a
proxy, the server's forwarded-address handling decides what that is) and its ``User-Agent``.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials

from domain.audit import AuditRole
from gateway.auth import OpsCaller, Role, personal_name_of, roles_of
from infra.settings import Settings
from service.audit import Access

SHARED_OPS_ACTOR = "ops (shared token)"
SHARED_PORTAL_ACTOR = "portal (shared token)"
OPS_SESSION_ACTOR = "ops-session"
"""The ops session cookie: the same for everyone who signed in, so it names nobody."""


def access_of(request: Request, actor: str, role: AuditRole) -> Access:
    client = request.client.host if request.client is not None else ""
    return Access(actor=actor, role=role, client=client, user_agent=request.headers.get("user-agent", ""))


def ops_access(request: Request, caller: OpsCaller) -> Access:
    """An ops caller (``OpsCallerDep``): a personal token's name, or the shared ops token."""
    return access_of(request, caller.personal_name or SHARED_OPS_ACTOR, "ops")


def bearer_access(request: Request, settings: Settings, token: str, role: Role) -> Access:
    """A caller let through as ``role`` with the bearer ``token`` (the portal's or an ops token)."""
    if role is Role.OPS:
        return access_of(request, personal_name_of(settings, token) or SHARED_OPS_ACTOR, "ops")
    return access_of(request, SHARED_PORTAL_ACTOR, "portal")


def codec_caller(
    request: Request, settings: Settings, credentials: HTTPAuthorizationCredentials | None
) -> Access:
    """A caller of the codec endpoints (``gateway.auth.codec_access`` let it through): an ops
    token (shared or personal), or else the ops session cookie."""
    if credentials is not None and Role.OPS in roles_of(settings, credentials.credentials):
        return bearer_access(request, settings, credentials.credentials, Role.OPS)
    return access_of(request, OPS_SESSION_ACTOR, "ops")
