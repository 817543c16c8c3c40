"""OpenTelemetry traces, gateway → Temporal → activities → partners, only when an OTLP endpoint is set.

``OTEL_EXPORTER_OTLP_ENDPOINT`` (OTLP over HTTP/protobuf, e.g. ``http://127.0.0.1:4318``; spans go to
``<endpoint>/v1/traces``) turns tracing on. Then each process has one tracer provider, service
``ods-gateway`` or ``ods-worker`` (``OTEL_SERVICE_NAME`` overrides), exporting in batches, and:

- the Temporal client carries ``temporalio.contrib.opentelemetry.TracingInterceptor``
  (``infra.temporal.connect``); a worker made from that client gets it too, so a case's trace runs
  ``POST /v1/applications`` → ``StartWorkflow:EnterpriseSetup`` → ``RunWorkflow`` →
  ``StartActivity:…`` → ``RunActivity:…`` → the partner call;
- the gateway app is instrumented (``opentelemetry-instrumentation-fastapi``, ``instrument_gateway``);
- each client of ``infra.http.http_client`` is instrumented (``opentelemetry-instrumentation-httpx``,
  per client, no global patching): a span per partner call, and ``traceparent`` sent along;
- log lines written inside a span carry its ``trace_id`` and ``span_id`` (``add_trace_ids``).

Without the variable nothing is set up: no provider, no exporter, no interceptor, and OpenTelemetry's
SDK is never imported; this module costs one look at the environment. The other standard variables
apply as usual (``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_SCHEDULE_DELAY``, ``OTEL_TRACES_SAMPLER``,
``OTEL_RESOURCE_ATTRIBUTES`` …); ``OTEL_SDK_DISABLED=true`` turns tracing off again.

Spans are masked like log lines before they leave (``infra/privacy.py``): an ID or mobile number
in a URL's query, an error message or an exception event never reaches the trace backend.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

# structlog itself, not infra.logging: the logging chain uses add_trace_ids from here.
import structlog

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
    from temporalio.client import Interceptor

ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
GATEWAY_SERVICE = "ods-gateway"
WORKER_SERVICE = "ods-worker"
# Scrapes and probes every few seconds: traces of them would only bury the cases' traces.
GATEWAY_UNTRACED_PATHS = "/healthz$,/metrics$"

_provider: TracerProvider | None = None
_spans_in_logs = False


def tracing_enabled() -> bool:
    """Whether this process traces: ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (and the SDK not disabled)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(os.environ.get(ENDPOINT_VARIABLE, "").strip())


def start_tracing(default_service: str) -> TracerProvider | None:
    """The process's tracer provider, made and installed as the global one on the first call (later
    calls return it: one process, one service); None when tracing is off.

    A global provider someone else installed first (``opentelemetry-instrument``) is left in place
    and used; then this returns None too."""
    global _provider, _spans_in_logs
    if _provider is not None or not tracing_enabled():
        return _provider
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    log = structlog.stdlib.get_logger("tracing")
    _spans_in_logs = True
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        log.info("tracing through the tracer provider already installed")
        return None
    service = os.environ.get("OTEL_SERVICE_NAME", "").strip() or default_service
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(BatchSpanProcessor(masked_exporter(OTLPSpanExporter())))
    trace.set_tracer_provider(provider)
    _provider = provider
    log.info("tracing on", service=service, endpoint=os.environ[ENDPOINT_VARIABLE].strip())
    return provider


def flush_tracing(timeout_millis: int = 10_000) -> None:
    """Export the spans still buffered (a gateway stopping; a provider shared by many gateways)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis)


def stop_tracing() -> None:
    """Export the spans still buffered and stop the exporter: the last thing a process does (worker.py
    and the gateway end with ``os._exit``, which runs no atexit hook)."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


def temporal_interceptors() -> list[Interceptor]:
    """The client interceptors for ``infra.temporal.connect``: the tracing one, or none."""
    if not tracing_enabled():
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


def instrument_http_client(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """``client`` with a span per request (and ``traceparent`` sent), when tracing is on."""
    if tracing_enabled():
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor.instrument_client(client)
    return client


def instrument_gateway(app: FastAPI) -> None:
    """Start tracing as ``ods-gateway`` and trace every request of ``app`` but scrapes and probes."""
    if not tracing_enabled():
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    start_tracing(GATEWAY_SERVICE)
    # One span per request: not one more for each ASGI message it sends or receives.
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=GATEWAY_UNTRACED_PATHS, exclude_spans=["receive", "send"]
    )


def add_trace_ids(_logger: object, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: ``trace_id`` and ``span_id`` of the current span, when tracing is on, so
    that a log line leads to its trace. (After the masking: a hex id may hold 11 digits in a row.)"""
    if not _spans_in_logs:
        return event
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", trace.format_trace_id(context.trace_id))
        event.setdefault("span_id", trace.format_span_id(context.span_id))
    return event


def _masked_attributes(attributes: Any) -> dict[str, Any] | None:
    from infra.privacy import mask_value

    return None if attributes is None else {k: mask_value(v) for k, v in attributes.items()}


def masked_span(span: ReadableSpan) -> ReadableSpan:
    """``span`` with ID and mobile numbers masked in its name, attributes, events and status."""
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import Status

    from infra.privacy import mask_text

    status = span.status
    if status.description:
        status = Status(status.status_code, mask_text(status.description))
    return ReadableSpan(
        name=mask_text(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_masked_attributes(span.attributes),
        events=[Event(e.name, _masked_attributes(e.attributes), e.timestamp) for e in span.events],
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def masked_exporter(inner: SpanExporter) -> SpanExporter:
    """``inner`` behind a net that masks every span first (``masked_span``)."""
    from opentelemetry.sdk.trace.export import SpanExporter

    class MaskedSpanExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return inner.export([masked_span(s) for s in spans])

        def shutdown(self) -> None:
            inner.shutdown()

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return inner.force_flush(timeout_millis)

    return MaskedSpanExporter()
