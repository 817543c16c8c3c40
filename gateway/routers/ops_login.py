"""``/ops/login`` and ``/ops/logout``: an operator signs in with their personal ops token and gets
the session cookie the Web UI needs; signing out ends it.

The Web UI decodes payloads through the gateway's codec endpoint (``/codec``), and sends it the
browser's cookies, never a token. This page takes a personal ops token (``ODS_OPERATOR_TOKENS``)
once and opens a session that names that person (``gateway/sessions.py``: server-side, HttpOnly,
SameSite=Strict, ``__Host-``/``Secure`` over TLS, an idle and an absolute timeout); the cookie
opens the codec endpoints and nothing else. Outside production the shared ops token
(``ODS_OPS_TOKEN``) may sign in too, as ``shared-ops-token``; in production it may not (403).
Wrong tokens count towards the address's limit (``gateway/failures.py``).
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from domain.audit import AuditAction
from domain.districts import CITY_ZONE
from gateway.auth import FailureLimiterDep, personal_name_of, shared_ops_token
from gateway.bodies import BodyRoute, form_body, read_body
from gateway.dependencies import ServiceDatabaseDep, SettingsDep
from gateway.failures import Client, TooManyFailures
from gateway.models import Detail
from gateway.sessions import (
    ABSOLUTE_TIMEOUT,
    IDLE_TIMEOUT,
    SignedIn,
    browser_session,
    clear_cookie,
    cookie_name,
    minutes,
    operator_sessions,
    set_cookie,
)
from infra.logging import get_logger
from infra.settings import SHARED_OPS_NAME, Settings
from service import audit
from service.audit import Access
from store.service import ServiceDatabase

log = get_logger("gateway.ops_login")

router = APIRouter(route_class=BodyRoute, prefix="/ops", tags=["operations"])


class LoginForm(BaseModel):
    """The sign-in form, ``application/x-www-form-urlencoded``."""

    token: str = Field(
        description="a personal ops token (ODS_OPERATOR_TOKENS), or outside production the shared ops "
        "token (ODS_OPS_TOKEN); any other, or none, gets the page again with 401"
    )


async def login_form(request: Request) -> LoginForm:
    """The form as a browser sends it; a token that is missing is an empty one (401, like a wrong one)."""
    form = parse_qs((await read_body(request)).decode("utf-8", errors="replace"), keep_blank_values=True)
    return LoginForm(token=(form.get("token") or [""])[0].strip())


_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

_STYLE = """
body { font-family: system-ui, "WenQuanYi Micro Hei", sans-serif; max-width: 44rem; margin: 3rem auto;
       padding: 0 1rem; line-height: 1.5; color: #1f2328; }
h1 { font-size: 1.4rem; }
form { margin: 1.5rem 0; padding: 1rem; border: 1px solid #d0d7de; border-radius: 6px; }
label { display: block; font-weight: 600; margin-bottom: .4rem; }
input[type=password] { width: 100%; padding: .4rem; font-size: 1rem; box-sizing: border-box; }
button { margin-top: .8rem; padding: .4rem 1.2rem; font-size: 1rem; }
.error { color: #b42318; font-weight: 600; }
.ok { color: #1a7f37; font-weight: 600; }
code { background: #f6f8fa; padding: 0 .2rem; word-break: break-all; }
"""


def _gateway_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _until(moment: datetime) -> str:
    return moment.astimezone(CITY_ZONE).strftime("%Y-%m-%d %H:%M")


def _page(request: Request, settings: Settings, *, message: str = "", signed_in: SignedIn | None) -> str:
    e = html.escape
    gateway = _gateway_url(request)
    ui_origin = settings.ui_origin
    if message:
        status = f'<p class="error" role="alert">{e(message)}</p>'
    elif signed_in is not None:
        who = signed_in.operator if signed_in.personal else "the shared ops token (ODS_OPS_TOKEN)"
        status = (
            f'<p class="ok" role="status">Signed in as {e(who)} until {e(_until(signed_in.ends_at))} '
            f"(Beijing time; each use keeps it open up to {minutes(ABSOLUTE_TIMEOUT) // 60} hours after "
            f'signing in). Reload the Web UI at <a href="{e(ui_origin)}">{e(ui_origin)}</a>: it decodes '
            "payloads once this browser has the Codec Server setting below.</p>"
            '<form method="post" action="/ops/logout"><button type="submit">Sign out</button></form>'
        )
    else:
        status = ""
    if settings.env == "production":
        which = "Your personal ops token (from <code>ODS_OPERATOR_TOKENS</code>)"
    else:
        which = (
            "Your personal ops token (from <code>ODS_OPERATOR_TOKENS</code>; outside production the "
            "shared <code>ODS_OPS_TOKEN</code> works too)"
        )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>One-Day Setup (一日办) · ops sign-in</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>One-Day Setup (一日办) · ops sign-in 运维登录</h1>
{status}
<p>Payloads in Temporal are encrypted, so citizens' ID numbers and phones are never readable there
without the key. The Web UI at <a href="{e(ui_origin)}">{e(ui_origin)}</a> decodes
them through this gateway's codec endpoint (<code>{e(gateway)}/codec</code>), which needs the ops
session this page signs you in to. Not only inputs and results pass through the codec: a case's
summary, its current details and query results (the status document) do too, so without signing in
ops see ciphertext there as well.</p>
<form method="post" action="{e(request.url.path)}">
<label for="token">{which}</label>
<input type="password" id="token" name="token" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
<p>Once per browser, tell the Web UI to send this session with its codec calls: click the Codec
Server button in its top bar (the glasses icon), choose "Use my browser setting", enter
<code>{e(gateway)}/codec</code>, switch on "Include cross-origin credentials" and Apply; the UI
keeps this in the browser. (The embedded dev server points the UI at that endpoint but tells it
to send no cookies, and has no option to change that.)</p>
<p>The session names you: what you decode is yours. It is an HttpOnly cookie for this gateway that
opens the codec endpoints only; it ends {minutes(IDLE_TIMEOUT)} minutes after its last use,
{minutes(ABSOLUTE_TIMEOUT) // 60} hours after signing in, when you sign out, or when your token is
removed or changed. On the command line, pass your token instead:
<code>temporal workflow show -w setup-&lt;application_id&gt; --codec-endpoint {e(gateway)}/codec
--codec-auth "Bearer &lt;your ops token&gt;"</code>.</p>
</body>
</html>
"""


def _answer(
    request: Request, settings: Settings, status: int, message: str, headers: dict[str, str] | None = None
) -> HTMLResponse:
    return HTMLResponse(
        _page(request, settings, message=message, signed_in=None),
        status_code=status,
        headers=_PAGE_HEADERS | (headers or {}),
    )


@router.get(
    "/login",
    summary="The ops sign-in page (HTML)",
    response_class=HTMLResponse,
    responses={
        503: {"model": Detail, "description": "a session cookie, and the service database is unreachable"}
    },
)
async def login_page(request: Request, settings: SettingsDep, database: ServiceDatabaseDep) -> HTMLResponse:
    """A form for an ops token; says whether this browser is signed in, as whom, and until when."""
    signed_in = await browser_session(request, settings, database)
    return HTMLResponse(_page(request, settings, signed_in=signed_in), headers=_PAGE_HEADERS)


@router.post(
    "/login",
    summary="Sign in with a personal ops token: opens a session, sets its cookie",
    response_class=HTMLResponse,
    status_code=303,
    responses={
        303: {"description": "signed in: the session cookie is set; back to the page"},
        401: {
            "description": "not an ops token: the page again, with a message",
            "content": {"text/html": {}},
        },
        403: {
            "description": "ODS_ENV=production and the shared ops token: a person must sign in",
            "content": {"text/html": {}},
        },
        429: {
            "description": "too many wrong tokens from this address (Retry-After says when to try again)",
            "content": {"text/html": {}},
        },
        503: {"model": Detail, "description": "the service database is unreachable; try again"},
    },
    openapi_extra=form_body(LoginForm),
)
async def login(
    request: Request,
    settings: SettingsDep,
    database: ServiceDatabaseDep,
    limiter: FailureLimiterDep,
    form: Annotated[LoginForm, Depends(login_form)],
) -> Response:
    client = Client.of(request)
    try:
        limiter.check(client)
    except TooManyFailures as err:
        return _answer(request, settings, 429, str(err.detail), {"Retry-After": str(err.retry_after)})
    token = form.token
    if not token:
        return _answer(request, settings, 401, "Enter your personal ops token.")
    operator = personal_name_of(settings, token)
    if operator is None:
        if not shared_ops_token(settings, token):
            limiter.failed(client, where="login", why="not an ops token")
            await _audit(database, client, "unknown", "login_failed", "not an ops token")
            return _answer(request, settings, 401, "That is not an ops token. Try again.")
        if settings.env == "production":
            log.warning("ops_login_refused", why="shared ops token in production", client=client.address)
            await _audit(database, client, SHARED_OPS_NAME, "login_failed", "shared ops token in production")
            return _answer(
                request,
                settings,
                403,
                "ODS_ENV=production: the shared ops token cannot sign in. Sign in with your personal ops "
                "token (ODS_OPERATOR_TOKENS), so that what you read is recorded under your name.",
            )
    sessions = await operator_sessions(request, settings, database)
    await sessions.end(request.cookies.get(cookie_name(settings)))  # the browser's earlier session
    session_id, _ = await sessions.open(
        operator=operator or SHARED_OPS_NAME, personal=operator is not None, token=token
    )
    await _audit(database, client, operator or SHARED_OPS_NAME, "login", "session opened")
    answer = RedirectResponse(request.url.path, status_code=303, headers={"Cache-Control": "no-store"})
    set_cookie(answer, settings, session_id)
    return answer


async def _audit(
    database: ServiceDatabase, client: Client, actor: str, action: AuditAction, detail: str
) -> None:
    """A sign-in or a refused one, in the audit log (before the answer: a 503 when it cannot be)."""
    access = Access(actor=actor, role="ops", client=client.address, user_agent=client.user_agent)
    await audit.record(database, access, action, detail=detail)


@router.post(
    "/logout",
    summary="Sign out: ends this browser's session",
    response_class=RedirectResponse,
    status_code=303,
    responses={
        303: {"description": "signed out (if signed in): the cookie is cleared; to the sign-in page"},
        503: {"model": Detail, "description": "the service database is unreachable; try again"},
    },
)
async def logout(request: Request, settings: SettingsDep, database: ServiceDatabaseDep) -> Response:
    cookie = request.cookies.get(cookie_name(settings))
    if cookie:
        await (await operator_sessions(request, settings, database)).end(cookie)
    answer = RedirectResponse("/ops/login", status_code=303, headers={"Cache-Control": "no-store"})
    clear_cookie(answer, settings)
    return answer
