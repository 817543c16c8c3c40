"""The alerting rules and the dashboard (ops/, docs/operations.md): promtool checks the rules and
runs their unit tests, and every expression names only series something really exports.

promtool comes from Debian's ``prometheus`` package (scripts/setup-system.sh, run by ``make test``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from infra.settings import Settings
from infra.worker_metrics import ALERT_STORE_DELAY, PARTNER_CALL_FAILURES, WORKFLOW_HISTORY_LENGTH

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "ops" / "prometheus" / "rules.yml"
RULES_TEST = ROOT / "ops" / "prometheus" / "rules_test.yml"
DASHBOARD = ROOT / "ops" / "grafana" / "one-day-setup.json"

# The Temporal SDK's series the rules and the dashboard use, as a worker of temporalio 1.35 serves
# them (seen on a worker's /metrics; tests/test_worker_metrics.py scrapes a real one for them).
SDK_SERIES = frozenset(
    {
        "temporal_workflow_task_schedule_to_start_latency",
        "temporal_activity_schedule_to_start_latency",
        "temporal_workflow_task_execution_failed",
        "temporal_activity_execution_failed",
        "temporal_worker_task_slots_available",
        "temporal_worker_task_slots_used",
        "temporal_sticky_cache_size",
    }
)
WORKER_SERIES = frozenset({PARTNER_CALL_FAILURES, ALERT_STORE_DELAY, WORKFLOW_HISTORY_LENGTH})
# Made by Prometheus itself for every target.
PROMETHEUS_SERIES = frozenset({"up"})

_PROMQL_WORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
)
_SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def series_named(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions (followed by
    ``(``), keywords, label names (inside ``{}`` or ``by (...)``) or strings."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = m.group(0)
        if word in _PROMQL_WORDS or text[m.end() :].lstrip().startswith("("):
            continue
        if re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names


def family(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def rule_exprs() -> list[str]:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [str(rule["expr"]) for group in rules["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [str(t["expr"]) for panel in board["panels"] for t in panel["targets"]]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            exprs.append(re.sub(r"^label_values\((\w+),.*$", r"\1", variable["definition"]))
    return exprs


async def gateway_series(data_dir: Path) -> set[str]:
    """The metric families a real gateway serves on /metrics (its collectors say their names even
    while the database and Temporal have nothing to tell)."""
    settings = Settings(temporal_address="127.0.0.1:1", data_dir=data_dir)
    app = create_app(settings, client=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        resp = await http.get("/metrics")
    assert resp.status_code == 200
    return {f.name for f in text_string_to_metric_families(resp.text)}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool not found: install Debian's prometheus package (make system)"
    return subprocess.run([tool, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_promtool_checks_the_rules() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_pass_their_unit_tests() -> None:
    done = promtool("test", "rules", str(RULES_TEST))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_says_how_bad_what_and_where_the_runbook_is() -> None:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    anchors = {_anchor(line) for line in operations.splitlines() if line.startswith("#")}
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    tested = RULES_TEST.read_text(encoding="utf-8")
    for rule in alerts:
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        page, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert page == "docs/operations.md" and anchor in anchors, f"{name}: no section #{anchor}"
        assert f"alertname: {name}\n" in tested, f"{name} has no unit test in {RULES_TEST.name}"
        assert "for" in rule or "increase(" in rule["expr"], f"{name}: a blip would page"


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = heading.lstrip("#").strip().lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))


async def test_rules_and_dashboard_name_only_series_that_are_exported(tmp_path: Path) -> None:
    exported = await gateway_series(tmp_path) | SDK_SERIES | WORKER_SERIES | PROMETHEUS_SERIES
    for where, exprs in (("rules.yml", rule_exprs()), ("one-day-setup.json", dashboard_exprs())):
        for expr in exprs:
            named = series_named(expr)
            assert named, f"{where}: no series found in {expr!r}"
            unknown = {n for n in named if family(n) not in exported}
            assert not unknown, f"{where}: {sorted(unknown)} in {expr!r} is exported by nothing"


def test_the_dashboard_takes_its_data_source_as_a_variable() -> None:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert board["panels"]
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
