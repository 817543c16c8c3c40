"""The portal's command line: submit applications and act on cases, straight through Temporal.

    python starter.py submit samples/AY20261127-0001_*.json [more files …]
    python starter.py status AY20261127-0001 [--json]
    python starter.py list [--stage registration] [--breached] [--district 410502] [--limit 20]
    python starter.py withdraw AY20261127-0001 [--reason "…"]
    python starter.py supplement AY20261127-0006 corrected.json
    python starter.py list --needs-attention
    python starter.py report --date 2026-12-01 [--json]
    python starter.py act AY20261127-0001 reassign_seal_shop --operator 王敏 --note "…"
    python starter.py calendar --year 2027 [--policy FILE]   # holidays, make-up days (no Temporal)

It uses ``service.cases``, the same code behind the gateway, with ``ODS_*`` settings, and reads each
case under its own data key from the service database (``ODS_DATABASE_URL``) as the gateway does; an
erased case's ``status`` is its stages and times only (``service/erasure.py``).
Exit status: 0 done, 1 refused (invalid, unknown case, conflict), 2 Temporal or the service database
unreachable (or the configuration is invalid: the settings, or for ``submit`` a policy file).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import re
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.actions import OperatorAction, parse_action
from domain.application import parse_application
from domain.calendar_coverage import (
    RUNBOOK,
    YearCalendar,
    calendar_coverage,
    calendar_package_version,
    year_calendar,
)
from domain.districts import CITY_ZONE
from domain.policies import Policies, PolicyFileError, load_policies
from domain.ratings import FollowUpAction, FollowUpActionName, FollowUpActionRequest, ResolutionKind
from domain.retention import RETENTION_SCHEDULE_ID, load_retention_policy
from domain.sla_policy import SlaLimits, SlaPolicy, load_sla_policy
from domain.status import ACTION_NAMES, STAGE_NAMES, CaseStage, StatusDocument
from domain.validation import ApplicationInvalid, validated
from domain.working_time import deadline_command, official_data_years
from infra import deployments
from infra.case_keys import CaseKeyring
from infra.retention import apply_retention_policy
from infra.settings import Settings, get_settings
from infra.temporal import connect, ensure_search_attributes, search_attribute_problems
from reports.daily import DailyReport, daily_report
from service import audit, cases, erasure, ratings
from store.service import ServiceDatabase, ServiceDatabaseUnavailable

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_UNREACHABLE = 2
EXIT_CONFIGURATION = 2
SUPPLEMENT_SUFFIX = ".supplement.json"
# Temporal errors that mean "not there right now", not "this request is wrong".
_UNREACHABLE_STATUSES = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class TemporalUnreachable(Exception):
    pass


def _short_reason(exc: BaseException) -> str:
    """The SDK's connect error is a long transport dump; its OS message says it all."""
    text = str(exc)
    match = re.search(r'message: "([^"]+)"', text)
    return match.group(1) if match else text.splitlines()[0][:200] if text else type(exc).__name__


@dataclass
class Session:
    """What a command works with: the settings, the policies new cases start with (read at start
    by the commands that start cases), the service database and a Temporal client, each opened on
    first use. The client reads each case under its own data key, from the service database, as the
    gateway does (``infra/case_keys.py``)."""

    settings: Settings
    policies: Policies = field(default_factory=Policies)
    _client: Client | None = field(default=None, init=False)
    _database: ServiceDatabase | None = field(default=None, init=False)

    @property
    def database(self) -> ServiceDatabase:
        if self._database is None:
            self._database = ServiceDatabase(self.settings.resolved_database_url)
        return self._database

    async def client(self) -> Client:
        if self._client is None:
            keys = CaseKeyring.from_text(self.settings.codec_keys, self.database)
            try:
                self._client = await connect(self.settings, case_keys=keys)
            except (RuntimeError, RPCError, OSError) as exc:
                raise TemporalUnreachable(_short_reason(exc)) from exc
        return self._client

    async def close(self) -> None:
        if self._database is not None:
            await self._database.close()


Command = Callable[[argparse.Namespace, Session], Awaitable[int]]


# --- submit -----------------------------------------------------------------------------------


@contextmanager
def _progress(total: int) -> Iterator[Progress | None]:
    """A progress bar on stderr when there is more than one file."""
    if total < 2:
        yield None
        return
    columns = (
        TextColumn("[bold]submitting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err) as progress:
        yield progress


async def _submit_file(path: Path, session: Session, console: Console) -> bool:
    """One file: validated, then submitted. True when the case runs (new or already known)."""
    name = escape(str(path))
    if path.name.endswith(SUPPLEMENT_SUFFIX):
        console.print(f"{name}: [yellow]skipped[/]: a supplement; use `starter.py supplement ID FILE`")
        return True
    try:
        body = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        console.print(f"{name}: [red]cannot read[/]: {escape(exc.strerror or str(exc))}")
        return False
    try:
        application = parse_application(body)
    except ApplicationInvalid as invalid:
        console.print(f"{name}: [red]invalid[/], {len(invalid.errors)} problem(s):")
        for problem in invalid.errors:
            console.print(f"  {escape(problem.field)}: {escape(problem.message)}")
        return False
    client = await session.client()
    try:
        outcome = await cases.submit_application(
            client,
            application,
            task_queue=session.settings.task_queue,
            sla_policy=session.policies.sla,
            subsidy_policy=session.policies.subsidy,
            portal_webhooks=session.settings.portal_webhook_urls,
        )
    except cases.ApplicationConflict as conflict:
        console.print(f"{name}: [red]conflict[/]: {escape(str(conflict))}")
        return False
    verdict = "[green]created[/]" if outcome.created else "[cyan]already submitted[/]"
    console.print(f"{name}: {verdict} {outcome.application_id} (workflow {outcome.workflow_id})")
    return True


async def submit(args: argparse.Namespace, session: Session) -> int:
    paths: list[Path] = args.files
    failed = 0
    with _progress(len(paths)) as progress:
        task = progress.add_task("submit", total=len(paths)) if progress else None
        for path in paths:
            console = progress.console if progress else out
            if not await _submit_file(path, session, console):
                failed += 1
            if progress is not None and task is not None:
                progress.advance(task)
    if failed:
        err.print(f"[red]{failed} of {len(paths)} file(s) not submitted[/]")
        return EXIT_REFUSED
    return EXIT_OK


# --- status -----------------------------------------------------------------------------------


# Cases are Anyang's: times are shown on the city's clock (UTC+8, no daylight saving).
def _when(value: datetime | None) -> str:
    return value.astimezone(CITY_ZONE).strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def _short_when(value: datetime | None) -> str:
    return value.astimezone(CITY_ZONE).strftime("%m-%d %H:%M:%S") if value else "—"


_SLA_STYLE = {"on_track": "green", "at_risk": "yellow", "breached": "red"}


def _sla(value: str | None) -> str:
    if not value:
        return "—"
    return f"[{_SLA_STYLE.get(value, 'white')}]{value}[/]"


def show_status(doc: StatusDocument, console: Console) -> None:
    console.print(f"[bold]{escape(doc.application_id)}[/]  (workflow {escape(doc.workflow_id)})")
    console.print(f"stage: [bold]{doc.stage}[/]   SLA: {_sla(doc.sla_status)}")
    console.print(f"accepted: {_when(doc.accepted_at)}   completed: {_when(doc.completed_at)}   (UTC+8)")
    if doc.uscc:
        console.print(f"USCC (统一社会信用代码): {escape(doc.uscc)}")
    if doc.reason:
        console.print(f"reason: {escape(doc.reason)}")
    if doc.supplement:
        due = f", due {_when(doc.supplement.due)} (UTC+8)" if doc.supplement.due else ""
        console.print(f"[yellow]awaiting a supplement[/]{due}:")
        for item in doc.supplement.requested:
            console.print(f"  {escape(item)}")
    stages = Table(title="stages (UTC+8)")
    for column in ("stage", "state", "started", "finished", "deadline", "SLA"):
        stages.add_column(column, no_wrap=True)
    for name in STAGE_NAMES:
        part = getattr(doc.stages, name)
        if part is None:
            continue
        stages.add_row(
            name,
            part.state,
            _short_when(part.started_at),
            _short_when(part.finished_at),
            _short_when(part.deadline),
            _sla(part.sla),
        )
    console.print(stages)
    if doc.subsidy is not None:
        s = doc.subsidy
        granted = "granted" if s.granted else "not granted"
        console.print(f"subsidy: {granted}, {s.amount_cny} yuan ({escape(s.reason)})")
    if doc.delivery is not None:
        d = doc.delivery
        extra = f", waybill {d.waybill_no}" if d.waybill_no else ""
        extra += f", pick up at {d.pickup_at}" if d.pickup_at else ""
        console.print(f"delivery: {d.method}, {d.state}{escape(extra)}")
    if doc.documents is not None:
        console.print(f"documents: {', '.join(doc.documents) or '—'}")
    if doc.history:
        history = Table(title="history (UTC+8)")
        history.add_column("at", no_wrap=True)
        history.add_column("event", no_wrap=True)
        history.add_column("detail", overflow="fold")
        for entry in doc.history:
            history.add_row(_short_when(entry.at), escape(entry.event), escape(entry.detail))
        console.print(history)


def show_erased_status(doc: dict[str, Any], console: Console) -> None:
    """An erased case (``service.erasure.erased_status``): what it keeps, nothing about whom."""
    case, at = escape(str(doc.get("application_id", ""))), escape(str(doc["erased_at"]))
    console.print(f"[bold]{case}[/]  [red]erased[/] {at}")
    console.print(
        f"stage {escape(str(doc.get('stage', '—')))}  SLA {escape(str(doc.get('sla_status', '—')))}"
    )
    console.print("Its personal data, documents and notes were destroyed; only its stages and times remain.")


async def status(args: argparse.Namespace, session: Session) -> int:
    # An erased case answers what the gateway answers: its stages and times, when it was erased.
    erased = await erasure.status_of_erased(session.database, args.application_id)
    if erased is not None:
        if args.json:
            print(json.dumps(erased, indent=2, ensure_ascii=False))
        else:
            show_erased_status(erased, out)
        return EXIT_OK
    doc = await cases.get_status(await session.client(), args.application_id)
    if args.json:
        print(doc.model_dump_json(indent=2))
    else:
        show_status(doc, out)
    return EXIT_OK


# --- list -------------------------------------------------------------------------------------


async def list_cases(args: argparse.Namespace, session: Session) -> int:
    found, next_cursor = await cases.list_cases(
        await session.client(),
        stage=args.stage,
        sla_status="breached" if args.breached else None,
        district=args.district,
        needs_attention=True if args.needs_attention else None,
        limit=args.limit,
        after=args.after,
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("application", no_wrap=True)
    table.add_column("enterprise", overflow="fold", min_width=10)
    table.add_column("district", no_wrap=True)
    table.add_column("stage", no_wrap=True)
    table.add_column("SLA", no_wrap=True)
    table.add_column("accepted (UTC+8)", no_wrap=True)
    for case in found:
        table.add_row(
            escape(case.application_id),
            escape(case.enterprise_name or "—"),
            case.district_code or "—",
            (case.stage or "—") + (" [bold yellow](needs an operator)[/]" if case.needs_attention else ""),
            _sla(case.sla_status),
            _short_when(case.accepted_at),
        )
    out.print(table)
    out.print(f"{len(found)} case(s)")
    if next_cursor:
        out.print(f"more: add --after {next_cursor}", soft_wrap=True)
    return EXIT_OK


# --- withdraw and supplement ------------------------------------------------------------------


async def withdraw(args: argparse.Namespace, session: Session) -> int:
    doc = await cases.withdraw(await session.client(), args.application_id, args.reason)
    out.print(f"{escape(doc.application_id)}: withdrawal accepted (stage now {doc.stage})")
    return EXIT_OK


async def supplement(args: argparse.Namespace, session: Session) -> int:
    path: Path = args.file
    try:
        body = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        err.print(f"{escape(str(path))}: [red]cannot read[/]: {escape(exc.strerror or str(exc))}")
        return EXIT_REFUSED
    doc = await cases.supplement(await session.client(), args.application_id, body)
    out.print(f"{escape(doc.application_id)}: supplement accepted (stage now {doc.stage})")
    return EXIT_OK


async def act(args: argparse.Namespace, session: Session) -> int:
    """An operator's action, as ``POST /v1/applications/{id}/actions`` takes it."""
    given = {"stage": args.stage, "shop_id": args.shop, "reason": args.reason}
    body = {"action": args.action, "operator": args.operator, "note": args.note}
    body.update({k: v for k, v in given.items() if v is not None})
    request = parse_action(body)
    assert request.root.operator is not None
    action = OperatorAction(
        action=request.root.action,
        operator=request.root.operator,
        note=request.root.note,
        idempotency_key=args.idempotency_key,
        **request.fields(),
    )
    doc = await cases.act(await session.client(), args.application_id, action)
    out.print(f"{escape(doc.application_id)}: {args.action} recorded (stage now {doc.stage})")
    for attention in doc.attentions:
        out.print(f"  still waiting: {attention.stage}: {escape(attention.reason)}")
    return EXIT_OK


# --- ratings (好差评): a bad rating's follow-up ------------------------------------------------


async def rating_show(args: argparse.Namespace, session: Session) -> int:
    """A follow-up's document, found by its rating's row in the service database."""
    doc = await ratings.get_follow_up(await session.client(), session.database, args.rating_id)
    out.print(
        f"{escape(doc.rating_id)} ({escape(doc.application_id)}): {doc.level} about {doc.about}, {doc.state}"
    )
    out.print(f"  unit {escape(doc.unit)}; owner {escape(doc.owner or '—')}")
    out.print(f"  call back due {_when(doc.call_back_due)}; answer due {_when(doc.resolve_due)}")
    for entry in doc.history:
        out.print(f"  {_when(entry.at)}  {escape(entry.event)}  {escape(entry.detail)}")
    return EXIT_OK


async def rating_act(args: argparse.Namespace, session: Session) -> int:
    """An operator's action on a follow-up, as ``POST /v1/ratings/{id}/actions`` takes it."""
    given = {
        "outcome": args.outcome,
        "kind": args.kind,
        "answer": args.answer,
        "date": args.date,
        "reason": args.reason,
        "upheld": {"yes": True, "no": False}.get(args.upheld or ""),
    }
    body = {"action": args.action, "operator": args.operator, "note": args.note}
    body.update({k: v for k, v in given.items() if v is not None})
    request = validated(FollowUpActionRequest, body)
    assert request.root.operator is not None
    action = FollowUpAction(
        action=request.root.action,
        operator=request.root.operator,
        note=request.root.note,
        idempotency_key=args.idempotency_key,
        **request.fields(),  # type: ignore[arg-type]
    )
    doc = await ratings.act(await session.client(), session.database, args.rating_id, action)
    out.print(f"{escape(doc.rating_id)}: {args.action} recorded (now {doc.state})")
    return EXIT_OK


# --- the command line -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="starter.py",
        description="One-Day Setup (一日办): submit applications and act on cases.",
        epilog="Settings come from ODS_* variables (ODS_TEMPORAL_ADDRESS, ODS_TASK_QUEUE, …).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("submit", help="validate and submit application files")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="application JSON files")
    p.set_defaults(run=submit, starts_cases=True)

    p = commands.add_parser("status", help="a case's status document")
    p.add_argument("application_id", metavar="ID")
    p.add_argument("--json", action="store_true", help="the raw status document as JSON")
    p.set_defaults(run=status)

    p = commands.add_parser("list", help="cases from Temporal visibility, newest first")
    p.add_argument("--stage", choices=get_args(CaseStage))
    p.add_argument("--breached", action="store_true", help="only cases whose SLA was breached")
    p.add_argument("--district", metavar="CODE", help="district code, e.g. 410502")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="page size (default 50)")
    p.add_argument("--after", metavar="CURSOR", help="the cursor printed after a full page")
    p.add_argument("--needs-attention", action="store_true", help="only cases waiting for an operator")
    p.set_defaults(run=list_cases)

    p = commands.add_parser("withdraw", help="withdraw an open case")
    p.add_argument("application_id", metavar="ID")
    p.add_argument("--reason", help="why (kept in the case's history)")
    p.set_defaults(run=withdraw)

    p = commands.add_parser("supplement", help="corrected materials for a case awaiting them")
    p.add_argument("application_id", metavar="ID")
    p.add_argument("file", type=Path, metavar="FILE", help="JSON with the corrected parts")
    p.set_defaults(run=supplement)

    p = commands.add_parser("act", help="an operator's action on a case (docs/operations.md)")
    p.add_argument("application_id", metavar="ID")
    p.add_argument("action", choices=ACTION_NAMES)
    p.add_argument("--stage", choices=STAGE_NAMES, help="retry_stage: the stage to retry")
    p.add_argument("--shop", metavar="SHOP", help="reassign_seal_shop: the new shop (default: the next one)")
    p.add_argument("--reason", help="reject: why (required for reject)")
    p.add_argument("--operator", required=True, metavar="NAME", help="who acts (kept in the case's history)")
    p.add_argument("--note", required=True, metavar="TEXT", help="why (kept in the case's history)")
    p.add_argument("--idempotency-key", metavar="KEY", help="a repeat with the same key does nothing")
    p.set_defaults(run=act)

    p = commands.add_parser("rating", help="a bad rating's follow-up (好差评回访)")
    p.add_argument("rating_id", metavar="RATING_ID")
    p.set_defaults(run=rating_show)

    p = commands.add_parser("rating-act", help="an operator's action on a rating's follow-up")
    p.add_argument("rating_id", metavar="RATING_ID")
    p.add_argument("action", choices=get_args(FollowUpActionName))
    p.add_argument("--outcome", help="called_back: what the call found")
    p.add_argument("--kind", choices=get_args(ResolutionKind), help="resolve: how it is put right")
    p.add_argument("--answer", help="resolve: the answer to the applicant")
    p.add_argument("--date", metavar="YYYY-MM-DD", help="resolve --kind by_date: put right by")
    p.add_argument("--reason", help="appeal: why the rating is mistaken or false")
    p.add_argument("--upheld", choices=("yes", "no"), help="decide_appeal: the decision")
    p.add_argument("--operator", required=True, metavar="NAME", help="who acts")
    p.add_argument("--note", default="", metavar="TEXT", help="why (kept in the follow-up's history)")
    p.add_argument("--idempotency-key", metavar="KEY", help="a repeat with the same key does nothing")
    p.set_defaults(run=rating_act)

    p = commands.add_parser("deadline", help="a stage's deadline on the SLA policy's clock")
    p.add_argument("--stage", required=True, choices=list(SlaLimits.model_fields))
    p.add_argument(
        "--start", required=True, metavar="ISO8601", help="when the stage starts, e.g. 2026-11-23T10:00+08:00"
    )
    p.add_argument(
        "--policy", type=Path, metavar="FILE", help="SLA policy file (default: ODS_SLA_POLICY, else built in)"
    )
    p.set_defaults(run=deadline)

    p = commands.add_parser(
        "calendar", help="a year's holidays and make-up workdays, as working time counts them"
    )
    p.add_argument("--year", required=True, metavar="YYYY", help="the year, e.g. 2027")
    p.add_argument(
        "--policy", type=Path, metavar="FILE", help="SLA policy file (default: ODS_SLA_POLICY, else built in)"
    )
    p.set_defaults(run=calendar)

    p = commands.add_parser("report", help="the day's SLA figures (the service database; no Temporal)")
    p.add_argument(
        "--date", required=True, metavar="YYYY-MM-DD", help="the day, in the SLA policy's time zone"
    )
    p.add_argument("--json", action="store_true", help="the report as JSON, as GET /v1/reports/daily")
    p.add_argument(
        "--policy", type=Path, metavar="FILE", help="SLA policy file (default: ODS_SLA_POLICY, else built in)"
    )
    p.set_defaults(run=report)

    p = commands.add_parser(
        "audit", help="the audit log of personal data (the service database; no Temporal)"
    )
    audits = p.add_subparsers(dest="audit_command", required=True, metavar="AUDIT_COMMAND")
    q = audits.add_parser(
        "verify", help="check the hash chain: exit 0 when it holds, 1 naming the first broken entry"
    )
    q.set_defaults(run=audit_verify)
    q = audits.add_parser("export", help="the entries as JSON lines on stdout (recorded as an export)")
    q.add_argument(
        "--since", metavar="ISO", help="only entries from this time on, with its zone (default: all)"
    )
    q.set_defaults(run=audit_export)

    p = commands.add_parser(
        "setup-namespace",
        help="register the search attributes the cases need and the retention schedule (once per "
        "namespace; again after changing ODS_RETENTION_POLICY)",
    )
    p.set_defaults(run=setup_namespace)

    p = commands.add_parser(
        "deployment", help="the workers' versions and which takes new cases (docs/operations.md, releases)"
    )
    p.add_argument("move", nargs="?", choices=("current", "ramp"), help="make BUILD current, or ramp to it")
    p.add_argument("build_id", nargs="?", metavar="BUILD", help="a build id of ODS_WORKER_DEPLOYMENT")
    p.add_argument("--percent", type=float, default=10.0, help="ramp: the share of new cases (default 10)")
    p.set_defaults(run=deployment)

    p = commands.add_parser(
        "callback-secret", help="the callback secret to give a partner or seal shop (docs/partner-api.md)"
    )
    p.add_argument("party", metavar="PARTY", help="postal, or a seal shop's id such as SHOP-410502-01")
    p.set_defaults(run=callback_secret)
    return parser


async def callback_secret(args: argparse.Namespace, session: Session) -> int:
    """Print the secret ``party`` signs its callbacks with (its own in ODS_CALLBACK_SECRETS, else
    derived from ODS_CALLBACK_SECRET), to be handed to that party alone."""
    if not session.settings.is_callback_party(args.party):
        err.print("[red]not a party[/]: postal, or a seal shop's id such as SHOP-410502-01")
        return EXIT_REFUSED
    print(session.settings.callback_secret_of(args.party))
    return 0


async def setup_namespace(args: argparse.Namespace, session: Session) -> int:
    """Add the custom search attributes the namespace lacks, then check them all by name and type;
    make the retention schedule match the retention policy (``ODS_RETENTION_POLICY``)."""
    try:
        retention = load_retention_policy(session.settings.retention_policy)
    except PolicyFileError as exc:
        err.print(f"[red]invalid policy file[/]: {escape(str(exc))}")
        return EXIT_CONFIGURATION
    client = await session.client()
    namespace = session.settings.temporal_namespace
    added = await ensure_search_attributes(client, namespace)
    problems = await search_attribute_problems(client, namespace)
    for name in added:
        out.print(f"added {name}", highlight=False)
    if problems:
        for problem in problems:
            err.print(f"[red]{escape(problem)}[/]")
        return EXIT_REFUSED
    out.print(f"namespace {escape(namespace)}: every search attribute is there, of its type", highlight=False)
    done = await apply_retention_policy(client, retention, session.settings.task_queue)
    days = retention.erase_closed_after_days
    out.print(
        f"retention schedule {RETENTION_SCHEDULE_ID}: {done}"
        + (f" (closed cases erased {days} days after closing, daily at {retention.daily_at})" if days else "")
        + ("" if days else " (no retention period: closed cases are kept)"),
        highlight=False,
    )
    return EXIT_OK


async def deployment(args: argparse.Namespace, session: Session) -> int:
    """Without arguments, the deployment's versions; ``current BUILD`` or ``ramp BUILD``."""
    client = await session.client()
    name = session.settings.worker_deployment
    if args.move is not None:
        if not args.build_id:
            err.print(f"[red]deployment {args.move} needs a BUILD[/]")
            return EXIT_REFUSED
        if args.move == "current":
            await deployments.set_current(client, name, args.build_id)
        else:
            await deployments.set_ramping(client, name, args.build_id, args.percent)
    state = await deployments.describe(client, name)
    if state is None:
        err.print(f"no worker has joined the deployment {escape(name)} yet (ODS_WORKER_BUILD_ID)")
        return EXIT_REFUSED
    out.print(f"[bold]{escape(name)}[/]: current {state.current or '—'}", highlight=False)
    if state.ramping:
        out.print(f"  ramping {state.ramping} at {state.ramp_percentage:g}%", highlight=False)
    for version in state.versions:
        out.print(f"  {escape(version.build_id)}  {version.drainage}", highlight=False)
    return EXIT_OK


async def report(args: argparse.Namespace, session: Session) -> int:
    """The daily report from the service database (``ODS_DATABASE_URL``), as a table."""
    try:
        day = date.fromisoformat(args.date)
        policy = load_sla_policy(args.policy or session.settings.sla_policy)
    except (ValueError, PolicyFileError) as exc:
        err.print(f"[red]cannot make the report[/]: {escape(str(exc))}")
        return EXIT_REFUSED
    found = await daily_report(session.database, day, policy.zone)
    if args.json:
        print(found.model_dump_json(indent=2))
        return EXIT_OK
    for line in report_lines(found):
        out.print(line, highlight=False)
    return EXIT_OK


async def audit_verify(args: argparse.Namespace, session: Session) -> int:
    """``audit verify``: the whole chain checked (``store.audit.AuditLog.verify``)."""
    database = ServiceDatabase(session.settings.resolved_database_url)
    try:
        check = await (await database.audit()).verify()
    finally:
        await database.close()
    if not check.holds:
        err.print(
            f"[red]the audit chain is broken at entry {check.broken}[/]: {escape(check.problem or '')} "
            f"({check.checked} entries before it hold)"
        )
        return EXIT_REFUSED
    out.print(f"the audit chain holds: {check.checked} entries", highlight=False)
    return EXIT_OK


async def audit_export(args: argparse.Namespace, session: Session) -> int:
    """``audit export``: JSON lines on stdout, recorded as an export by the machine's user."""
    since = None
    if args.since is not None:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            since = None
        if since is None or since.tzinfo is None:
            err.print(
                f"[red]--since {escape(args.since)}[/]: a time with its zone, e.g. 2026-12-01T00:00+08:00"
            )
            return EXIT_REFUSED
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    access = audit.Access(actor=user, role="cli", client=socket.gethostname())
    database = ServiceDatabase(session.settings.resolved_database_url)
    try:
        count = await audit.export(database, access, sys.stdout.write, since=since)
    finally:
        await database.close()
    sys.stdout.flush()
    err.print(f"{count} entries exported", highlight=False)
    return EXIT_OK


def report_lines(found: DailyReport) -> Iterator[Any]:
    yield f"[bold]One-Day Setup daily report {found.date.isoformat()}[/] ({found.timezone})"
    rate = "—" if found.completion_rate is None else f"{found.completion_rate:.0%}"
    yield (
        f"accepted {found.accepted}  completed {found.completed}  rejected {found.rejected}  "
        f"withdrawn {found.withdrawn}  (completion rate {rate})"
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in (
        "stage",
        "done",
        "in time",
        "rate",
        "median (working)",
        "p90 (working)",
        "median (wall)",
        "p90 (wall)",
    ):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for stage, f in found.stages.items():
        table.add_row(
            stage,
            str(f.completed),
            str(f.within_sla),
            "—" if f.within_sla_rate is None else f"{f.within_sla_rate:.0%}",
            _span(f.working_time.median_s),
            _span(f.working_time.p90_s),
            _span(f.wall_time.median_s),
            _span(f.wall_time.p90_s),
        )
    yield table
    b, a, s, d = found.breaches, found.attention, found.subsidy, found.deliveries
    by_stage = ", ".join(f"{k} {v}" for k, v in b.by_stage.items()) or "none"
    by_district = ", ".join(f"{k} {v}" for k, v in b.by_district.items()) or "none"
    yield f"breaches {b.total} (by stage: {by_stage}; by district: {by_district})"
    yield f"attention raised {a.raised}, resolved {a.resolved}, open at the end of the day {a.open}"
    yield f"free seals settled: {s.enterprises} enterprise(s), {s.amount_cny:,.2f} yuan"
    yield f"deliveries: postal {d.postal}, pickup {d.pickup}, fallback to pickup {d.fallback}"


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


async def deadline(args: argparse.Namespace, session: Session) -> int:
    """Needs no Temporal: the working-time clock and the real holiday calendar."""
    try:
        print(deadline_command(args.stage, args.start, args.policy or session.settings.sla_policy))
    except ValueError as exc:
        err.print(f"[red]cannot compute the deadline[/]: {escape(str(exc))}")
        return EXIT_REFUSED
    return 0


async def calendar(args: argparse.Namespace, session: Session) -> int:
    """Needs no Temporal: every day of the year that is not an ordinary weekday or weekend."""
    text = str(args.year).strip()
    year = int(text) if re.fullmatch(r"\d{1,4}", text) else 0
    if not 1 <= year <= 9999:
        err.print(f"[red]--year {escape(text)!r} is not a year[/]: give four digits, e.g. --year 2027")
        return EXIT_REFUSED
    policy_path: Path | None = args.policy or session.settings.sla_policy
    try:
        policy = load_sla_policy(policy_path)
    except PolicyFileError as exc:
        err.print(f"[red]invalid policy file[/]: {escape(str(exc))}")
        return EXIT_REFUSED
    for line in calendar_lines(year_calendar(year, policy), policy, policy_path):
        print(line)
    return EXIT_OK


def calendar_lines(found: YearCalendar, policy: SlaPolicy, policy_path: Path | None) -> Iterator[str]:
    """``starter.py calendar``'s output: the year's status first, then one line a day, then counts."""
    first, last = official_data_years()
    version = calendar_package_version()
    package = f"chinese-calendar {version} has the State Council schedule for {first}-{last}"
    year = found.year
    if found.official:
        yield f"{year}: official State Council schedule ({package})."
    else:
        yield (
            f"NO OFFICIAL DATA FOR {year}: {package} only. Working time in {year} counts weekends "
            "only (no public holidays, no make-up workdays)"
            + (", plus the days the SLA policy lists below." if found.covered_by_policy else ".")
        )
        if found.covered_by_policy:
            yield f"The SLA policy lists days in {year}, so the year counts as covered by the policy."
        else:
            yield (
                f"To fix: enter the State Council notice for {year} in the SLA policy's "
                f"extra_holidays/extra_workdays ({RUNBOOK})."
            )
    yield f"SLA policy: {policy_path or 'built-in default'} (time zone {policy.timezone})"
    yield ""
    yield f"{'date':<10}  {'day':<3}  {'kind':<20}  {'source':<19}  name"
    for d in found.days:
        yield f"{d.day.isoformat():<10}  {d.day:%a}  {d.kind:<20}  {d.source:<19}  {d.name}".rstrip()
    if not found.days:
        yield f"(none: every day of {year} is an ordinary weekday or weekend)"
    yield ""
    total = found.working_days + found.days_off
    yield (
        f"summary {year}: {total} days, {found.working_days} working days, {found.days_off} days off; "
        f"holidays on weekdays {found.count('holiday')}, holidays on a weekend "
        f"{found.count('holiday on a weekend')}, make-up workdays {found.count('make-up workday')}"
    )
    sources = found.by_source
    yield (
        f"days decided by: official data {sources['official']}, the policy {sources['policy']}, "
        f"weekends-only guess {sources['weekends-only guess']}"
    )
    coverage = calendar_coverage(policy)
    yield (
        f"calendar known until {coverage.known_until.isoformat()} ({coverage.days_ahead} days ahead of "
        f"{coverage.today.isoformat()})"
    )
    if coverage.warning:
        yield f"WARNING: {coverage.warning}"


async def _run(command: Command, args: argparse.Namespace, session: Session) -> int:
    settings = session.settings
    where = f"{settings.temporal_address} (namespace {settings.temporal_namespace})"
    try:
        return await command(args, session)
    except ServiceDatabaseUnavailable as exc:
        err.print(f"[red]{escape(str(exc))}[/]: ODS_DATABASE_URL says where.")
        return EXIT_UNREACHABLE
    except TemporalUnreachable as exc:
        err.print(f"[red]cannot reach Temporal at {escape(where)}[/]: {escape(str(exc))}")
        err.print("Is it running? `make temporal` starts one; ODS_TEMPORAL_ADDRESS says where.")
        return EXIT_UNREACHABLE
    except RPCError as exc:
        if exc.status in _UNREACHABLE_STATUSES:
            err.print(f"[red]Temporal at {escape(where)} did not answer[/]: {escape(exc.message)}")
            return EXIT_UNREACHABLE
        raise
    except cases.CaseNotFound as exc:
        err.print(f"[red]no case with application id {escape(str(exc))}[/]")
        return EXIT_REFUSED
    except cases.CaseStateConflict as exc:
        err.print(f"[red]refused[/]: {escape(str(exc))}")
        return EXIT_REFUSED
    except cases.ActionNotOffered as exc:
        err.print(f"[red]not offered[/]: {escape(str(exc))}")
        return EXIT_REFUSED
    except ratings.RatingNotFound as exc:
        err.print(f"[red]no follow-up of rating {escape(str(exc))}[/] (unknown, or not a bad rating)")
        return EXIT_REFUSED
    except (ratings.AppealByItsAuthor, ratings.FollowUpErased) as exc:
        err.print(f"[red]refused[/]: {escape(str(exc))}")
        return EXIT_REFUSED
    except cases.InvalidQuery as exc:
        err.print(f"[red]invalid filter[/]: {escape(str(exc))}")
        return EXIT_REFUSED
    except ApplicationInvalid as invalid:
        err.print(f"[red]invalid[/], {len(invalid.errors)} problem(s):")
        for problem in invalid.errors:
            err.print(f"  {escape(problem.field)}: {escape(problem.message)}")
        return EXIT_REFUSED
    finally:
        await session.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        err.print(f"[red]invalid configuration[/]: {escape(str(exc))}")
        return EXIT_CONFIGURATION
    session = Session(settings)
    if getattr(args, "starts_cases", False):
        try:
            session.policies = load_policies(settings.sla_policy, settings.subsidy_policy)
        except PolicyFileError as exc:
            err.print(f"[red]invalid policy file[/]: {escape(str(exc))}")
            return EXIT_CONFIGURATION
    try:
        return asyncio.run(_run(args.run, args, session))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    code = main()
    # The SDK can abort at interpreter exit after all work is done (sdk-python#300): leave now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
