"""The one logging setup: structlog, JSON in production or when not on a terminal, pretty otherwise.

``ODS_LOG_FORMAT`` picks: ``json`` (one JSON object a line), ``console`` (readable, for a person at a
terminal), or ``auto``, the default: JSON with ``ODS_ENV=production`` and wherever stderr is not a
terminal (a file, a pipe, a container's log), console otherwise (``log_format_for``).

Our lines and every library's (the stdlib ``logging`` records of uvicorn, httpx, the Temporal SDK)
go through one chain: the context variables (a case's ``workflow_id``, ``application_id`` and
``stage``, ``infra/log_context.py``), the level and time, the masking of personal data
(``infra/privacy.py``), the trace ids when tracing is on (``infra/tracing.py``), then the renderer.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

from infra.log_context import temporal_record_fields
from infra.privacy import mask_personal_data, mask_rendered
from infra.tracing import add_trace_ids

LogFormat = Literal["json", "console"]

_configured = False


def log_format_for(fmt: str, env: str, on_terminal: bool) -> LogFormat:
    """The format of ``ODS_LOG_FORMAT=fmt``: ``json`` and ``console`` as given; ``auto`` is JSON in
    production (``ODS_ENV=production``, wherever it runs) and off a terminal, console at one."""
    if fmt in ("json", "console"):
        return fmt  # type: ignore[return-value]
    if fmt != "auto":
        raise ValueError(f"ODS_LOG_FORMAT must be auto, json or console, not {fmt!r}")
    return "json" if env == "production" or not on_terminal else "console"


def configure_logging(fmt: str = "auto", level: int = logging.INFO, *, env: str | None = None) -> None:
    """Set up logging for the process, once (later calls change nothing). ``env`` is ``ODS_ENV``
    (``Settings.env``; read from the settings when not given)."""
    global _configured
    if _configured:
        return
    _configured = True
    if env is None and fmt == "auto":
        from infra.settings import get_settings

        env = get_settings().env
    as_json = log_format_for(fmt, env or "dev", sys.stderr.isatty()) == "json"
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if as_json
        else structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    )
    shared: list[structlog.typing.Processor] = [
        # The case a line belongs to: bound by the activity interceptor and the gateway's
        # CaseLogContext, or noted on the record by the Temporal SDK (infra/log_context.py).
        structlog.contextvars.merge_contextvars,
        temporal_record_fields,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=False),
        # No ID number or phone reaches a log line, ours or a library's (infra/privacy.py).
        mask_personal_data,
        add_trace_ids,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                mask_rendered,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)  # type: ignore[no-any-return]
