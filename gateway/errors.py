"""How refusals and failures become answers: JSON everywhere, never a stack trace.

``{"detail": "…"}`` for 401, 404, 409, 413, 503; ``{"errors": [{"field", "message"}]}`` for
every 422, whether the application, a query parameter, a header or a callback envelope is at fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from temporalio.client import (
    RPCTimeoutOrCancelledError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.service import RPCError

from domain.validation import ApplicationInvalid, FieldError, field_errors
from gateway.bodies import TOO_LARGE, BodyTooLarge
from gateway.dependencies import TemporalUnavailable
from infra.logging import get_logger
from service.cases import ActionNotOffered, ApplicationConflict, CaseNotFound, CaseStateConflict, InvalidQuery
from service.ratings import AppealByItsAuthor, FollowUpErased, RatingNotFound
from store.alerts import UnknownAlertId
from store.service import ServiceDatabaseUnavailable

log = get_logger("gateway")

# Where FastAPI says a request value came from; the portal only needs the field's own name.
_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})
_RETRY_AFTER = {"Retry-After": "5"}


class ParameterInvalid(Exception):
    """A query parameter or header that passed its type but not the route's own check: a 422 that
    names it (``after``, ``Last-Event-ID``, …)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def detail(status: int, text: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": text}, status_code=status, headers=headers)


def field_error_response(errors: Sequence[FieldError]) -> JSONResponse:
    return JSONResponse({"errors": [e.model_dump() for e in errors]}, status_code=422)


def _without_source(error: Any) -> Any:
    loc = tuple(error.get("loc", ()))
    return {**error, "loc": loc[1:] if loc and loc[0] in _SOURCES else loc}


def request_field_errors(errors: Sequence[Any]) -> list[FieldError]:
    """FastAPI's errors in our shape: ``limit``, not ``["query", "limit"]``; a body's fields at their
    dotted paths (``shareholders.0.id_number``), in the same words as any refused application."""
    return field_errors(map(_without_source, errors))


def invalid_query_error(err: InvalidQuery) -> FieldError:
    """``InvalidQuery("stage: must be one of …")`` names the parameter before the colon."""
    field, sep, message = str(err).partition(": ")
    if not sep or not field.isidentifier():
        return FieldError(field="query", message=str(err))
    return FieldError(field=field, message=message)


async def _application_invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApplicationInvalid)
    return field_error_response(exc.errors)


async def _request_invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return field_error_response(request_field_errors(exc.errors()))


async def _invalid_query(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidQuery)
    return field_error_response([invalid_query_error(exc)])


async def _parameter_invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ParameterInvalid)
    return field_error_response([FieldError(field=exc.field, message=exc.message)])


async def _unknown_alert_id(_: Request, exc: Exception) -> JSONResponse:
    # Routes name the parameter themselves (ParameterInvalid); a cursor is ``after`` otherwise.
    return field_error_response([FieldError(field="after", message=str(exc))])


async def _case_not_found(_: Request, exc: Exception) -> JSONResponse:
    return detail(404, f"no case with application id {str(exc)[:64]!r}")


async def _case_state_conflict(_: Request, exc: Exception) -> JSONResponse:
    return detail(409, str(exc) or "the case's state does not allow this")


async def _action_not_offered(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ActionNotOffered)
    return JSONResponse(
        {"errors": [{"field": "action", "message": str(exc)}], "offered": exc.offered}, status_code=422
    )


async def _rating_not_found(_: Request, exc: Exception) -> JSONResponse:
    return detail(404, f"no follow-up of rating {str(exc)[:40]!r} (unknown, or not a bad rating)")


async def _follow_up_erased(_: Request, exc: Exception) -> JSONResponse:
    return detail(410, str(exc))


async def _appeal_by_its_author(_: Request, exc: Exception) -> JSONResponse:
    return detail(403, str(exc))


async def _application_conflict(_: Request, exc: Exception) -> JSONResponse:
    return detail(409, str(exc))


async def _body_too_large(_: Request, exc: Exception) -> JSONResponse:
    return detail(413, TOO_LARGE)


async def _temporal_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("temporal_unavailable", path=request.url.path, error=str(exc))
    return detail(503, "Temporal is unreachable; try again shortly", _RETRY_AFTER)


async def _temporal_rpc_failed(request: Request, exc: Exception) -> JSONResponse:
    status = exc.status.name if isinstance(exc, RPCError) else type(exc).__name__
    log.warning("temporal_call_failed", path=request.url.path, status=status, error=str(exc))
    return detail(503, f"Temporal did not answer ({status}); try again shortly", _RETRY_AFTER)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database_unavailable", path=request.url.path, error_type=type(exc).__name__)
    return detail(503, "the service database is unreachable; try again shortly", _RETRY_AFTER)


async def _connection_failed(request: Request, exc: Exception) -> JSONResponse:
    # asyncpg's failures to connect reach us as bare OSErrors (a refused connection, a missing
    # unix socket), which SQLAlchemy does not wrap: the database is down, not the gateway broken.
    log.warning("backing_service_unreachable", path=request.url.path, error_type=type(exc).__name__)
    return detail(503, "the service database is unreachable; try again shortly", _RETRY_AFTER)


async def _case_did_not_answer(request: Request, exc: Exception) -> JSONResponse:
    # A query needs a worker; none polling (or the case's code failing) is not the caller's fault.
    log.warning("case_query_failed", path=request.url.path, error=str(exc))
    return detail(503, "the case did not answer (no worker running?); try again shortly", _RETRY_AFTER)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to the log (uvicorn), never to the caller.
    log.error("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
    return detail(500, "internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApplicationInvalid, _application_invalid)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(InvalidQuery, _invalid_query)
    app.add_exception_handler(ParameterInvalid, _parameter_invalid)
    app.add_exception_handler(UnknownAlertId, _unknown_alert_id)
    app.add_exception_handler(CaseNotFound, _case_not_found)
    app.add_exception_handler(CaseStateConflict, _case_state_conflict)
    app.add_exception_handler(ActionNotOffered, _action_not_offered)
    app.add_exception_handler(ApplicationConflict, _application_conflict)
    app.add_exception_handler(RatingNotFound, _rating_not_found)
    app.add_exception_handler(AppealByItsAuthor, _appeal_by_its_author)
    app.add_exception_handler(FollowUpErased, _follow_up_erased)
    app.add_exception_handler(BodyTooLarge, _body_too_large)
    app.add_exception_handler(TemporalUnavailable, _temporal_unavailable)
    app.add_exception_handler(RPCError, _temporal_rpc_failed)
    app.add_exception_handler(RPCTimeoutOrCancelledError, _temporal_rpc_failed)
    app.add_exception_handler(ServiceDatabaseUnavailable, _database_unavailable)
    app.add_exception_handler(DBAPIError, _database_unavailable)
    app.add_exception_handler(OSError, _connection_failed)
    app.add_exception_handler(WorkflowQueryFailedError, _case_did_not_answer)
    app.add_exception_handler(WorkflowQueryRejectedError, _case_did_not_answer)
    app.add_exception_handler(Exception, _internal_error)
