"""``make run``: submit ``samples/*.json`` through the gateway and follow each case to its end.

A case waiting for a supplement gets ``samples/<stem>.supplement.json`` (once), as the portal
would forward the applicant's correction.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from devstack.stack import AfterReady, Stack
from devstack.temporal_server import temporal_host_port, web_ui_url
from domain.districts import ANYANG_DISTRICTS
from domain.status import FINAL_STAGES
from infra.binaries import temporal_cli
from infra.http import http_client
from infra.settings import Settings

POLL_INTERVAL_S = 0.5
SUPPLEMENT_SUFFIX = ".supplement.json"
STAGE_STYLE = {
    "completed": "bold green",
    "rejected": "bold red",
    "withdrawn": "magenta",
    "awaiting_supplement": "yellow",
}
SLA_STYLE = {"on_track": "green", "at_risk": "yellow", "breached": "bold red"}


@dataclass
class Sample:
    path: Path
    body: dict[str, Any]
    supplement_path: Path | None

    @property
    def application_id(self) -> str:
        return str(self.body.get("application_id", self.path.stem))


@dataclass
class Case:
    sample: Sample
    workflow_id: str
    status_url: str
    enterprise_name: str
    district_code: str
    status: dict[str, Any] = field(default_factory=dict)
    note: str = ""  # the latest thing we did or saw that the status does not say
    supplement_sent: bool = False

    @property
    def application_id(self) -> str:
        return self.sample.application_id

    @property
    def stage(self) -> str:
        return str(self.status.get("stage") or "submitted")

    @property
    def final(self) -> bool:
        return self.stage in FINAL_STAGES


def load_samples(samples_dir: Path) -> list[Sample]:
    samples = []
    for path in sorted(samples_dir.glob("*.json")):
        if path.name.endswith(SUPPLEMENT_SUFFIX):
            continue
        supplement = path.with_name(path.stem + SUPPLEMENT_SUFFIX)
        body = json.loads(path.read_text(encoding="utf-8"))
        samples.append(Sample(path, body, supplement if supplement.exists() else None))
    return samples


def district_label(code: str) -> str:
    name = ANYANG_DISTRICTS.get(code)
    return f"{name} {code}" if name else code or "?"


def describe_error(answer: httpx.Response) -> str:
    """A gateway refusal as readable text: 422 field errors one per line, else the body."""
    try:
        body = answer.json()
    except ValueError:
        return answer.text.strip() or answer.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        lines = []
        for err in body["errors"]:
            if isinstance(err, dict):
                lines.append(f"{err.get('field', '?')}: {err.get('message', err)}")
            else:
                lines.append(str(err))
        return "\n".join(lines)
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        return detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)
    return json.dumps(body, ensure_ascii=False, indent=2)


def show_refusal(console: Console, what: str, answer: httpx.Response) -> None:
    console.print(
        Panel(
            Text(describe_error(answer)),
            title=f"{what}: HTTP {answer.status_code} {answer.reason_phrase}",
            title_align="left",
            border_style="red",
        )
    )


async def submit(http: httpx.AsyncClient, console: Console, sample: Sample) -> Case | None:
    """POST one application; 202 (new) and 200 (same application again) both start following."""
    answer = await http.post("/v1/applications", json=sample.body)
    if answer.status_code not in (200, 202):
        show_refusal(console, f"{sample.path.name} was refused", answer)
        return None
    doc = answer.json()
    enterprise = sample.body.get("enterprise") or {}
    verb = "accepted" if answer.status_code == 202 else "already known, following"
    console.print(f"  {doc['application_id']}: {verb} (workflow {doc['workflow_id']})", highlight=False)
    return Case(
        sample=sample,
        workflow_id=str(doc["workflow_id"]),
        status_url=str(doc.get("status_url") or f"/v1/applications/{doc['application_id']}"),
        enterprise_name=str(enterprise.get("name", "")),
        district_code=str(enterprise.get("district_code", "")),
    )


async def refresh(http: httpx.AsyncClient, console: Console, case: Case) -> None:
    try:
        answer = await http.get(case.status_url)
    except httpx.HTTPError as exc:
        case.note = f"status not read: {type(exc).__name__}"
        return
    if answer.status_code != 200:
        case.note = f"status: HTTP {answer.status_code} {describe_error(answer)[:120]}"
        return
    case.status = answer.json()
    case.note = ""
    if not case.supplement_sent and supplement_received(case.status):
        # Supplemented in an earlier run: the case now goes by the corrected name.
        case.enterprise_name = corrected_name(case.sample) or case.enterprise_name
    if case.stage == "awaiting_supplement" and case.sample.supplement_path and not case.supplement_sent:
        await send_supplement(http, console, case)


def supplement_received(status: dict[str, Any]) -> bool:
    return any(
        "supplement" in str(e.get("event")) and "received" in str(e.get("event"))
        for e in status.get("history") or []
        if isinstance(e, dict)
    )


def corrected_name(sample: Sample) -> str | None:
    if sample.supplement_path is None:
        return None
    body = json.loads(sample.supplement_path.read_text(encoding="utf-8"))
    name = (body.get("enterprise") or {}).get("name")
    return str(name) if name else None


async def send_supplement(http: httpx.AsyncClient, console: Console, case: Case) -> None:
    """Forward the applicant's correction, once per run (as the portal would)."""
    assert case.sample.supplement_path is not None
    case.supplement_sent = True
    body = json.loads(case.sample.supplement_path.read_text(encoding="utf-8"))
    answer = await http.post(f"{case.status_url}/supplement", json=body)
    if answer.status_code in (200, 202):
        case.enterprise_name = corrected_name(case.sample) or case.enterprise_name
        case.note = f"supplement sent ({case.sample.supplement_path.name})"
    else:
        case.note = f"supplement refused: HTTP {answer.status_code}"
        show_refusal(console, f"supplement for {case.application_id} was refused", answer)


def last_event(case: Case) -> Text:
    if case.note:
        return Text(case.note, style="italic")
    history = case.status.get("history") or []
    if not history:
        return Text("")
    event = history[-1]
    at = str(event.get("at") or "")
    clock = at[11:19] if len(at) >= 19 else at
    detail = str(event.get("detail") or "")
    text = Text(f"{clock} ", style="dim")
    text.append(str(event.get("event") or ""), style="bold")
    if detail:
        text.append(f" {detail}")
    return text


# Each stage of the case, in order, as one short mark: what a glance at the table needs.
STAGE_MARKS = {
    "registration": "登记",
    "seal_carving": "刻章",
    "invoice": "发票",
    "social_insurance": "社保",
    "housing_fund": "公积金",
    "bank_account": "开户",
    "delivery": "寄递",
}
STATE_MARKS = {
    "done": ("✓", "green"),
    "running": ("…", "cyan"),
    "waiting": ("…", "yellow"),
    "pending": ("·", "dim"),
    "failed": ("✗", "red"),
    "cancelled": ("✗", "dim"),
}


def stages_text(case: Case) -> Text:
    """登记✓ 刻章… 发票✓ 社保✓ …: every stage applied for and where it is (skipped ones left out)."""
    stages = case.status.get("stages") or {}
    text = Text()
    for name, label in STAGE_MARKS.items():
        stage = stages.get(name)
        if not isinstance(stage, dict) or stage.get("state") == "skipped":
            continue
        mark, style = STATE_MARKS.get(str(stage.get("state")), ("?", ""))
        if stage.get("sla") == "breached":
            style = "bold red"
        if text:
            text.append(" ")
        text.append(f"{label}{mark}", style=style)
    return text


def progress_table(cases: list[Case]) -> Table:
    table = Table(title="One-Day Setup: sample cases", expand=True, title_justify="left")
    table.add_column("application", no_wrap=True)
    table.add_column("enterprise", ratio=3)
    table.add_column("district", no_wrap=True)
    table.add_column("stage", no_wrap=True)
    table.add_column("SLA", no_wrap=True)
    table.add_column("items", ratio=3)
    table.add_column("last event", ratio=4)
    for case in cases:
        sla = str(case.status.get("sla_status") or "")
        table.add_row(
            case.application_id,
            case.enterprise_name,
            district_label(case.district_code),
            Text(case.stage, style=STAGE_STYLE.get(case.stage, "cyan")),
            Text(sla, style=SLA_STYLE.get(sla, "")),
            stages_text(case),
            last_event(case),
        )
    return table


def summary_table(cases: list[Case]) -> Table:
    table = Table(title="Summary", title_justify="left")
    for column in ("application", "enterprise", "stage", "SLA", "USCC", "subsidy", "note"):
        table.add_column(column)
    for case in cases:
        s = case.status
        sla = str(s.get("sla_status") or "")
        breached = [
            name
            for name, stage in (s.get("stages") or {}).items()
            if isinstance(stage, dict) and stage.get("sla") == "breached"
        ]
        subsidy = s.get("subsidy") or {}
        subsidy_text = (
            f"¥{subsidy.get('amount_cny')}" if subsidy.get("granted") else str(subsidy.get("reason") or "")
        )
        note = str(s.get("reason") or "")
        if breached:
            note = (note + "; " if note else "") + "late: " + ", ".join(breached)
        table.add_row(
            case.application_id,
            case.enterprise_name,
            Text(case.stage, style=STAGE_STYLE.get(case.stage, "cyan")),
            Text(sla, style=SLA_STYLE.get(sla, "")),
            str(s.get("uscc") or ""),
            subsidy_text,
            note,
        )
    return table


def change_line(case: Case) -> str:
    sla = case.status.get("sla_status") or ""
    return f"{case.application_id} {case.stage} {sla} [{stages_text(case).plain}] | {last_event(case).plain}"


async def follow(cases: list[Case], http: httpx.AsyncClient, console: Console) -> None:
    """Poll every open case about twice a second until all are final."""

    async def poll_open() -> None:
        await asyncio.gather(*(refresh(http, console, c) for c in cases if not c.final))

    if console.is_terminal:
        with Live(progress_table(cases), console=console, refresh_per_second=4) as live:
            while True:
                await poll_open()
                live.update(progress_table(cases))
                if all(c.final for c in cases):
                    break
                await asyncio.sleep(POLL_INTERVAL_S)
        return
    # Not a terminal (CI, a log file): one line per change instead of a redrawn table.
    seen: dict[str, str] = {}
    while True:
        await poll_open()
        for case in cases:
            line = change_line(case)
            if seen.get(case.application_id) != line:
                seen[case.application_id] = line
                console.print(line, highlight=False, markup=False)
        if all(c.final for c in cases):
            return
        await asyncio.sleep(POLL_INTERVAL_S)


def where_to_look(settings: Settings) -> Group:
    host, port = temporal_host_port(settings)
    ns = settings.temporal_namespace
    cli = temporal_cli()
    try:
        cli_shown = str(cli.relative_to(Path.cwd()))
    except ValueError:
        cli_shown = str(cli)
    query = f"{cli_shown} workflow list --address {host}:{port} --namespace {ns} --query"
    return Group(
        Text.assemble("Temporal Web UI: ", (f"{web_ui_url(settings)}/namespaces/{ns}/workflows", "cyan")),
        Text("The same from the command line:"),
        Text(f"  {query} 'SetupStage=\"completed\"'", style="cyan"),
        Text(f"  {query} 'SlaStatus=\"breached\"'", style="cyan"),
    )


def submit_and_follow(samples_dir: Path) -> AfterReady:
    """The ``after_ready`` step of ``make run``."""

    async def run(stack: Stack) -> None:
        console, settings = stack.console, stack.settings
        samples = load_samples(samples_dir)
        if not samples:
            console.print(f"[yellow]No samples in {samples_dir}; nothing to submit.[/]")
            return
        async with http_client(f"http://{settings.gateway_addr}", timeout=30.0) as http:
            http.headers["Authorization"] = f"Bearer {settings.portal_token}"
            console.print(f"[bold]Submitting {len(samples)} sample applications[/] from {samples_dir}")
            cases = [c for s in samples if (c := await submit(http, console, s)) is not None]
            if not cases:
                console.print("[red]No sample was accepted; nothing to follow.[/]")
                return
            await follow(cases, http, console)
        console.print(summary_table(cases))
        counts: dict[str, int] = {}
        for case in cases:
            counts[case.stage] = counts.get(case.stage, 0) + 1
        tally = ", ".join(f"{n} {stage}" for stage, n in sorted(counts.items()))
        final = "The case is final" if len(cases) == 1 else f"All {len(cases)} cases are final"
        console.print(f"[bold green]{final}[/]: {tally}.")
        refused = len(samples) - len(cases)
        if refused:
            console.print(f"[red]{refused} of {len(samples)} samples were refused (see above).[/]")
        console.print(where_to_look(settings))
        console.print("The stack stays up; Ctrl-C (or SIGTERM) stops it.")

    return run
