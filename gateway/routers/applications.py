"""``/v1/applications…``: the portal's calls (and ops', who may do everything the portal may).

Each route checks what needs no Temporal first (token, path, body) and only then asks for the
client, so a refused request never reaches a case.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator, Field

from documents.storage import DocumentNotFound, DocumentStore, InvalidDocumentRef
from domain.application import Application, Delivery, Supplement, parse_application
from domain.districts import ANYANG_DISTRICTS
from domain.partners import WithdrawRequest
from domain.status import CaseStage, SlaState, StatusDocument
from domain.validation import decode_json_body, json_object, validated
from gateway.auth import portal_access
from gateway.dependencies import CaseId, PoliciesDep, RawBody, SettingsDep, TemporalDep, blank_is_absent
from gateway.models import CaseList, CaseListItem, Detail, FieldErrors, SubmitAnswer
from gateway.openapi import json_body
from intake import cases

PREFIX = "/v1/applications"

router = APIRouter(
    prefix=PREFIX,
    tags=["applications"],
    dependencies=[Depends(portal_access)],
    responses={
        401: {"model": Detail, "description": "missing or wrong bearer token; nothing changed"},
        503: {"model": Detail, "description": "Temporal is unreachable; try again"},
    },
)

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Detail, "description": "no case with that application id"}
}
_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": FieldErrors, "description": "field errors, each at its dotted path"}
}
_CLOSED: dict[int | str, dict[str, Any]] = {
    409: {"model": Detail, "description": "the case's state does not allow this"}
}


def status_url(application_id: str) -> str:
    return f"{PREFIX}/{application_id}"


@router.post(
    "",
    status_code=202,
    summary="Submit an application (start its case)",
    openapi_extra=json_body(Application, "the application for setting up an enterprise (企业开办申请)"),
    responses={
        200: {"model": SubmitAnswer, "description": "the same application again: nothing started"},
        409: {"model": Detail, "description": "the id is taken by a different application"},
        **_INVALID,
    },
)
async def submit_application(
    body: RawBody, settings: SettingsDep, policies: PoliciesDep, temporal: TemporalDep, response: Response
) -> SubmitAnswer:
    """202 when the case starts; 200 when this very application (equal after validation and
    normalisation) was submitted before; 409 when the id is taken by a different one."""
    application = parse_application(body)  # ApplicationInvalid: 422, nothing started
    client = await temporal.client()
    outcome = await cases.submit_application(
        client,
        application,
        task_queue=settings.task_queue,
        sla_policy=policies.sla,
        subsidy_policy=policies.subsidy,
    )
    if not outcome.created:
        response.status_code = 200
    return SubmitAnswer(
        application_id=outcome.application_id,
        workflow_id=outcome.workflow_id,
        status_url=status_url(outcome.application_id),
    )


@router.get(
    "",
    summary="List cases from Temporal visibility",
    responses={**_INVALID},
)
async def list_applications(
    temporal: TemporalDep,
    stage: Annotated[
        CaseStage | None, BeforeValidator(blank_is_absent), Query(description="the case's stage")
    ] = None,
    sla_status: Annotated[
        SlaState | None,
        BeforeValidator(blank_is_absent),
        Query(description="the worst SLA state the case reached"),
    ] = None,
    district: Annotated[
        str | None,
        BeforeValidator(blank_is_absent),
        Query(description=f"district code, one of {', '.join(ANYANG_DISTRICTS)}"),
    ] = None,
    limit: Annotated[
        Annotated[int, Field(ge=1, le=1000)] | None,
        BeforeValidator(blank_is_absent),
        Query(description="page size (default 50)"),
    ] = None,
    after: Annotated[
        str | None,
        BeforeValidator(blank_is_absent),
        Query(description="next_cursor of the previous page"),
    ] = None,
) -> CaseList:
    """Newest first, one page at a time; ``next_cursor`` is null on the last page."""
    # Filters are checked before Temporal is asked (InvalidQuery: 422).
    cases.visibility_query(stage=stage, sla_status=sla_status, district=district)
    client = await temporal.client()
    found, next_cursor = await cases.list_cases(
        client,
        stage=stage,
        sla_status=sla_status,
        district=district,
        limit=limit or 50,
        after=after,
    )
    return CaseList(
        applications=[
            CaseListItem(
                application_id=c.application_id,
                workflow_id=c.workflow_id,
                enterprise_name=c.enterprise_name,
                district_code=c.district_code,
                stage=c.stage,
                sla_status=c.sla_status,
                accepted_at=c.accepted_at,
            )
            for c in found
        ],
        next_cursor=next_cursor,
    )


@router.get("/{application_id}", summary="The case's status document", responses={**_NOT_FOUND})
async def get_application(application_id: CaseId, temporal: TemporalDep) -> StatusDocument:
    client = await temporal.client()
    return await cases.get_status(client, application_id)


@router.post(
    "/{application_id}/supplement",
    status_code=202,
    summary="Corrected materials (补正) for a case awaiting a supplement",
    openapi_extra=json_body(Supplement, "the corrected parts; they replace those of the application"),
    responses={**_NOT_FOUND, **_CLOSED, **_INVALID},
)
async def supplement_application(
    application_id: CaseId, body: RawBody, temporal: TemporalDep
) -> StatusDocument:
    """The case's state is checked first (409), then the corrected application (422)."""
    client = await temporal.client()
    return await cases.supplement(client, application_id, body)


def parse_withdraw_request(body: bytes) -> WithdrawRequest:
    """``{"reason": "…"}``, or nothing at all."""
    if not body.strip():
        return WithdrawRequest()
    data = decode_json_body(body)
    if data is None:
        return WithdrawRequest()
    return validated(WithdrawRequest, json_object(data))


@router.post(
    "/{application_id}/withdraw",
    status_code=202,
    summary="Withdraw an open case",
    openapi_extra=json_body(WithdrawRequest, "why (optional); an empty body is fine", required=False),
    responses={**_NOT_FOUND, **_CLOSED, **_INVALID},
)
async def withdraw_application(
    application_id: CaseId, body: RawBody, temporal: TemporalDep
) -> StatusDocument:
    """202 while the case is open; 409 once it is completed, rejected or withdrawn."""
    request = parse_withdraw_request(body)
    client = await temporal.client()
    return await cases.withdraw(client, application_id, request.reason)


@router.put(
    "/{application_id}/delivery",
    summary="Change the delivery (address or method) until EMS collects the parcel",
    openapi_extra=json_body(Delivery, "a delivery object as in the application"),
    responses={**_NOT_FOUND, **_CLOSED, **_INVALID},
)
async def change_delivery(application_id: CaseId, body: RawBody, temporal: TemporalDep) -> StatusDocument:
    """200; 422 invalid; 409 once the parcel is collected or the case is closed."""
    client = await temporal.client()
    return await cases.change_delivery(client, application_id, body)


@router.get(
    "/{application_id}/documents/{name}",
    summary="One of the case's documents as PDF (names as in the status document's `documents`)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **_NOT_FOUND},
)
async def get_document(application_id: CaseId, name: str, settings: SettingsDep) -> Response:
    store = DocumentStore(settings.data_dir)
    try:
        pdf = await asyncio.to_thread(store.read, application_id, name)
    except (InvalidDocumentRef, DocumentNotFound):
        return JSONResponse({"detail": f"no document {name!r} for case {application_id}"}, status_code=404)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{application_id}-{name}.pdf"'},
    )
