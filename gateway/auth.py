"""Who may call what: bearer tokens by role, compared in constant time (``ODS_*_TOKEN`` in the
README's configuration table; the security of each route in ``/openapi.json``).

The portal's token opens ``/v1/applications…``; the ops token all of the gateway but the
partner callbacks (which carry signatures instead) and the audit log; the alerts token the alert
feed only; an auditor's token (``ODS_AUDITOR_TOKENS``) the audit log only (``auditor_access``).
A missing or wrong token is a 401 before anything else happens.

Personal ops tokens (``ODS_OPERATOR_TOKENS``, ``name:token`` pairs) open whatever the ops token
opens, ``/ops/login`` and the codec included. Where the gateway records who acted (an action on a
case, an alert's acknowledgement), ``OpsCaller`` settles the name: a personal token's own, or the
``operator`` the caller gives with the shared ops token. Tokens are compared in constant time, every
one of them whatever matches first, and never logged.

The codec endpoints (``/codec/encode``, ``/codec/decode``) take the ops token or, for the Web UI
(which sends cookies, not tokens, to a codec endpoint), the ops session cookie that ``/ops/login``
hands out for the ops token: ``v1.<expiry, unix seconds>.<hex HMAC-SHA256>``, keyed by a key
derived from the ops token. It is stateless, so every gateway with the same ops token accepts it,
and a new ops token ends every session.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from domain.validation import ApplicationInvalid, FieldError
from gateway.dependencies import SettingsDep
from infra.settings import Settings

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


def roles_of(settings: Settings, token: str) -> set[Role]:
    """The roles whose token this is (every role is compared, whatever matches first); a personal
    ops token is the ops role's."""
    roles = _shared_roles_of(settings, token)
    if personal_name_of(settings, token) is not None:
        roles.add(Role.OPS)
    return roles


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """A dependency: the bearer token the caller presents, else a 401."""
    if credentials is None:
        raise unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    return credentials.credentials


BearerTokenDep = Annotated[str, Depends(bearer_token)]


def require(*allowed: Role) -> Callable[..., Awaitable[Role]]:
    """A dependency that lets only these roles through and names the caller's role."""

    async def check_bearer_token(settings: SettingsDep, token: BearerTokenDep) -> Role:
        matched = roles_of(settings, token) & set(allowed)
        if not matched:
            raise unauthorized("the bearer token is not valid for this endpoint")
        return min(matched, key=list(Role).index)

    return check_bearer_token


portal_access = require(Role.PORTAL, Role.OPS)
"""``/v1/applications…``: the portal, and ops who may do everything the portal may."""
ops_access = require(Role.OPS)
"""Operations-only endpoints (subsidies, reports, codec), as later issues add them."""
alerts_access = require(Role.ALERTS, Role.OPS)
"""``/v1/alerts`` and ``/v1/alerts/stream``."""


# --- who acts: the shared ops token, or a personal one -------------------------------------------


@dataclass(frozen=True)
class OpsCaller:
    """An ops caller, and the name its actions are recorded under."""

    personal_name: str | None
    """The name of the personal token used; None for the shared ops token."""

    def operator(self, claimed: str | None) -> str:
        """The name to record, given the body's ``operator``. A personal token: its own name (the
        body may leave it out, or give the same; another name is a 403). The shared ops token: the
        body's name, which it must then give (a 422 at ``operator`` otherwise)."""
        given = claimed.strip() if claimed is not None else ""
        if self.personal_name is not None:
            if given and given != self.personal_name:
                raise HTTPException(
                    403,
                    f"this personal ops token is {self.personal_name}'s: act under that name (leave "
                    "operator out, or give it), or use the shared ops token",
                )
            return self.personal_name
        if not given:
            raise ApplicationInvalid(
                [
                    FieldError(
                        field="operator", message="operator is required with the shared ops token (who acts?)"
                    )
                ]
            )
        return given


async def ops_caller(settings: SettingsDep, token: BearerTokenDep) -> OpsCaller:
    """A dependency: the ops token or a personal ops token, else a 401 (before anything else)."""
    personal = personal_name_of(settings, token)
    if personal is not None:
        return OpsCaller(personal_name=personal)
    if Role.OPS in _shared_roles_of(settings, token):
        return OpsCaller(personal_name=None)
    raise unauthorized("the bearer token is not valid for this endpoint (the ops or a personal ops token)")


OpsCallerDep = Annotated[OpsCaller, Depends(ops_caller)]


# --- auditors: the audit log, and nothing else ---------------------------------------------------


async def auditor_access(settings: SettingsDep, token: BearerTokenDep) -> str:
    """A dependency: the name of the auditor whose token this is (``ODS_AUDITOR_TOKENS``), else a
    401. No other token opens the audit log, and an auditor's token opens nothing else (the
    settings refuse one equal to any other token)."""
    name = _name_of(settings.auditor_token_map, token)
    if name is None:
        raise unauthorized("the bearer token is not valid for this endpoint (an auditor's token)")
    return name


# --- the ops session cookie (the Web UI's way to the codec endpoints) ---------------------------

OPS_SESSION_COOKIE = "ods_ops_session"
OPS_SESSION_LIFETIME_S = 8 * 3600
_SESSION_VERSION = "v1"

ops_session = APIKeyCookie(
    name=OPS_SESSION_COOKIE,
    auto_error=False,
    description="the ops session cookie from /ops/login (the Web UI's way to the codec endpoints)",
)


def _session_key(settings: Settings) -> bytes:
    # Derived, so the cookie never carries anything that would open the bearer-token endpoints.
    return hmac.new(settings.ops_token.encode("utf-8"), b"ods ops session cookie v1", hashlib.sha256).digest()


def _session_mac(settings: Settings, expires: int) -> str:
    message = f"{_SESSION_VERSION}.{expires}".encode()
    return hmac.new(_session_key(settings), message, hashlib.sha256).hexdigest()


def issue_ops_session(settings: Settings, now: float | None = None) -> tuple[str, int]:
    """A new session cookie value and its expiry (unix seconds)."""
    expires = int(now if now is not None else time.time()) + OPS_SESSION_LIFETIME_S
    return f"{_SESSION_VERSION}.{expires}.{_session_mac(settings, expires)}", expires


def ops_session_expiry(settings: Settings, value: str | None, now: float | None = None) -> int | None:
    """The expiry of a valid, unexpired session cookie; None for anything else."""
    if not value:
        return None
    version, _, rest = value.partition(".")
    expires_text, _, mac = rest.partition(".")
    if version != _SESSION_VERSION or not expires_text.isdigit() or len(expires_text) > 12:
        return None
    expires = int(expires_text)
    if not hmac.compare_digest(_as_bytes(mac), _session_mac(settings, expires).encode()):
        return None
    current = now if now is not None else time.time()
    if expires <= current or expires > current + OPS_SESSION_LIFETIME_S + 60:
        return None
    return expires


async def codec_access(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    session: Annotated[str | None, Depends(ops_session)],
) -> Role:
    """``/codec/…``: the ops token (the CLI's ``--codec-auth "Bearer …"``) or the ops session
    cookie (the Web UI)."""
    if credentials is not None and Role.OPS in roles_of(settings, credentials.credentials):
        return Role.OPS
    if ops_session_expiry(settings, session) is not None:
        return Role.OPS
    if credentials is None and session is None:
        raise unauthorized(
            "the ops token (Authorization: Bearer <token>) or the ops session cookie from /ops/login "
            "is required"
        )
    raise unauthorized("neither an ops token nor a valid ops session (sign in again at /ops/login)")
