"""Who may call what, and who the caller is: bearer tokens by role, compared in constant time
(``ODS_*_TOKEN`` in the README's configuration table; the security of each route in
``/openapi.json``), and the operators' sessions of ``/ops/login`` (``gateway/sessions.py``).

The portal's token opens ``/v1/applications…``; the ops token all of the gateway but the
partner callbacks (which carry signatures instead) and the audit log; the alerts token the alert
feed only; an auditor's token (``ODS_AUDITOR_TOKENS``) the audit log only (``auditor_access``).
A missing or wrong token is a 401 before anything else happens; too many wrong ones from one
address are a 429 before the token is even compared (``gateway/failures.py``).

Personal ops tokens (``ODS_OPERATOR_TOKENS``, ``name:token`` pairs) open whatever the ops token
opens, ``/ops/login`` and the codec included. Every check answers a ``Caller``: the role, the
person (or the shared token), the client address and user agent. Where the gateway records who
acted (an action on a case, an alert's acknowledgement), ``Caller.operator`` settles the name: a
personal token's own, or, outside production, the ``operator`` the caller gives with the shared
ops token. In production (``ODS_ENV=production``) the shared ops token cannot act, acknowledge or
decode (403): those need a person. Tokens are compared in constant time, every one of them
whatever matches first, and never logged.

The codec endpoints (``/codec/encode``, ``/codec/decode``) take the ops token or, for the Web UI
(which sends cookies, not tokens, to a codec endpoint), the session cookie of ``/ops/login``;
the cookie opens nothing else.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from domain.validation import ApplicationInvalid, FieldError
from gateway.dependencies import ServiceDatabaseDep, SettingsDep
from gateway.failures import Client, FailureLimiter, failure_limiter
from gateway.sessions import (
    ABSOLUTE_TIMEOUT,
    COOKIE,
    IDLE_TIMEOUT,
    TLS_COOKIE,
    browser_session,
    minutes,
)
from infra.settings import SHARED_OPS_NAME, Settings

bearer = HTTPBearer(
    auto_error=False,
    description="the portal's, the ops, a personal ops, the alerts or an auditor's token (ODS_PORTAL_TOKEN, "
    "ODS_OPS_TOKEN, ODS_OPERATOR_TOKENS, ODS_ALERTS_TOKEN, ODS_AUDITOR_TOKENS)",
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


def _name_of(tokens: dict[str, str], token: str) -> str | None:
    presented = _as_bytes(token)
    found: str | None = None
    for name, personal in tokens.items():
        if hmac.compare_digest(presented, personal.encode("utf-8")):
            found = name
    return found


def personal_name_of(settings: Settings, token: str) -> str | None:
    """The name of the personal ops token this is; None for any other (every one is compared)."""
    return _name_of(settings.personal_ops_tokens, token)


def _shared_roles_of(settings: Settings, token: str) -> set[Role]:
    presented = _as_bytes(token)
    return {
        role for role in Role if hmac.compare_digest(presented, _token_of(settings, role).encode("utf-8"))
    }


def shared_ops_token(settings: Settings, token: str) -> bool:
    """Whether this is the shared ops token (``ODS_OPS_TOKEN``); every role's token is compared."""
    return Role.OPS in _shared_roles_of(settings, token)


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


# --- who calls ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who is calling: what an audit entry needs to say who did it, from where."""

    role: Role
    name: str
    """The person's name (their personal ops token's, or their session's); for a shared token the
    token's: ``shared-ops-token``, ``shared-portal-token``, ``shared-alerts-token``."""
    personal: bool
    """Whether ``name`` is a person's; False for a shared token (or a session opened with one)."""
    client: str
    """The client's address (``gateway/failures.py``)."""
    user_agent: str
    via: Literal["bearer", "session"]

    @property
    def personal_name(self) -> str | None:
        """The person's name; None for a shared token."""
        return self.name if self.personal else None

    def operator(self, claimed: str | None) -> str:
        """The name to record, given the body's ``operator``. A personal token: its own name (the
        body may leave it out, or give the same; another name is a 403). The shared ops token: the
        body's name, which it must then give (a 422 at ``operator`` otherwise)."""
        given = claimed.strip() if claimed is not None else ""
        if self.personal:
            if given and given != self.name:
                raise HTTPException(
                    403,
                    f"this personal ops token is {self.name}'s: act under that name (leave "
                    "operator out, or give it), or use the shared ops token",
                )
            return self.name
        if not given:
            raise ApplicationInvalid(
                [
                    FieldError(
                        field="operator", message="operator is required with the shared ops token (who acts?)"
                    )
                ]
            )
        return given


def _shared_name(role: Role) -> str:
    return SHARED_OPS_NAME if role is Role.OPS else f"shared-{role}-token"


def caller_of_token(settings: Settings, token: str, allowed: set[Role], client: Client) -> Caller | None:
    """The caller this bearer token makes, if its role is one of ``allowed`` (every token is compared,
    whatever matches first); None for any other token."""
    personal = personal_name_of(settings, token)
    roles = _shared_roles_of(settings, token) | ({Role.OPS} if personal is not None else set())
    matched = roles & allowed
    if not matched:
        return None
    role = min(matched, key=list(Role).index)
    name = personal if role is Role.OPS and personal is not None else None
    return Caller(
        role=role,
        name=name or _shared_name(role),
        personal=name is not None,
        client=client.address,
        user_agent=client.user_agent,
        via="bearer",
    )


def _person_required(settings: Settings, caller: Caller) -> Caller:
    """In production, acting, acknowledging and decoding need a person (403 for a shared token)."""
    if settings.env == "production" and not caller.personal:
        raise HTTPException(
            403,
            "ODS_ENV=production: the shared ops token cannot act on a case, acknowledge an alert or "
            "decode payloads; these need a person: use your personal ops token (ODS_OPERATOR_TOKENS), "
            "or sign in with it at /ops/login",
        )
    return caller


def _presented(
    request: Request, limiter: FailureLimiter, credentials: HTTPAuthorizationCredentials | None
) -> tuple[Client, str]:
    """The caller's address and bearer token: a 401 without one, a 429 for an address past its
    wrong tokens (before the token is compared)."""
    if credentials is None:
        raise unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    client = Client.of(request)
    limiter.check(client)
    return client, credentials.credentials


async def _bearer_caller(
    request: Request,
    settings: Settings,
    limiter: FailureLimiter,
    credentials: HTTPAuthorizationCredentials | None,
    allowed: set[Role],
) -> Caller:
    client, token = _presented(request, limiter, credentials)
    caller = caller_of_token(settings, token, allowed, client)
    if caller is None:
        limiter.failed(client, where=request.url.path, why="bearer token not valid here")
        raise unauthorized("the bearer token is not valid for this endpoint")
    return caller


BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
FailureLimiterDep = Annotated[FailureLimiter, Depends(failure_limiter)]


def require(*allowed: Role) -> Callable[..., Awaitable[Caller]]:
    """A dependency that lets only these roles' bearer tokens through and names the caller."""

    async def check_bearer_token(
        request: Request, settings: SettingsDep, limiter: FailureLimiterDep, credentials: BearerDep
    ) -> Caller:
        return await _bearer_caller(request, settings, limiter, credentials, set(allowed))

    return check_bearer_token


portal_access = require(Role.PORTAL, Role.OPS)
"""``/v1/applications…``: the portal, and ops who may do everything the portal may."""
ops_access = require(Role.OPS)
"""Operations-only endpoints (subsidies, reports), as later issues add them."""
alerts_access = require(Role.ALERTS, Role.OPS)
"""``/v1/alerts`` and ``/v1/alerts/stream``."""


async def ops_caller(
    request: Request, settings: SettingsDep, limiter: FailureLimiterDep, credentials: BearerDep
) -> Caller:
    """A dependency for acting on a case and acknowledging an alert: the ops token or a personal ops
    token, else a 401 (before anything else); in production a person's token only (403)."""
    caller = await _bearer_caller(request, settings, limiter, credentials, {Role.OPS})
    return _person_required(settings, caller)


OpsCallerDep = Annotated[Caller, Depends(ops_caller)]


# --- auditors: the audit log, and nothing else ---------------------------------------------------


async def auditor_access(
    request: Request, settings: SettingsDep, limiter: FailureLimiterDep, credentials: BearerDep
) -> str:
    """A dependency: the name of the auditor whose token this is (``ODS_AUDITOR_TOKENS``), else a
    401 (counted like any wrong token). No other token opens the audit log, and an auditor's token
    opens nothing else (the settings refuse one equal to any other token)."""
    client, token = _presented(request, limiter, credentials)
    name = _name_of(settings.auditor_token_map, token)
    if name is None:
        limiter.failed(client, where=request.url.path, why="not an auditor's token")
        raise unauthorized("the bearer token is not valid for this endpoint (an auditor's token)")
    return name


# --- the codec: a bearer token (the CLI) or the session cookie (the Web UI) ---------------------

session_cookie = APIKeyCookie(
    name=COOKIE,
    scheme_name="OpsSessionCookie",
    auto_error=False,
    description="the ops session cookie from /ops/login (the Web UI's way to the codec endpoints)",
)
tls_session_cookie = APIKeyCookie(
    name=TLS_COOKIE,
    scheme_name="OpsSessionCookieTLS",
    auto_error=False,
    description="the ops session cookie from /ops/login where the gateway is served over TLS",
)


async def codec_access(
    request: Request,
    settings: SettingsDep,
    limiter: FailureLimiterDep,
    credentials: BearerDep,
    database: ServiceDatabaseDep,
    _plain: Annotated[str | None, Depends(session_cookie)],
    _tls: Annotated[str | None, Depends(tls_session_cookie)],
) -> Caller:
    """``/codec/…``: the ops token (the CLI's ``--codec-auth "Bearer …"``) or the session cookie of
    ``/ops/login`` (the Web UI); only the cookie of this gateway's scheme counts."""
    client = Client.of(request)
    if credentials is not None:
        limiter.check(client)
        caller = caller_of_token(settings, credentials.credentials, {Role.OPS}, client)
        if caller is not None:
            return _person_required(settings, caller)
    signed_in = await browser_session(request, settings, database)
    if signed_in is not None:
        caller = Caller(
            role=Role.OPS,
            name=signed_in.operator,
            personal=signed_in.personal,
            client=client.address,
            user_agent=client.user_agent,
            via="session",
        )
        return _person_required(settings, caller)
    if credentials is not None:
        limiter.failed(client, where=request.url.path, why="bearer token not valid here")
        raise unauthorized("neither an ops token nor a valid ops session (sign in again at /ops/login)")
    raise unauthorized(
        "the ops token (Authorization: Bearer <token>) or the ops session cookie from /ops/login is "
        f"required (a session ends after {minutes(IDLE_TIMEOUT)} minutes unused, or "
        f"{minutes(ABSOLUTE_TIMEOUT)} minutes after signing in)"
    )
