"""The whole HTTP API fuzzed from its own OpenAPI document with schemathesis, every check on.

A gateway is served in-process (uvicorn) on the Temporal dev server (the time-skipping test server
has no visibility, so it could not list cases), with a partner sandbox, a service database and a
worker of its own, so nothing here touches what other tests count. The worker is a process of its
own (``worker.py``), as in production: in this one, the workflow sandbox's imports would race
hypothesis for CPython 3.11's parser ("SystemError: AST constructor recursion depth mismatch"; for
the same reason schemathesis runs one worker thread). Schemathesis runs all its
phases (examples, coverage, fuzzing, stateful) with all its checks: no 5xx, no schema-valid request
refused, no schema-violating one accepted, every answer (status, content type, body, headers) as
documented, 405 with ``Allow`` for methods a path does not take.

A schema cannot say everything: check digits, contributions adding up, which payloads decrypt. So
where a request is *positive* (schema-valid), values the schema cannot vouch for are made real before
it is sent: the application comes from ``tests.gateway.strategies.applications`` (hypothesis;
``tests.factories`` where schemathesis builds a case without hypothesis), an encrypted payload to
decode is one the gateway encrypted. A cursor or ``Last-Event-ID`` is often one the service gave out
(so that pages and resumed streams are fuzzed too), and otherwise schemathesis's own: one of the
documented form that names nothing is no 422 either. Negative requests go out exactly as
schemathesis made them. Afterwards the cases in Temporal are exactly those of the valid
applications answered 202, and no refused application has a case.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import schemathesis
from fastapi import FastAPI
from hypothesis import strategies as st
from limits import parse
from schemathesis.engine import events
from schemathesis.engine import from_schema as engine_for
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from devstack.stack import Stack as ProcessStack
from domain.application import parse_application
from domain.case_ids import WORKFLOW_TYPE, workflow_id_for
from domain.validation import ApplicationInvalid
from gateway.app import create_app
from gateway.failures import FailureLimiter
from gateway.parameters import ALERT_ID_PATTERN, CASE_CURSOR_PATTERN
from infra.codec import ENCODING
from infra.serving import serve_in_background
from infra.settings import Settings
from store.alerts import AlertIn, AlertStore
from store.db import open_database
from store.service import ServiceDatabase
from tests import factories
from tests.gateway.strategies import applications
from tests.helpers import keyed_client

FUZZ_EXAMPLES = 5
"""Examples per operation and phase: the whole run stays around a minute on two cores."""
SEED = 20261127
SUBMIT = ("POST", "/v1/applications")
ACTIONS = "/v1/applications/{application_id}/actions"
ERASURE = "/v1/applications/{application_id}/erasure"
RATING_ACTIONS = "/v1/ratings/{rating_id}/actions"
DOCUMENT = "/v1/applications/{application_id}/documents/{name}"
DECODE = "/codec/decode"
STREAM = "/v1/alerts/stream"


# --- the stack: a gateway of its own on the dev server ---------------------------------------------


@dataclass
class FuzzStack:
    client: Client
    settings: Settings
    base_url: str
    store: AlertStore
    http: httpx.AsyncClient

    @property
    def ops(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.ops_token}"}


def gateway_app(settings: Settings, client: Client, store: AlertStore) -> FastAPI:
    app = create_app(settings, client=client, database=ServiceDatabase.on(store.engine))
    # schemathesis tries a wrong token on every route (its ignored_auth check): more than the
    # limit of wrong tokens per address (gateway/failures.py), which is not what this test is about.
    app.state.failures = FailureLimiter(parse("1000000 per minute"))
    return app


@pytest_asyncio.fixture(scope="module")
async def fuzz_stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FuzzStack]:
    from partner_sandbox.app import create_app as create_sandbox

    data_dir: Path = tmp_path_factory.mktemp("fuzz-data")
    async with serve_in_background(create_sandbox(Settings())) as sandbox_url:
        settings = Settings(partner_url=sandbox_url, task_queue=f"fuzz-{uuid.uuid4()}", data_dir=data_dir)
        engine = await open_database(settings.resolved_database_url)
        store = AlertStore(engine)
        # The worker process encrypts each case under its own key: the gateway reads them so too.
        async with (
            keyed_client(dev_env.client, settings) as client,
            serve_in_background(gateway_app(settings, client, store)) as url,
        ):
            settings = settings.model_copy(update={"gateway_url": url})
            async with (
                worker_process(client, settings),
                httpx.AsyncClient(base_url=url, timeout=30) as http,
                httpx.AsyncClient(base_url=sandbox_url, timeout=30) as sandbox,
            ):
                fast = {"seal_shop": {"carving_s": 0.05}, "postal": {"collect_after_s": 0.05}}
                (await sandbox.put("/_sandbox/behaviour", json=fast)).raise_for_status()
                yield FuzzStack(client, settings, url, store, http)
                await _terminate_open_cases(client, settings.task_queue)
        await engine.dispose()


@asynccontextmanager
async def worker_process(client: Client, settings: Settings) -> AsyncIterator[None]:
    """devstack's worker (``worker.py``, every role) polling the settings' task queue on ``client``'s
    Temporal, until the block ends (SIGTERM: it finishes)."""
    settings = settings.model_copy(
        update={
            "temporal_address": client.service_client.config.target_host,
            "temporal_namespace": client.namespace,
        }
    )
    worker = ProcessStack(
        settings, parts=("worker",), worker_roles=("all",), isolated=True, ready_timeout_s=60
    )
    worker.client = client
    try:
        assert await worker.start(asyncio.Event())
        yield
    finally:
        await worker.stop()


async def _cases_on(client: Client, task_queue: str) -> set[str]:
    query = f'WorkflowType = "{WORKFLOW_TYPE}" AND TaskQueue = "{task_queue}"'
    return {execution.id async for execution in client.list_workflows(query)}


async def _terminate_open_cases(client: Client, task_queue: str) -> None:
    query = f'WorkflowType = "{WORKFLOW_TYPE}" AND TaskQueue = "{task_queue}" AND ExecutionStatus = "Running"'
    async for execution in client.list_workflows(query):
        try:
            await client.get_workflow_handle(execution.id).terminate("the fuzzing is over")
        except RPCError:
            pass


# --- known values for what a schema cannot vouch for ------------------------------------------------


@dataclass
class Known:
    """Values the service gave out, for positive requests to use."""

    alert_ids: list[str]
    case_cursors: list[str]
    encrypted_payload: dict[str, Any]

    def pick(self, values: list[str], seed: object) -> str:
        digest = hashlib.sha256(repr(seed).encode()).digest()
        return values[digest[0] % len(values)]


async def _seed_alerts(store: AlertStore) -> list[str]:
    ids = []
    for n, (stage, level) in enumerate(
        [("registration", "at_risk"), ("seal_carving", "breached"), ("overall", "recovered")]
    ):
        alert, _ = await store.record(
            AlertIn.model_validate(
                {
                    "application_id": f"FZSEED-{n:04d}",
                    "workflow_id": f"setup-FZSEED-{n:04d}",
                    "stage": stage,
                    "level": level,
                    "deadline": "2026-11-27T14:00:00+08:00",
                    "raised_at": f"2026-11-27T1{n}:00:00+08:00",
                    "district_code": "410502",
                    "enterprise_name": "安阳市文峰区晨曦餐饮有限公司",
                }
            )
        )
        ids.append(alert.id)
    return ids


async def _seed_cases(stack: FuzzStack) -> tuple[set[str], list[str]]:
    """Two cases submitted through the gateway, and a real cursor of the case list."""
    seeded = set()
    for _ in range(2):
        body = factories.application(application_id=factories.new_application_id("FZSEED"))
        resp = await stack.http.post("/v1/applications", json=body, headers=stack.ops)
        assert resp.status_code == 202, resp.text
        seeded.add(body["application_id"])
    deadline = time.monotonic() + 30
    while True:  # visibility is eventually consistent
        page = await stack.http.get("/v1/applications", params={"limit": 1}, headers=stack.ops)
        assert page.status_code == 200, page.text
        cursor = page.json()["next_cursor"]
        if cursor:
            return seeded, [cursor]
        assert time.monotonic() < deadline, "the seeded cases never showed in visibility"
        await asyncio.sleep(0.2)


# --- the run ------------------------------------------------------------------------------------------


@dataclass
class Exchange:
    method: str
    path: str
    body: Any
    status: int
    positive: bool


@dataclass
class Report:
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    replaced_bodies: int = 0
    drawn_bodies: int = 0

    def describe_failures(self) -> str:
        return "\n\n".join(
            f"{op} {code} {title}\n{detail}" for (op, code, title), detail in self.failures.items()
        )


ALERT_ID = re.compile(ALERT_ID_PATTERN)
CASE_CURSOR = re.compile(CASE_CURSOR_PATTERN)


def _known_or_drawn(known: Known, values: list[str], drawn: object, form: re.Pattern[str]) -> str:
    """One of ``values``, or the drawn value itself when it is of the documented ``form``."""
    if isinstance(drawn, str) and form.fullmatch(drawn):
        return known.pick([*values, drawn], drawn)
    return known.pick(values, drawn)


def _says_encrypted(payload: object) -> bool:
    """Whether the codec would decrypt this payload (its ``encoding`` metadata says so)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("metadata"), dict):
        return False
    encoding = payload["metadata"].get("encoding")
    if not isinstance(encoding, str):
        return False
    text = encoding.rstrip("=").translate(str.maketrans("-_", "+/"))
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4)) == ENCODING
    except ValueError:
        return False


def _is_positive(case: schemathesis.Case) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


def _valid_application(body: object) -> bool:
    try:
        parse_application(body)
    except ApplicationInvalid:
        return False
    return True


def _config(base_url: str, token: str) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": base_url,
            "headers": {"Authorization": f"Bearer {token}"},
            "request-timeout": 30,
            "max-stream-events": 1,
            "cache": {"enabled": False},
            "generation": {"max-examples": FUZZ_EXAMPLES, "database": "none", "mode": "all"},
            "checks": {"enabled": True},
            "phases": {"stateful": {"max-steps": 6}},
            # A live stream from "now on" sends nothing until an alert is raised: stop listening soon.
            "operations": [
                {"include-path": STREAM, "request-timeout": 1},
                # An action the case does not offer now is a 422 that names those it does
                # (docs/operations.md): whether a schema-valid action is offered depends on the case.
                *(
                    {
                        "include-path": path,
                        "checks": {
                            "positive_data_acceptance": {
                                "expected-statuses": ["2xx", "401", "403", "404", "409", "422"]
                            }
                        },
                    }
                    # So with a follow-up: what it offers depends on its state; and an erasure with
                    # the shared ops token (this test's) must name its operator, which a schema-valid
                    # body may leave out.
                    for path in (ACTIONS, ERASURE, RATING_ACTIONS)
                ),
                # An erased case's documents are gone (410).
                {
                    "include-path": DOCUMENT,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": ["2xx", "401", "403", "404", "409", "410"]
                        }
                    },
                },
            ],
        }
    )


def run_schemathesis(document: dict[str, Any], base_url: str, token: str, known: Known) -> Report:
    """The engine as ``schemathesis run --checks all`` drives it, in this thread (not the event loop's)."""
    document = json.loads(json.dumps(document))
    schema = schemathesis.openapi.from_dict(document, config=_config(base_url, token))
    report = Report()
    lock = threading.Lock()

    def ours(case: schemathesis.Case) -> bool:
        return case.operation.schema is schema

    @schema.hook("flatmap_case")
    def valid_applications_when_positive(context: Any, case: schemathesis.Case) -> st.SearchStrategy[Any]:
        if (case.method.upper(), case.operation.path) != SUBMIT or not _is_positive(case):
            return st.just(case)

        def with_body(body: dict[str, Any]) -> schemathesis.Case:
            case.body = body
            with lock:
                report.drawn_bodies += 1
            return case

        return applications().map(with_body)

    def make_positive_values_real(context: Any, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
        if not ours(case) or not _is_positive(case):
            return
        path = case.operation.path
        if (case.method.upper(), path) == SUBMIT and not _valid_application(case.body):
            case.body = factories.application(application_id=factories.new_application_id("FZ"))
            with lock:
                report.replaced_bodies += 1
        # The drawn value stays among the choices: a cursor of the documented form that names
        # nothing is schema-valid, and must be answered as such (an empty page, a stream from now on).
        # Not a value out of that form: the coverage phase may carry a header over from a negative
        # case into one it calls positive (Last-Event-ID "0", component mode negative).
        if (
            path == "/v1/applications"
            and case.method.upper() == "GET"
            and case.query
            and "after" in case.query
        ):
            case.query["after"] = _known_or_drawn(known, known.case_cursors, case.query["after"], CASE_CURSOR)
        # Never the newest alert: a stream resumed after it has something to send at once.
        if path in ("/v1/alerts", STREAM) and case.query and "after" in case.query:
            case.query["after"] = _known_or_drawn(known, known.alert_ids[:-1], case.query["after"], ALERT_ID)
        if path == STREAM and case.headers and "Last-Event-ID" in case.headers:
            drawn = case.headers["Last-Event-ID"]
            case.headers["Last-Event-ID"] = _known_or_drawn(known, known.alert_ids[:-1], drawn, ALERT_ID)
        if path == DECODE and isinstance(case.body, dict):
            payloads = case.body.get("payloads")
            if isinstance(payloads, list):
                case.body["payloads"] = [
                    known.encrypted_payload if _says_encrypted(p) else p for p in payloads
                ]

    @schema.hook("after_call")
    def record(context: Any, case: schemathesis.Case, response: schemathesis.Response) -> None:
        if not ours(case):
            return
        exchange = Exchange(
            case.method.upper(), case.operation.path, case.body, response.status_code, _is_positive(case)
        )
        with lock:
            report.exchanges.append(exchange)

    # ``before_call`` is dispatched by the global dispatcher only; it is ours for this run alone.
    GLOBAL_HOOK_DISPATCHER.register_hook_with_name(make_positive_values_real, "before_call")
    phase_started = time.monotonic()
    try:
        for event in engine_for(schema).execute():
            if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
                _collect_failures(event.recorder, report)
            elif isinstance(event, events.NonFatalError | events.FatalError):
                report.errors.append(f"{type(event).__name__}: {_error_text(event)}")
            elif isinstance(event, events.PhaseStarted):
                phase_started = time.monotonic()
            elif isinstance(event, events.PhaseFinished):
                report.phase_seconds[event.phase.name.value] = round(time.monotonic() - phase_started, 1)
            elif isinstance(event, events.EngineFinished):
                report.failures.update({("run", f.code, f.title): f.message for f in event.failures})
    finally:
        GLOBAL_HOOK_DISPATCHER.unregister(make_positive_values_real)
    return report


def _error_text(event: events.NonFatalError | events.FatalError) -> str:
    if isinstance(event, events.NonFatalError):
        return f"{event.label}: {event.value!r}"
    return repr(event.exception)


def _collect_failures(recorder: Any, report: Report) -> None:
    for case_id, checks in recorder.checks.items():
        for check in checks:
            info = check.failure_info
            if info is None:
                continue
            failure = info.failure
            key = (failure.operation or recorder.label, failure.code, failure.title)
            report.failures.setdefault(key, f"{failure.message}\n    {info.code_sample}  [{case_id}]")


# --- the tests ----------------------------------------------------------------------------------------


async def test_the_whole_api_survives_schemathesis_and_hostile_requests_start_no_case(
    fuzz_stack: FuzzStack,
) -> None:
    plain = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": ""}
    encoded = await fuzz_stack.http.post("/codec/encode", json={"payloads": [plain]}, headers=fuzz_stack.ops)
    assert encoded.status_code == 200, encoded.text
    known = Known(
        alert_ids=await _seed_alerts(fuzz_stack.store),
        case_cursors=[],
        encrypted_payload=encoded.json()["payloads"][0],
    )
    seeded, known.case_cursors = await _seed_cases(fuzz_stack)
    document = (await fuzz_stack.http.get("/openapi.json")).json()

    started_at = time.monotonic()
    report = await asyncio.to_thread(
        run_schemathesis, document, fuzz_stack.base_url, fuzz_stack.settings.ops_token, known
    )
    took = time.monotonic() - started_at

    assert not report.errors, "\n".join(report.errors)
    assert not report.failures, report.describe_failures()
    tested = {(e.method, e.path) for e in report.exchanges}
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert documented <= tested, f"never called: {documented - tested}"

    # What started a case is exactly the valid applications answered 202, and nothing else did.
    submissions = [e for e in report.exchanges if (e.method, e.path) == SUBMIT]
    accepted = [e for e in submissions if e.status == 202]
    assert accepted, "no generated application was valid: the strategies did not reach a case"
    assert all(_valid_application(e.body) for e in accepted)
    accepted_ids = {e.body["application_id"] for e in accepted}
    refused_ids = {
        e.body["application_id"]
        for e in submissions
        if e.status >= 400
        and isinstance(e.body, dict)
        and isinstance(e.body.get("application_id"), str)
        and e.body["application_id"] not in accepted_ids | seeded
    }
    for application_id in refused_ids:
        try:
            await fuzz_stack.client.get_workflow_handle(workflow_id_for(application_id)).describe()
        except RPCError as err:
            assert err.status == RPCStatusCode.NOT_FOUND, err
        except (ValueError, TypeError):
            continue  # not even a workflow id: nothing can have started
        else:
            raise AssertionError(f"a refused application started case {application_id}")
    expected = {workflow_id_for(i) for i in accepted_ids | seeded}
    deadline = time.monotonic() + 30
    while (found := await _cases_on(fuzz_stack.client, fuzz_stack.settings.task_queue)) != expected:
        assert not found - expected, f"cases nobody was told of: {found - expected}"
        assert time.monotonic() < deadline, f"missing from visibility: {expected - found}"
        await asyncio.sleep(0.2)
    # Positive requests got through where they should: a real page, a real stream, a real case.
    for method, path in [
        ("GET", "/v1/applications"),
        ("GET", "/v1/alerts"),
        ("GET", STREAM),
        ("GET", "/v1/subsidies"),
    ]:
        answered = {e.status for e in report.exchanges if (e.method, e.path) == (method, path)}
        assert {200, 422} <= answered, (method, path, answered)
    print(
        f"\nschemathesis: {len(report.exchanges)} requests in {took:.1f} s {report.phase_seconds}; "
        f"{len(submissions)} submissions, {len(accepted)} started a case "
        f"({report.drawn_bodies} applications drawn by hypothesis, {report.replaced_bodies} from the "
        f"factories); {len(refused_ids)} refused application ids have no case"
    )
