"""In a real browser (Debian's Chromium, driven by Playwright): an operator who signs in at the
gateway's ``/ops/login`` with their personal token and makes the Web UI's one-time Codec Server
setting reads a case's decoded application in the Temporal Web UI, and the audit log (``GET
/v1/audit``, an auditor's token; CONTRACT.md section 11) holds exactly those decodes, by that person,
of that case; once they sign out, that browser, and one replaying their cookie, sees none of its
personal data there (README, "Finding a case in the Web UI"); the audit chain verifies
(``starter.py audit verify``).

The dev server's UI (``--ui-codec-endpoint``) reports ``includeCredentials: false`` and no flag,
variable or file of ``temporal server start-dev`` (CLI 1.9.1) changes that, so the UI calls the
codec without cookies until the browser's own setting says otherwise; the first part shows that too.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, Response, async_playwright, expect

from domain.case_ids import workflow_id_for
from gateway.sessions import COOKIE as OPS_SESSION_COOKIE
from infra.temporal import SA_DISTRICT_CODE, SA_ENTERPRISE_NAME, SA_USCC
from tests import factories
from tests.browser.stack import WebUiStack, web_ui_stack
from tests.helpers import start, until

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    # Loopback only: the UI's own calls out (its news feed at newsfeed.temporal.io) fail at once.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
WAIT_MS = 30_000
"""How long to wait for anything the UI renders (a case's page takes up to ~10 s on two busy cores)."""

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} is missing: `bash scripts/setup-system.sh` installs Debian's chromium",
    ),
]

# The UI's persisted stores (src/lib/stores/data-encoder-config.ts in temporalio/ui), which its
# Codec Server dialog writes to localStorage as JSON: what this browser now uses.
UI_CODEC_SETTINGS = ("overrideRemoteCodecConfiguration", "endpoint", "includeCredentials")
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{40,}")
DECODE_COUNTS = re.compile(
    r'ods_gateway_requests_total\{method="POST",route="/codec/decode",status="(\d+)"\} (\d+)'
)


OPERATOR = "ouyang.lan"
OPERATOR_TOKEN = secrets.token_urlsafe(32)
AUDITOR_TOKEN = secrets.token_urlsafe(32)


@pytest_asyncio.fixture(scope="module")
async def web_ui(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[WebUiStack]:
    async with web_ui_stack(
        sandbox_url,
        tmp_path_factory.mktemp("web-ui"),
        operator_tokens=f"{OPERATOR}:{OPERATOR_TOKEN}",
        auditor_tokens=f"lu.shen:{AUDITOR_TOKEN}",
    ) as stack:
        yield stack


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class CodecCall:
    status: int
    sent_session_cookie: bool


class CodecCalls:
    """Every ``POST <codec>/decode`` a browser context makes, as the browser saw it."""

    def __init__(self, context: BrowserContext, endpoint: str) -> None:
        self._responses: list[Response] = []
        self._endpoint = f"{endpoint}/decode"
        context.on("response", self._seen)

    def _seen(self, response: Response) -> None:
        if response.url.startswith(self._endpoint) and response.request.method == "POST":
            self._responses.append(response)

    def clear(self) -> None:
        self._responses.clear()

    async def calls(self) -> list[CodecCall]:
        found = []
        for response in self._responses:
            headers = await response.request.all_headers()
            cookie = headers.get("cookie", "")
            found.append(CodecCall(response.status, f"{OPS_SESSION_COOKIE}=" in cookie))
        return found

    async def wait_for_one(self, page: Page) -> None:
        """Until the UI has called the codec at least once."""
        if not self._responses:
            await page.wait_for_event(
                "response",
                lambda r: r.url.startswith(self._endpoint) and r.request.method == "POST",
                timeout=WAIT_MS,
            )


async def gateway_codec_answers(stack: WebUiStack) -> dict[int, int]:
    """How many ``POST /codec/decode`` the gateway answered, by status (its ``/metrics``)."""
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=10) as http:
        text = (await http.get("/metrics")).text
    return {int(status): int(n) for status, n in DECODE_COUNTS.findall(text)}


def more(after: dict[int, int], before: dict[int, int]) -> dict[int, int]:
    return {s: n - before.get(s, 0) for s, n in after.items() if n - before.get(s, 0)}


async def sign_in(page: Page, stack: WebUiStack) -> None:
    """As an operator does: the gateway's sign-in page, their personal ops token, "Sign in"; the
    page names them."""
    await page.goto(f"{stack.gateway_url}/ops/login")
    await page.get_by_label("Your personal ops token").fill(OPERATOR_TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("status")).to_contain_text(
        f"Signed in as {OPERATOR} until", timeout=WAIT_MS
    )
    # The page names the one-time UI setting that ``make_the_codec_setting`` makes.
    for words in ("Use my browser setting", stack.codec_endpoint, "Include cross-origin credentials"):
        await expect(page.get_by_text(words).first).to_be_visible()


async def make_the_codec_setting(page: Page, endpoint: str) -> None:
    """As ops do, once per browser, in the UI's Codec Server dialog (opened from the top bar's
    codec status button): "Use my browser setting", the endpoint, "Include cross-origin
    credentials", Apply."""
    status = page.locator('[data-testid^="data-encoder-status"]').filter(visible=True)
    await status.click(timeout=WAIT_MS)
    dialog = page.locator("#data-encoder-settings")
    await expect(dialog.get_by_test_id("data-encoder-title")).to_have_text("Codec Server", timeout=WAIT_MS)
    await dialog.get_by_text("Use my browser setting").click()
    await dialog.locator("#data-encoder-endpoint-input").fill(endpoint)
    # A switch over a visually hidden checkbox: clicked where ops click, on its label.
    await dialog.get_by_text("Include cross-origin credentials").click()
    await expect(dialog.get_by_role("switch", name="Include cross-origin credentials")).to_be_checked()
    await dialog.get_by_test_id("confirm-modal-button").click()
    await expect(dialog.get_by_test_id("data-encoder-title")).to_be_hidden(timeout=WAIT_MS)


async def sign_out(page: Page, stack: WebUiStack) -> None:
    """As an operator does: "Sign out" on the gateway's sign-in page; it then asks for a token again."""
    await page.goto(f"{stack.gateway_url}/ops/login")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("Your personal ops token")).to_be_visible(timeout=WAIT_MS)
    await expect(page.get_by_role("status")).to_have_count(0)


async def audit_log(stack: WebUiStack, **query: str) -> list[dict[str, Any]]:
    """Every entry of ``GET /v1/audit`` for ``query``, as the auditor reads them (all pages)."""
    entries: list[dict[str, Any]] = []
    after: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=10) as http:
        while True:
            answer = await http.get(
                "/v1/audit", params=query | after, headers={"Authorization": f"Bearer {AUDITOR_TOKEN}"}
            )
            assert answer.status_code == 200, answer.text
            page = answer.json()
            entries += page["entries"]
            if not page["next_cursor"]:
                return entries
            after = {"after": page["next_cursor"]}


def audit_verify(stack: WebUiStack) -> subprocess.CompletedProcess[str]:
    """``python starter.py audit verify`` on the stack's service database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODS_")}
    return subprocess.run(
        [sys.executable, "starter.py", "audit", "verify"],
        cwd=ROOT,
        env=env | {"ODS_DATABASE_URL": stack.settings.resolved_database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def ui_codec_settings(page: Page) -> dict[str, Any]:
    stored: dict[str, Any] = await page.evaluate(
        "keys => Object.fromEntries(keys.map(k => [k, JSON.parse(localStorage.getItem(k))]))",
        list(UI_CODEC_SETTINGS),
    )
    return stored


async def page_text(page: Page) -> str:
    """What the page shows and holds: its visible text and its whole HTML."""
    return "\n".join([await page.inner_text("body"), await page.content()])


def shown(secrets: dict[str, str], text: str) -> list[str]:
    return [what for what, value in secrets.items() if value in text]


async def test_an_operator_who_signs_in_reads_the_application_on_record_and_not_after_signing_out(
    web_ui: WebUiStack, browser: Browser, tmp_path: Path
) -> None:
    stack = web_ui.stack
    body = factories.application(name="安阳市文峰区砚秋浏览餐饮有限公司")
    app_id = body["application_id"]
    representative = body["legal_representative"]
    representative["name"] = "欧阳砚秋"
    representative["phone"] = f"139{random.randint(10**7, 10**8 - 1)}"
    body["shareholders"][0]["name"] = representative["name"]
    body["delivery"].update(recipient=representative["name"], phone=f"158{random.randint(10**7, 10**8 - 1)}")
    personal = {
        "the representative's ID number": representative["id_number"],
        "the representative's phone": representative["phone"],
        "the representative's name": representative["name"],
        "the recipient's phone": body["delivery"]["phone"],
    }
    handle = await start(stack, body)
    assert handle.id == workflow_id_for(app_id)
    done = await until(stack, app_id, lambda s: s.is_final, timeout=60)
    assert done.stage == "completed", done.stage
    case_page = f"{web_ui.ui_url}/namespaces/{stack.settings.temporal_namespace}/workflows/{handle.id}"
    async with httpx.AsyncClient(timeout=10) as http:
        ui_settings = (await http.get(f"{web_ui.ui_url}/api/v1/settings")).json()["Codec"]
    assert ui_settings["Endpoint"] == web_ui.codec_endpoint
    assert ui_settings["IncludeCredentials"] is False  # hence the browser's own setting below

    # (a) The operator signs in. Until the browser's Codec Server setting is made, the UI calls the
    # codec without the session cookie (401) and shows ciphertext.
    ops = await browser.new_context()
    ops_calls = CodecCalls(ops, web_ui.codec_endpoint)
    page = await ops.new_page()
    user_agent = await page.evaluate("navigator.userAgent")
    await sign_in(page, web_ui)
    before = await gateway_codec_answers(web_ui)
    await page.goto(case_page)
    io_block = page.get_by_test_id("input-and-result")
    await expect(io_block).to_contain_text(BASE64_RUN, timeout=WAIT_MS)
    await ops_calls.wait_for_one(page)
    assert {(c.status, c.sent_session_cookie) for c in await ops_calls.calls()} == {(401, False)}
    assert not shown(personal, await page_text(page))

    await make_the_codec_setting(page, web_ui.codec_endpoint)
    stored = await ui_codec_settings(page)
    assert stored == {
        "overrideRemoteCodecConfiguration": True,
        "endpoint": web_ui.codec_endpoint,
        "includeCredentials": True,
    }, stored
    ops_calls.clear()
    await page.goto(case_page)
    await expect(io_block).to_contain_text(representative["id_number"], timeout=WAIT_MS)
    await expect(io_block).to_contain_text(representative["name"])
    await page.screenshot(path=str(tmp_path / "signed-in.png"))
    decoded = await ops_calls.calls()
    assert decoded and {(c.status, c.sent_session_cookie) for c in decoded} == {(200, True)}, decoded
    text = await page_text(page)
    assert representative["phone"] in text
    assert "Codec Server could not connect" not in text

    # (b) The operator signs out: the same browser, its UI setting unchanged, now calls the codec
    # without a session (401) and shows ciphertext only.
    [session_cookie] = [c for c in await ops.cookies() if c["name"] == OPS_SESSION_COOKIE]
    await sign_out(page, web_ui)
    assert not [c for c in await ops.cookies() if c["name"] == OPS_SESSION_COOKIE]
    ops_calls.clear()
    await page.goto(case_page)
    await expect(page.get_by_test_id("workflow-id-heading")).to_contain_text(handle.id, timeout=WAIT_MS)
    await expect(io_block).to_contain_text(BASE64_RUN, timeout=WAIT_MS)
    await ops_calls.wait_for_one(page)
    signed_out = await ops_calls.calls()
    assert {(c.status, c.sent_session_cookie) for c in signed_out} == {(401, False)}, signed_out
    assert not shown(personal, await page_text(page))
    assert await ui_codec_settings(page) == stored
    ui_storage = [o for o in (await ops.storage_state())["origins"] if o["origin"] == web_ui.ui_url]
    assert ui_storage, "the UI stored no settings in this browser"
    await ops.close()

    # (c) A browser with the same UI setting that replays the ended session's cookie: the session is
    # gone on the gateway too (401), and the UI shows ciphertext only.
    stranger = await browser.new_context(storage_state={"cookies": [session_cookie], "origins": ui_storage})
    stranger_calls = CodecCalls(stranger, web_ui.codec_endpoint)
    page = await stranger.new_page()
    await page.goto(case_page)
    await expect(page.get_by_test_id("workflow-id-heading")).to_contain_text(handle.id, timeout=WAIT_MS)
    assert await ui_codec_settings(page) == stored
    io_block = page.get_by_test_id("input-and-result")
    await expect(io_block).to_contain_text(BASE64_RUN, timeout=WAIT_MS)
    refusal = page.get_by_text("Codec Server could not connect").filter(visible=True)
    await expect(refusal.first).to_be_visible(timeout=WAIT_MS)
    await page.screenshot(path=str(tmp_path / "signed-out.png"))
    refused = await stranger_calls.calls()
    assert refused and {(c.status, c.sent_session_cookie) for c in refused} == {(401, True)}, refused
    assert not shown(personal, await page_text(page))
    # Its search attributes (no personal data) still tell ops which case this is.
    await page.get_by_test_id("search-attributes-tab").click()
    attributes = page.get_by_role("textbox", name="Search Attributes")
    for key, value in (
        (SA_ENTERPRISE_NAME, body["enterprise"]["name"]),
        (SA_DISTRICT_CODE, body["enterprise"]["district_code"]),
        (SA_USCC, done.uscc),
    ):
        assert value
        shown_as = re.compile(rf'"{key.name}":\s*"{re.escape(value)}"')
        await expect(attributes).to_contain_text(shown_as, timeout=WAIT_MS)
    assert not shown(personal, await page_text(page))
    await page.get_by_test_id("history-tab").click()
    # Newest first: the case's own completion heads its history.
    latest = page.get_by_test_id("event-summary-row").first
    await expect(latest).to_contain_text("Workflow Execution Completed", timeout=WAIT_MS)
    assert not shown(personal, await page_text(page))
    await stranger.close()

    # The gateway's own count agrees: it answered the signed-in browser's decodes 200, the rest 401.
    answers = more(await gateway_codec_answers(web_ui), before)
    assert set(answers) == {200, 401}, answers
    assert answers[200] >= len(decoded), (answers, decoded)
    assert answers[401] >= len(signed_out) + len(refused) + 1, (answers, signed_out, refused)

    # (d) The audit log, as the auditor reads it: this case was opened by that person alone, once per
    # decode the gateway answered (each payload under the case's own key names it), from this
    # browser; the sign-in is theirs; nothing else was recorded (refused decodes open nothing).
    # (The Web UI also sends payloads that are plaintext by design, such as a local activity
    # marker's own record: those decodes are recorded too, opening no payload of any case.)
    of_the_case = await audit_log(web_ui, case=app_id)
    decodes = [e for e in await audit_log(web_ui) if e["action"] == "decode"]
    assert len(decodes) == answers[200], (answers, decodes)
    assert of_the_case and {e["id"] for e in of_the_case} == {
        e["id"] for e in decodes if e["payloads"] >= 1
    }, (of_the_case, decodes)
    for entry in decodes:
        assert (entry["actor"], entry["role"]) == (OPERATOR, "ops"), entry
        assert entry["cases"] == ([app_id] if entry["payloads"] >= 1 else []), entry
        assert (entry["client"], entry["user_agent"]) == ("127.0.0.1", user_agent), entry
    [login] = await audit_log(web_ui, actor=OPERATOR, action="login")
    assert (login["role"], login["cases"], login["client"], login["user_agent"]) == (
        "ops",
        [],
        "127.0.0.1",
        user_agent,
    ), login
    everything = await audit_log(web_ui)
    assert {e["id"] for e in everything} == {login["id"]} | {e["id"] for e in decodes}, everything
    verified = await asyncio.to_thread(audit_verify, web_ui)
    assert verified.returncode == 0, verified.stderr
    assert f"the audit chain holds: {len(everything)} entries" in verified.stdout, verified.stdout
