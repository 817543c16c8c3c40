"""The kinds of route the partners have, made from what a partner declares: the call that creates
something under a fresh number (201, ``Idempotency-Key`` required), the read of one by its number,
the list of a case's, a follow-up call on one (no key needed: it is idempotent by nature) and a
sandbox control that moves a held one along.

This module does without ``from __future__ import annotations`` on purpose: the path parameter of
an endpoint made here is named by the partner (``account_no``, ``order_id``), so its annotation is
built at run time, and FastAPI reads annotations as objects.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel

from partner_sandbox.behaviour import Partner
from partner_sandbox.calls import Answer, PartnerError, Sandbox, effect_call, json_response, read_call
from partner_sandbox.state import SandboxState
from partner_sandbox.validation import request_body

Work = Callable[[SandboxState, Any], Answer]
"""The work of a call that changes something: the sandbox and the parsed JSON body (None if empty)."""
Act = Callable[[SandboxState, str, Any], Answer]
"""The work of a call on one thing: the sandbox, its number and the parsed JSON body."""


def create(
    router: APIRouter,
    partner: Partner,
    path: str,
    *,
    noun: str,
    summary: str,
    model: type[BaseModel],
    work: Work,
) -> None:
    """``POST {path}``: 201 with what ``work`` made; the route is named ``post_{noun}``."""

    async def endpoint(request: Request, sandbox: Sandbox) -> Response:
        return await effect_call(request, sandbox, partner, lambda body: work(sandbox, body))

    router.add_api_route(
        path,
        endpoint,
        methods=["POST"],
        status_code=201,
        summary=summary,
        openapi_extra=request_body(model),
        name=f"post_{noun}",
    )


def show(
    router: APIRouter,
    partner: Partner,
    path: str,
    *,
    key: str,
    noun: str,
    summary: str,
    read: Callable[[SandboxState, str], dict[str, Any]],
) -> None:
    """``GET {path}/{key}``: 200 with what ``read`` finds (it raises ``not_found`` otherwise)."""

    async def endpoint(number: Annotated[str, Path(alias=key)], sandbox: Sandbox) -> Response:
        return await read_call(sandbox, partner, lambda: Answer(200, read(sandbox, number)))

    router.add_api_route(f"{path}/{{{key}}}", endpoint, methods=["GET"], summary=summary, name=f"get_{noun}")


def list_per_case(
    router: APIRouter,
    partner: Partner,
    path: str,
    *,
    plural: str,
    summary: str,
    documents: Callable[[SandboxState], list[dict[str, Any]]],
) -> None:
    """``GET {path}?application_id=``: ``{plural: [...]}``, the documents of a case, or all."""

    async def endpoint(sandbox: Sandbox, application_id: str | None = None) -> Response:
        def read() -> Answer:
            listed = [d for d in documents(sandbox) if application_id in (None, d["application_id"])]
            return Answer(200, {plural: listed})

        return await read_call(sandbox, partner, read)

    router.add_api_route(path, endpoint, methods=["GET"], summary=summary, name=f"list_{plural}")


def follow_up(
    router: APIRouter,
    partner: Partner,
    path: str,
    *,
    key: str,
    name: str,
    summary: str,
    act: Act,
    method: str = "POST",
    status_code: int | None = None,
    model: type[BaseModel] | None = None,
) -> None:
    """A call on one thing, ``{method} {path}`` (``path`` names it as ``{key}``), that needs no
    idempotency key: doing it twice is doing it once."""

    async def endpoint(
        number: Annotated[str, Path(alias=key)], request: Request, sandbox: Sandbox
    ) -> Response:
        return await effect_call(
            request, sandbox, partner, lambda body: act(sandbox, number, body), key_required=False
        )

    router.add_api_route(
        path,
        endpoint,
        methods=[method],
        status_code=status_code,
        summary=summary,
        openapi_extra=request_body(model) if model is not None else None,
        name=name,
    )


def control(
    router: APIRouter,
    path: str,
    *,
    key: str,
    name: str,
    summary: str,
    act: Callable[[SandboxState, str], Awaitable[Answer]],
    status_code: int | None = None,
    responses: dict[int | str, dict[str, Any]] | None = None,
    done: Callable[[str, Answer], None] | None = None,
) -> None:
    """A sandbox control on one thing (``path`` names it as ``{key}``): not a partner's call, so
    neither counted nor slowed nor failed. ``done`` hears of each success."""

    async def endpoint(number: Annotated[str, Path(alias=key)], sandbox: Sandbox) -> Response:
        try:
            answer = await act(sandbox, number)
        except PartnerError as exc:
            answer = exc.answer()
        if done is not None and answer.status < 300:
            done(number, answer)
        return json_response(answer.status, answer.encoded())

    router.add_api_route(
        path,
        endpoint,
        methods=["POST"],
        status_code=status_code,
        summary=summary,
        responses=responses,
        name=name,
    )
