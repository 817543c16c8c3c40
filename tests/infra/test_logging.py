"""JSON in production or off a terminal, readable at a terminal: the real logging setup in real
processes, its stderr a pipe or a pseudo-terminal, with a case's fields on our lines and the SDK's."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from infra.logging import log_format_for
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")

# What a worker process does: the settings' format, a case's fields bound (as the activity
# interceptor does), one of our lines and one of the SDK's, which notes its activity on the record.
SCRIPT = """
import logging, structlog
from infra.logging import configure_logging, get_logger
from infra.settings import get_settings
configure_logging(get_settings().log_format)
with structlog.contextvars.bound_contextvars(workflow_id="setup-AY20261127-0001", note=NOTE):
    get_logger("ods.test").info("seal order placed", shop="KZ410502")
logging.getLogger("temporalio.activity").warning(
    "Completing activity as failed",
    extra={"temporal_activity": {"activity_type": "issue_first_invoices", "attempt": 3,
                                 "workflow_id": "setup-AY20261127-0002-delivery",
                                 "workflow_type": "PostalDelivery"}},
)
"""


def run_logging(env: dict[str, str], *, terminal: bool) -> str:
    """The stderr of SCRIPT run with ``env``, on a pseudo-terminal or a pipe."""
    note = f"for {factories.resident_id()} at 13812345678"
    script = f"NOTE = {note!r}\n{SCRIPT}"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("ODS_", "OTEL_"))} | env
    if not terminal:
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=child_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stderr
    controller, terminal_fd = pty.openpty()
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", script], cwd=ROOT, env=child_env, stderr=terminal_fd, stdout=terminal_fd
        )
    finally:
        os.close(terminal_fd)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(controller)
    assert child.wait(timeout=60) == 0, b"".join(chunks)
    return _COLOUR.sub("", b"".join(chunks).decode("utf-8", errors="replace"))


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


@pytest.mark.parametrize(
    ("fmt", "env", "on_terminal", "expected"),
    [
        ("auto", "production", True, "json"),
        ("auto", "production", False, "json"),
        ("auto", "dev", False, "json"),
        ("auto", "test", False, "json"),
        ("auto", "dev", True, "console"),
        ("json", "dev", True, "json"),
        ("console", "production", False, "console"),
    ],
)
def test_the_format_rule(fmt: str, env: str, on_terminal: bool, expected: str) -> None:
    assert log_format_for(fmt, env, on_terminal) == expected


def test_production_logs_json_even_at_a_terminal() -> None:
    out = run_logging({"ODS_ENV": "production", **_production_secrets()}, terminal=True)
    ours, sdk = json_lines(out)
    assert ours["event"] == "seal order placed" and ours["level"] == "info"
    assert str(sdk["event"]).startswith("Completing activity as failed")


def test_a_terminal_gets_readable_lines_and_a_pipe_gets_json() -> None:
    console = run_logging({}, terminal=True)
    assert "seal order placed" in console and not json_lines(console)
    assert "workflow_id=setup-AY20261127-0001" in console
    piped = run_logging({}, terminal=False)
    assert json_lines(piped)[0]["event"] == "seal order placed"


def test_ods_log_format_wins_over_the_terminal() -> None:
    assert json_lines(run_logging({"ODS_LOG_FORMAT": "json"}, terminal=True))
    console = run_logging({"ODS_LOG_FORMAT": "console"}, terminal=False)
    assert "seal order placed" in console and not json_lines(console)


def test_json_lines_carry_the_case_and_are_still_masked() -> None:
    ours, sdk = json_lines(run_logging({"ODS_LOG_FORMAT": "json"}, terminal=False))
    # Bound context variables reach our line, masked like any field.
    assert ours["workflow_id"] == "setup-AY20261127-0001"
    assert "13812345678" not in str(ours["note"]) and "138****5678" in str(ours["note"])
    assert "********" in str(ours["note"])
    # The SDK's line: the case and stage read from the activity it names (the delivery child's).
    assert sdk["workflow_id"] == "setup-AY20261127-0002-delivery"
    assert sdk["application_id"] == "AY20261127-0002"
    assert sdk["activity"] == "issue_first_invoices" and sdk["stage"] == "invoice"
    assert sdk["attempt"] == 3


def _production_secrets() -> dict[str, str]:
    """Production refuses the dev tokens and codec key: give it its own."""
    key = "oSI8AT9oi3CedMLBmLCpd50Ac4Yy2+GTv+QJxylLJQc="
    return {
        "ODS_PORTAL_TOKEN": "prod-portal-token-for-testsxxxxx",
        "ODS_OPS_TOKEN": "prod-ops-token-for-testsxxxxxxxx",
        "ODS_ALERTS_TOKEN": "prod-alerts-token-for-testsxxxxx",
        "ODS_CALLBACK_SECRET": "prod-callback-secret-for-testsxx",
        "ODS_WEBHOOK_SECRET": "prod-webhook-secret-for-testsxxx",
        "ODS_SESSION_SECRET": "prod-session-secret-for-testsxxx",
        "ODS_CODEC_KEYS": f"prod:{key}",
    }
