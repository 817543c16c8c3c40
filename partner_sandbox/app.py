"""The sandbox as one FastAPI app: the partners' APIs and the sandbox controls.

Each app has its own in-memory state, so a test can run as many independent sandboxes as it
likes (``infra.serving.serve_in_background(create_app(...))``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from infra.logging import get_logger
from infra.settings import Settings, get_settings
from partner_sandbox import bank, housing_fund, postal, registration, seal_shop, social_insurance, tax
from partner_sandbox.behaviour import PARTNERS, Behaviour, BehaviourProblem, merge_behaviour
from partner_sandbox.calls import Sandbox, error_body
from partner_sandbox.state import SandboxState

log = get_logger("partner_sandbox")
controls = APIRouter(prefix="/_sandbox", tags=["sandbox controls"])

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int | None = Field(default=None, description="seed the sandbox's randomness afresh")


async def _json_or_none(request: Request) -> Any:
    raw = await request.body()
    return json.loads(raw) if raw.strip() else None


@controls.get("/behaviour", summary="The behaviour of every partner")
async def get_behaviour(sandbox: Sandbox) -> Behaviour:
    sandbox.expire_faults()
    return sandbox.behaviour


@controls.put(
    "/behaviour",
    summary="Change any part of the behaviour; answers the whole",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
    responses={422: {"description": "a value out of range or an unknown key; nothing changes"}},
)
async def put_behaviour(request: Request, sandbox: Sandbox) -> JSONResponse:
    try:
        change = await _json_or_none(request)
        behaviour = merge_behaviour(sandbox.behaviour, change)
    except json.JSONDecodeError as exc:
        return JSONResponse(error_body("invalid_behaviour", f"the body is not JSON: {exc}"), 422)
    except BehaviourProblem as exc:
        fields = [f for f, _ in exc.problems if f]
        return JSONResponse(error_body("invalid_behaviour", str(exc), fields), 422)
    # A fault named in this change starts now (or ends, when null); the others run on.
    sandbox.set_behaviour(behaviour, {p for p in PARTNERS if "faults" in change.get(p, {})})
    sandbox.expire_faults()
    log.info("behaviour_changed", behaviour=sandbox.behaviour.model_dump())
    return JSONResponse(sandbox.behaviour.model_dump())


@controls.get("/effects", summary="Requests received and side effects performed, per partner")
async def get_effects(sandbox: Sandbox) -> dict[str, dict[str, int]]:
    return {
        p: {"requests": sandbox.counters[p].requests, "effects": sandbox.counters[p].effects}
        for p in PARTNERS
    }


@controls.post("/reset", summary="Forget all state, counters and behaviour; stop pending work")
async def reset(request: Request, sandbox: Sandbox) -> JSONResponse:
    try:
        req = ResetRequest.model_validate(await _json_or_none(request) or {})
    except (json.JSONDecodeError, ValidationError) as exc:
        return JSONResponse(error_body("invalid_request", str(exc)), 422)
    sandbox.reset(seed=req.seed)
    log.info("sandbox_reset", seed=req.seed)
    return JSONResponse({"status": "reset"})


def create_app(settings: Settings | None = None, *, seed: int | None = None) -> FastAPI:
    """A sandbox of the partner systems with its own state; ``seed`` makes it deterministic."""
    settings = settings or get_settings()
    sandbox = SandboxState(settings.callback_secret_of, seed=seed)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await sandbox.aclose()

    app = FastAPI(
        title="One-Day Setup partner sandbox",
        description=(
            "Stands in for the registration system, the seal shops, the tax bureau, EMS, the human "
            "resources and social security bureau, the housing provident fund centre and the banks "
            "(docs/partner-api.md), with the controls under /_sandbox that docs/partner-api.md describes."
        ),
        version="1",
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [".".join(str(p) for p in e["loc"][1:]) for e in exc.errors()]
        return JSONResponse(error_body("invalid_request", str(exc), fields), 400)

    @app.get("/healthz", tags=["sandbox controls"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for router in (
        registration.router,
        seal_shop.router,
        seal_shop.control_router,
        tax.router,
        postal.router,
        postal.control_router,
        social_insurance.router,
        housing_fund.router,
        bank.router,
        controls,
    ):
        app.include_router(router)
    return app


def sandbox_of(app: FastAPI) -> SandboxState:
    """The state of a sandbox app, for tests that look inside."""
    state: SandboxState = app.state.sandbox
    return state
