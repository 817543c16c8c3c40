"""Traces across the gateway, Temporal, the worker's activities and the partner calls, exported to an
OTLP/HTTP endpoint when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, and nothing at all when it is not.

The traced processes are real ones (``python -m gateway``, ``python worker.py``) on the dev server
and the partner sandbox, exporting to a small OTLP receiver run here: the global tracer provider of
this test process is never touched. The partner sandbox runs on this test's event loop, so the test
waits without blocking it.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from temporalio.testing import WorkflowEnvironment

from devstack.stack import free_port
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
PORTAL = {"Authorization": "Bearer dev-portal-token"}


class OtlpReceiver:
    """An OTLP/HTTP trace endpoint on 127.0.0.1: keeps every ``POST /v1/traces`` body."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.paths.append(self.path)
                if self.path == "/v1/traces":
                    receiver.bodies.append(body)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[OtlpReceiver]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()

    def spans(self) -> list[Span]:
        found = []
        for body in self.bodies:
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                service = next(
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                )
                for scope_spans in resource_spans.scope_spans:
                    for s in scope_spans.spans:
                        found.append(
                            Span(
                                service=service,
                                scope=scope_spans.scope.name,
                                name=s.name,
                                trace_id=s.trace_id.hex(),
                                span_id=s.span_id.hex(),
                                parent_id=s.parent_span_id.hex(),
                                attributes={a.key: _value(a.value) for a in s.attributes},
                            )
                        )
        return found


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind and kind != "array_value" else str(value)


@dataclass(frozen=True)
class Span:
    service: str
    scope: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]


def base_env(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("ODS_", "OTEL_"))} | extra


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


@asynccontextmanager
async def process(
    args: list[str], env: dict[str, str], log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A real process, stopped as a supervisor stops it (SIGTERM) at the end of the block."""
    with log.open("wb") as sink:
        child = await asyncio.create_subprocess_exec(
            *args, cwd=ROOT, env=env, stdout=sink, stderr=asyncio.subprocess.STDOUT
        )
    try:
        yield child
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(child.wait(), timeout=60)
        except TimeoutError:
            child.kill()
            raise AssertionError(f"{args} did not stop on SIGTERM\n{tail(log)}") from None


async def wait_for(what: str, check: Any, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if await check():
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s\n{tail(log)}")


def json_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


async def test_a_case_is_one_trace_from_the_gateway_through_temporal_to_the_partner(
    dev_env: WorkflowEnvironment, sandbox_url: str, tmp_path: Path
) -> None:
    gateway_addr = f"127.0.0.1:{free_port()}"
    application = factories.application()
    case = application["application_id"]
    person = application["legal_representative"]
    with OtlpReceiver().running() as receiver:
        common = {
            "ODS_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "ODS_TASK_QUEUE": f"traced-{uuid.uuid4()}",
            "ODS_DATA_DIR": str(tmp_path / "data"),
            "ODS_PARTNER_URL": sandbox_url,
            "ODS_GATEWAY_ADDR": gateway_addr,
            "ODS_GATEWAY_URL": f"http://{gateway_addr}",
            "ODS_LOG_FORMAT": "json",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            # Nothing is exported on a schedule: what arrives was flushed when the process stopped.
            "OTEL_BSP_SCHEDULE_DELAY": "600000",
        }
        gateway_log, worker_log = tmp_path / "gateway.log", tmp_path / "worker.log"
        worker_env = base_env(**common, ODS_WORKER_METRICS_ADDR="0", OTEL_SERVICE_NAME="ods-worker-blue")
        async with (
            process([sys.executable, "worker.py"], worker_env, worker_log),
            process([sys.executable, "-m", "gateway"], base_env(**common), gateway_log),
            httpx.AsyncClient(base_url=f"http://{gateway_addr}", headers=PORTAL, timeout=30) as gateway,
        ):

            async def worker_started() -> bool:
                return "worker started" in worker_log.read_text()

            async def gateway_up() -> bool:
                return (await gateway.get("/healthz")).is_success

            async def registered() -> bool:
                status = await gateway.get(f"/v1/applications/{case}", params={"ref": "13812345678"})
                return bool(status.is_success and status.json()["stages"]["registration"]["state"] == "done")

            await wait_for("the worker starts", worker_started, worker_log)
            await wait_for("the gateway answers", gateway_up, gateway_log)
            submitted = await gateway.post("/v1/applications", json=application)
            assert submitted.status_code == 202, submitted.text
            await wait_for("the registration is filed", registered, worker_log)
        assert receiver.paths and set(receiver.paths) == {"/v1/traces"}
        spans = receiver.spans()

    def one(name: str, service: str) -> Span:
        matching = [s for s in spans if s.name == name and s.service == service]
        assert matching, f"no {name} span from {service}: {sorted({(s.service, s.name) for s in spans})}"
        return matching[0]

    # The gateway's request and the workflow start it made; the worker's run of the case and of its
    # registration, and the partner call made inside it: one trace.
    post = one("POST /v1/applications", "ods-gateway")
    assert post.scope.startswith("opentelemetry.instrumentation.fastapi") or "asgi" in post.scope
    start = one("StartWorkflow:EnterpriseSetup", "ods-gateway")
    run = one("RunWorkflow:EnterpriseSetup", "ods-worker-blue")
    filing = one("RunActivity:file_registration", "ods-worker-blue")
    partner_calls = [
        s
        for s in spans
        if s.scope.startswith("opentelemetry.instrumentation.httpx") and s.parent_id == filing.span_id
    ]
    assert partner_calls, "the registration's partner call left no span"
    assert {s.trace_id for s in [post, start, run, filing, *partner_calls]} == {post.trace_id}
    assert start.attributes["temporalWorkflowID"] == f"setup-{case}"

    # A status query is a trace of its own: the GET and the query it made.
    gets = [
        s for s in spans if s.name == "GET /v1/applications/{application_id}" and s.service == "ods-gateway"
    ]
    queries = [s for s in spans if s.name.startswith("QueryWorkflow:") and s.service == "ods-gateway"]
    assert gets and queries
    assert {q.trace_id for q in queries} <= {g.trace_id for g in gets}
    assert post.trace_id not in {g.trace_id for g in gets}

    # Scrapes and probes are not traced; no personal data leaves in a span (the query's phone number
    # is masked like a log line's, nothing of the application's people is there).
    assert not [s for s in spans if "healthz" in s.name]
    assert not [s for s in spans if s.name.endswith((" http send", " http receive"))]  # one span a request
    exported = b"".join(receiver.bodies)
    assert b"13812345678" not in exported and b"138****5678" in exported
    for secret in (person["id_number"], person["phone"], person["name"]):
        assert secret.encode() not in exported

    # A log line leads to its trace: the status request's access line names the case and the trace.
    access = [
        line
        for line in json_lines(gateway_log)
        if line["event"] == "request" and line["path"] == f"/v1/applications/{case}"
    ]
    assert access and all(line["application_id"] == case for line in access)
    assert {line["trace_id"] for line in access} <= {g.trace_id for g in gets}
    assert any(
        line["event"] == "tracing on" and line["service"] == "ods-gateway" for line in json_lines(gateway_log)
    )


NOTHING_SCRIPT = """
import asyncio, json, sys
from opentelemetry import trace
from gateway.app import create_app
from infra.http import http_client
from infra.settings import Settings
from infra.tracing import start_tracing, temporal_interceptors

app = create_app(Settings(temporal_address="127.0.0.1:1"), client=None)
client = http_client("http://127.0.0.1:1")
print(json.dumps({
    "provider": type(trace.get_tracer_provider()).__name__,
    "started": start_tracing("ods-worker") is not None,
    "interceptors": len(temporal_interceptors()),
    "client_instrumented": bool(getattr(client, "_is_instrumented_by_opentelemetry", False)),
    "app_instrumented": bool(getattr(app, "_is_instrumented_by_opentelemetry", False)),
    "otel_modules": sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk",
        "opentelemetry.exporter", "opentelemetry.instrumentation", "temporalio.contrib.opentelemetry"))),
}))
"""


def test_without_an_endpoint_nothing_of_tracing_is_set_up(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", NOTHING_SCRIPT],
        cwd=ROOT,
        env=base_env(ODS_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "provider": "ProxyTracerProvider",
        "started": False,
        "interceptors": 0,
        "client_instrumented": False,
        "app_instrumented": False,
        "otel_modules": [],
    }
