"""``/ops/login``: ops sign in with the ops token and get the session cookie the Web UI needs.

The Web UI decodes payloads through the gateway's codec endpoint (``/codec``), and sends it the
browser's cookies, never a token. This page takes the ops token (``ODS_OPS_TOKEN``) once and
sets an HttpOnly, SameSite=Lax cookie (``gateway.auth.OPS_SESSION_COOKIE``) that opens the codec
endpoints, and nothing else, for ``OPS_SESSION_LIFETIME_S``.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from domain.districts import CITY_ZONE
from gateway.auth import (
    OPS_SESSION_COOKIE,
    OPS_SESSION_LIFETIME_S,
    Role,
    issue_ops_session,
    ops_session_expiry,
    roles_of,
)
from gateway.bodies import BodyRoute, form_body, read_body
from gateway.dependencies import SettingsDep

router = APIRouter(route_class=BodyRoute, prefix="/ops", tags=["operations"])


class LoginForm(BaseModel):
    """The sign-in form, ``application/x-www-form-urlencoded``."""

    token: str = Field(
        description="the ops token (ODS_OPS_TOKEN) or a personal ops token; any other, or none, gets the "
        "page again with 401"
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


def _page(request: Request, ui_origin: str, *, message: str = "", signed_in_until: int | None) -> str:
    e = html.escape
    gateway = _gateway_url(request)
    hours = OPS_SESSION_LIFETIME_S // 3600
    if message:
        status = f'<p class="error" role="alert">{e(message)}</p>'
    elif signed_in_until is not None:
        until = datetime.fromtimestamp(signed_in_until, UTC).astimezone(CITY_ZONE).strftime("%Y-%m-%d %H:%M")
        status = (
            f'<p class="ok" role="status">Signed in until {e(until)} (Beijing time). Reload the Web UI at '
            f'<a href="{e(ui_origin)}">{e(ui_origin)}</a>: it decodes payloads once this browser has the '
            "Codec Server setting below.</p>"
        )
    else:
        status = ""
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
<label for="token">Ops token (<code>ODS_OPS_TOKEN</code>, or your personal token from
<code>ODS_OPERATOR_TOKENS</code>)</label>
<input type="password" id="token" name="token" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
<p>Once per browser, tell the Web UI to send this session with its codec calls: click the Codec
Server button in its top bar (the glasses icon), choose "Use my browser setting", enter
<code>{e(gateway)}/codec</code>, switch on "Include cross-origin credentials" and Apply; the UI
keeps this in the browser. (The embedded dev server points the UI at that endpoint but tells it
to send no cookies, and has no option to change that.)</p>
<p>The session is an HttpOnly cookie for this gateway, valid {hours} hours; it opens the codec
endpoints only. On the command line, pass the token instead:
<code>temporal workflow show -w setup-&lt;application_id&gt; --codec-endpoint {e(gateway)}/codec
--codec-auth "Bearer &lt;ops token&gt;"</code>.</p>
</body>
</html>
"""


@router.get("/login", summary="The ops sign-in page (HTML)", response_class=HTMLResponse)
async def login_page(request: Request, settings: SettingsDep) -> HTMLResponse:
    """A form for the ops token; says whether this browser is signed in, and until when."""
    expiry = ops_session_expiry(settings, request.cookies.get(OPS_SESSION_COOKIE))
    return HTMLResponse(
        _page(request, settings.ui_origin, signed_in_until=expiry),
        headers=_PAGE_HEADERS,
    )


@router.post(
    "/login",
    summary="Sign in with the ops token: sets the ops session cookie",
    response_class=HTMLResponse,
    status_code=303,
    responses={
        303: {"description": "signed in: the session cookie is set; back to the page"},
        401: {
            "description": "not the ops token: the page again, with a message",
            "content": {"text/html": {}},
        },
    },
    openapi_extra=form_body(LoginForm),
)
async def login(
    request: Request, settings: SettingsDep, form: Annotated[LoginForm, Depends(login_form)]
) -> Response:
    token = form.token
    if not token or Role.OPS not in roles_of(settings, token):
        return HTMLResponse(
            _page(
                request,
                settings.ui_origin,
                message="That is not the ops token (ODS_OPS_TOKEN). Try again."
                if token
                else "Enter the ops token (ODS_OPS_TOKEN).",
                signed_in_until=None,
            ),
            status_code=401,
            headers=_PAGE_HEADERS,
        )
    value, _expires = issue_ops_session(settings)
    answer = RedirectResponse(request.url.path, status_code=303, headers={"Cache-Control": "no-store"})
    answer.set_cookie(
        OPS_SESSION_COOKIE,
        value,
        max_age=OPS_SESSION_LIFETIME_S,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https" or settings.gateway_url.startswith("https://"),
    )
    return answer
