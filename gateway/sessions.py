"""Operators' sessions: what ``/ops/login`` opens and the Web UI's codec calls carry.

A session names the person who signed in: their personal ops token's name, or ``shared-ops-token``
(``infra.settings.SHARED_OPS_NAME``) for the shared ops token, which outside production may still
sign in. It is kept in the service database (``store/sessions.py``), so every gateway sees it, and
the browser holds only a random id (256 bits) in an HttpOnly cookie; the database holds the id's
SHA-256, never the id.

A session counts while all of these hold, checked on every use:
- it was used within ``IDLE_TIMEOUT`` and opened within ``ABSOLUTE_TIMEOUT``;
- the token it was opened with is still that person's token in this gateway's settings: the row
  keeps a fingerprint of it, HMAC-SHA256 under ``ODS_SESSION_SECRET`` (a key of its own, never
  derived from a token), so removing or changing a person's token ends their sessions, and a new
  ``ODS_SESSION_SECRET`` ends every session.
A session that no longer counts is ended (its row deleted) when it is next presented.

The cookie: ``SameSite=Strict`` (the Web UI's codec calls are same-site: the UI and the gateway
share scheme and host, on other ports, e.g. 127.0.0.1:8233 and 127.0.0.1:8000, or two names under
one registrable domain; a page on any other site cannot make the browser send it). Where the gateway
is reached over TLS (``ODS_GATEWAY_URL`` is ``https://``) it is ``Secure`` and named with the
``__Host-`` prefix, so no other host or plain-http page can set or overwrite it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import Request, Response

from infra.logging import get_logger
from infra.settings import Settings
from store.service import ServiceDatabase
from store.sessions import OpsSession, OpsSessions

log = get_logger("gateway.sessions")

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=8)
# The last use is written at most this often per session (the Web UI decodes in bursts).
TOUCH_EVERY = timedelta(minutes=1)
COOKIE = "ods_ops_session"
TLS_COOKIE = "__Host-ods_ops_session"

Clock = Callable[[], datetime]


def minutes(span: timedelta) -> int:
    return int(span.total_seconds()) // 60


def utc_now() -> datetime:
    return datetime.now(UTC)


def gateway_clock(request: Request) -> Clock:
    """The gateway's clock (``app.state.clock``; a test sets its own)."""
    clock: Clock = request.app.state.clock
    return clock


def served_over_tls(settings: Settings) -> bool:
    """Whether browsers reach the gateway over TLS: its public URL (``ODS_GATEWAY_URL``) says so,
    whether TLS ends at the gateway or at a proxy in front of it."""
    return settings.gateway_url.lower().startswith("https://")


def cookie_name(settings: Settings) -> str:
    return TLS_COOKIE if served_over_tls(settings) else COOKIE


def token_fingerprint(settings: Settings, token: str) -> str:
    key = settings.session_secret.encode("utf-8")
    return hmac.new(key, b"ods ops session token\x00" + token.encode("utf-8"), hashlib.sha256).hexdigest()


def _id_sha256(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _current_token(settings: Settings, session: OpsSession) -> str | None:
    if session.personal:
        return settings.personal_ops_tokens.get(session.operator)
    return settings.ops_token


@dataclass(frozen=True)
class SignedIn:
    """A session that counts: who, and until when at the latest unless used again."""

    operator: str
    personal: bool
    ends_at: datetime


class OperatorSessions:
    """Open, find and end sessions, against this gateway's settings and clock."""

    def __init__(self, store: OpsSessions, settings: Settings, clock: Clock) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock

    async def open(self, *, operator: str, personal: bool, token: str) -> tuple[str, SignedIn]:
        """A new session for ``operator``, opened with ``token``: the cookie's value, and the session."""
        now = self._clock()
        # Sessions nobody will present again go whenever someone signs in: the table stays small.
        await self._store.end_stale(idle_since=now - IDLE_TIMEOUT, now=now)
        session_id = secrets.token_urlsafe(32)
        session = OpsSession(
            id_sha256=_id_sha256(session_id),
            operator=operator,
            personal=personal,
            token_fingerprint=token_fingerprint(self._settings, token),
            opened_at=now,
            last_used_at=now,
            expires_at=now + ABSOLUTE_TIMEOUT,
        )
        await self._store.open(session)
        log.info("ops_session_opened", operator=operator, personal=personal)
        return session_id, self._signed_in(session, now)

    async def find(self, session_id: str | None) -> SignedIn | None:
        """The session of this cookie value if it counts (its use recorded); None, after ending it
        if there was one, if it does not."""
        if not session_id:
            return None
        id_sha256 = _id_sha256(session_id)
        session = await self._store.get(id_sha256)
        if session is None:
            return None
        now = self._clock()
        why = self._why_not(session, now)
        if why is not None:
            await self._store.end(id_sha256)
            log.info("ops_session_ended", operator=session.operator, why=why)
            return None
        if now - session.last_used_at >= TOUCH_EVERY:
            await self._store.touch(id_sha256, now)
            session = OpsSession(**(session.__dict__ | {"last_used_at": now}))
        return self._signed_in(session, now)

    async def end(self, session_id: str | None) -> SignedIn | None:
        """Sign out: end the session of this cookie value; who it was, if it counted."""
        signed_in = await self.find(session_id)
        if session_id and await self._store.end(_id_sha256(session_id)) and signed_in is not None:
            log.info("ops_session_ended", operator=signed_in.operator, why="signed out")
        return signed_in

    def _why_not(self, session: OpsSession, now: datetime) -> str | None:
        if now >= session.expires_at:
            return "absolute timeout"
        if now >= session.last_used_at + IDLE_TIMEOUT:
            return "idle timeout"
        current = _current_token(self._settings, session)
        if current is None or not hmac.compare_digest(
            token_fingerprint(self._settings, current), session.token_fingerprint
        ):
            return "token removed or changed"
        return None

    @staticmethod
    def _signed_in(session: OpsSession, now: datetime) -> SignedIn:
        ends_at = min(session.expires_at, max(now, session.last_used_at) + IDLE_TIMEOUT)
        return SignedIn(operator=session.operator, personal=session.personal, ends_at=ends_at)


async def operator_sessions(
    request: Request, settings: Settings, database: ServiceDatabase
) -> OperatorSessions:
    """The sessions, on the service database (``ServiceDatabaseUnavailable``, a 503, while it is
    unreachable): reached only once a request holds a cookie or a right token."""
    return OperatorSessions(await database.sessions(), settings, gateway_clock(request))


async def browser_session(request: Request, settings: Settings, database: ServiceDatabase) -> SignedIn | None:
    """The session of the request's cookie, if it counts; the service database is reached only when
    there is a cookie (a request with a bearer token or none needs no database)."""
    cookie = request.cookies.get(cookie_name(settings))
    return await (await operator_sessions(request, settings, database)).find(cookie) if cookie else None


def set_cookie(response: Response, settings: Settings, session_id: str) -> None:
    tls = served_over_tls(settings)
    response.set_cookie(
        cookie_name(settings),
        session_id,
        max_age=int(ABSOLUTE_TIMEOUT.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=tls,
    )


def clear_cookie(response: Response, settings: Settings) -> None:
    tls = served_over_tls(settings)
    response.delete_cookie(cookie_name(settings), path="/", httponly=True, samesite="strict", secure=tls)
