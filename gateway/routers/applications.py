"""``/v1/applications…``: the portal's calls (and ops', who may do everything the portal may), and
the list of all cases, which is ops' only.

Each route checks what needs no Temporal first (token, path, body) and only then asks for the
client, so a refused request never reaches a case.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from documents.models import DOCUMENT_NAMES
from documents.storage import DocumentNotFound, InvalidDocumentRef, LegacyDocumentFolder
from domain.actions import ActionRequest, IdempotencyKey, OperatorAction
from domain.application import Application, Delivery, DistrictCode, Supplement
from domain.status import CaseStage, SlaState, StatusDocument
from gateway.access import access_of
from gateway.auth import Caller, OpsCallerDep, ops_access, portal_access
from gateway.bodies import BodyRoute, readable_body
from gateway.dependencies import CaseId, PoliciesDep, ServiceDatabaseDep, SettingsDep, TemporalDep
from gateway.models import (
    CaseList,
    Detail,
    ErasureAnswer,
    ErasureBody,
    FieldErrors,
    SubmitAnswer,
    WithdrawBody,
)
from gateway.parameters import CaseCursor, CasePageSize, open_cursor, seal_cursor
from service import audit, cases, erasure

PREFIX = "/v1/applications"

router = APIRouter(
    route_class=BodyRoute,
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


async def refuse_erased(application_id: CaseId, database: ServiceDatabaseDep) -> None:
    """An erased case takes nothing more (409): its payloads decode only to the erased marker."""
    if await erasure.is_erased(database, application_id):
        raise cases.CaseStateConflict(f"case {application_id} was erased")


# An action on a case: taken (202) once the case has it; 404 unknown, 409 when its state refuses
# (an erased case's too).
case_action = partial(
    router.post,
    status_code=202,
    responses={**_NOT_FOUND, **_CLOSED},
    dependencies=[Depends(refuse_erased)],
)


def status_url(application_id: str) -> str:
    return f"{PREFIX}/{application_id}"


@router.post(
    "",
    status_code=202,
    summary="Submit an application (start its case)",
    responses={
        200: {"model": SubmitAnswer, "description": "the same application again: nothing started"},
        409: {"model": Detail, "description": "the id is taken by a different application"},
    },
)
async def submit_application(
    application: Annotated[
        Application, Body(description="the application for setting up an enterprise (企业开办申请)")
    ],
    settings: SettingsDep,
    policies: PoliciesDep,
    temporal: TemporalDep,
    response: Response,
) -> SubmitAnswer:
    """202 when the case starts; 200 when this very application (equal after validation and
    normalisation) was submitted before; 409 when the id is taken by a different one."""
    client = await temporal.client()
    await temporal.new_case(application.application_id)
    outcome = await cases.submit_application(
        client,
        application,
        task_queue=settings.task_queue,
        sla_policy=policies.sla,
        subsidy_policy=policies.subsidy,
        portal_webhooks=settings.portal_webhook_urls,
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
    summary="List cases from Temporal visibility (ops only)",
    # Every case, each named: for ops, never the portal, which asks after one case at a time.
    dependencies=[Depends(ops_access)],
    responses={**_INVALID},
)
async def list_applications(
    temporal: TemporalDep,
    settings: SettingsDep,
    stage: Annotated[CaseStage | None, Query(description="only cases at this stage")] = None,
    sla_status: Annotated[
        SlaState | None, Query(description="only cases whose worst SLA state is this")
    ] = None,
    district: Annotated[DistrictCode | None, Query(description="only cases of this district")] = None,
    needs_attention: Annotated[
        bool | None, Query(description="true: only the cases waiting for an operator; false: the others")
    ] = None,
    limit: Annotated[CasePageSize | None, Query(description="page size, 1 to 1000 (default 50)")] = None,
    after: Annotated[CaseCursor | None, Query(description="the previous page's `next_cursor`")] = None,
) -> CaseList:
    """Newest first, one page at a time; ``next_cursor`` is null on the last page. Leave a filter
    out for all cases; an empty value is a 422 like any other that breaks its rule."""
    # Filters are checked before Temporal is asked (InvalidQuery: 422), and so is the cursor.
    cases.visibility_query(
        stage=stage, sla_status=sla_status, district=district, needs_attention=needs_attention
    )
    try:
        token = open_cursor(settings, after)
    except ValueError:
        return CaseList(applications=[], next_cursor=None)  # not a page of ours: nothing follows it
    client = await temporal.client()
    found, next_token = await cases.list_cases(
        client,
        stage=stage,
        sla_status=sla_status,
        district=district,
        needs_attention=needs_attention,
        limit=limit or 50,
        after=token,
    )
    return CaseList.of(found, next_cursor=seal_cursor(settings, next_token))


@router.get(
    "/{application_id}",
    summary="The case's status document",
    response_model=StatusDocument,
    responses={
        200: {
            "description": "the status document; of an erased case, only its stages and times "
            "(`application_id`, `workflow_id`, `stage`, `sla_status`, `accepted_at`, `completed_at`, "
            "`stages`) and `erased_at`"
        },
        **_NOT_FOUND,
    },
)
async def get_application(
    application_id: CaseId, temporal: TemporalDep, database: ServiceDatabaseDep
) -> StatusDocument | JSONResponse:
    erased = await erasure.status_of_erased(database, application_id)
    if erased is not None:
        return JSONResponse(erased)
    client = await temporal.client()
    return await cases.get_status(client, application_id)


@case_action(
    "/{application_id}/erasure",
    summary="Erase a closed case: its key, documents and free text (ops; docs/operations.md)",
    responses={
        403: {"model": Detail, "description": "a personal ops token with another operator's name"},
        409: {
            "model": Detail,
            "description": "the case is open, or its bad rating's follow-up is: only a closed case "
            "can be erased",
        },
        **_NOT_FOUND,
        **_INVALID,
    },
    dependencies=[],  # erasing an erased case again answers the first erasure
)
async def erase_application(
    application_id: CaseId,
    body: Annotated[ErasureBody, Body(description="why, and (with the shared ops token) who")],
    caller: OpsCallerDep,
    request: Request,
    temporal: TemporalDep,
    database: ServiceDatabaseDep,
) -> ErasureAnswer:
    """202 once the case's data key is destroyed (again 202, with the first erasure, for a case erased
    before); afterwards its payloads decode to `{"erased": true, …}`, its documents answer 410 and
    its status document keeps only stages and times."""
    operator = caller.operator(body.operator)
    client = await temporal.client()
    done = await erasure.erase(
        client, database, application_id, by=operator, reason=body.reason, keys=request.app.state.case_keys
    )
    earlier = f"erased before, at {done.erased_at.isoformat()} by {done.erased_by}"
    said = done.reason if done.first else earlier
    named = "" if caller.personal_name is not None else f"as {operator}: "
    await audit.record(database, access_of(caller), "erase", cases=[application_id], detail=f"{named}{said}")
    return ErasureAnswer(
        application_id=done.application_id,
        erased_at=done.erased_at,
        erased_by=done.erased_by,
        documents_deleted=done.documents_deleted,
        alerts_redacted=done.alerts_redacted,
    )


async def awaiting_supplement(
    application_id: CaseId, temporal: TemporalDep, _: Annotated[None, Depends(readable_body)]
) -> str:
    """The case's state, checked once the body is JSON and before the corrected parts are."""
    await cases.require_awaiting_supplement(await temporal.client(), application_id)
    return application_id


@case_action(
    "/{application_id}/supplement", summary="Corrected materials (补正) for a case awaiting a supplement"
)
async def supplement_application(
    application_id: Annotated[str, Depends(awaiting_supplement)],
    supplement: Annotated[
        Supplement, Body(description="the corrected parts; they replace those of the application")
    ],
    temporal: TemporalDep,
) -> StatusDocument:
    """A body that is not JSON, or not JSON any request may carry, is a 422 at once; then the case's
    state is checked (409), then the corrected parts and the corrected application (422)."""
    return await cases.correct(await temporal.client(), application_id, supplement)


@case_action("/{application_id}/withdraw", summary="Withdraw an open case")
async def withdraw_application(
    application_id: CaseId,
    temporal: TemporalDep,
    body: Annotated[WithdrawBody | None, Body(description="why (optional); an empty body is fine")] = None,
) -> StatusDocument:
    """202 while the case is open; 409 once it is completed, rejected or withdrawn."""
    client = await temporal.client()
    return await cases.withdraw(client, application_id, body.reason if body else None)


@case_action(
    "/{application_id}/actions",
    summary="An operator's action on a case (ops or personal ops token)",
    responses={
        403: {
            "model": Detail,
            "description": "a personal ops token with another operator's name; or, in production, the "
            "shared ops token (a person must act)",
        },
        422: {
            "model": FieldErrors,
            "description": "field errors, or an action the case does not offer now "
            "(field `action`; `offered` names those it does)",
        },
        **_NOT_FOUND,
        **_CLOSED,
    },
)
async def act_on_application(
    application_id: CaseId,
    request: Annotated[
        ActionRequest, Body(description="the action, who takes it and why (docs/operations.md)")
    ],
    caller: OpsCallerDep,
    temporal: TemporalDep,
    database: ServiceDatabaseDep,
    http: Request,
    idempotency_key: Annotated[
        IdempotencyKey | None,
        Header(
            alias="Idempotency-Key",
            description="makes a repeat (a double click, a retry) answer the first answer and do nothing",
        ),
    ] = None,
) -> StatusDocument:
    """202 with the status document once the case has recorded the action (its effect follows);
    409 for a closed case (checked first); 422 for an action the case does not offer now. The audit
    log has each action a case took (its note, free text, stays out of it)."""
    action = OperatorAction(
        action=request.root.action,
        operator=caller.operator(request.root.operator),
        note=request.root.note,
        idempotency_key=idempotency_key,
        **request.fields(),
    )
    client = await temporal.client()
    status = await cases.act(client, application_id, action)
    shared = "" if caller.personal_name else f" as {action.operator}"
    await audit.record(
        database, access_of(caller), "act", cases=[application_id], detail=f"{action.action}{shared}"
    )
    return status


@router.put(
    "/{application_id}/delivery",
    summary="Change the delivery (address or method) until EMS collects the parcel",
    responses={**_NOT_FOUND, **_CLOSED},
    dependencies=[Depends(refuse_erased)],
)
async def change_delivery(
    application_id: CaseId,
    delivery: Annotated[Delivery, Body(description="a delivery object as in the application")],
    temporal: TemporalDep,
) -> StatusDocument:
    """200; 422 invalid (before the case is asked); 409 once the parcel is collected or the case is
    closed."""
    client = await temporal.client()
    return await cases.change_delivery(client, application_id, delivery)


@router.get(
    "/{application_id}/documents/{name}",
    summary="One of the case's documents as PDF (names as in the status document's `documents`)",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}},
        410: {"model": Detail, "description": "the case was erased: its documents are gone"},
        **_NOT_FOUND,
    },
)
async def get_document(
    application_id: CaseId,
    name: Annotated[
        str,
        Path(
            description="the document's name; any other is a 404",
            json_schema_extra={"enum": list(DOCUMENT_NAMES)},
        ),
    ],
    settings: SettingsDep,
    database: ServiceDatabaseDep,
    caller: Annotated[Caller, Depends(portal_access)],
) -> Response:
    """From the service database, whichever worker made it; a case begun before documents were
    kept there is served from the ``$ODS_DATA_DIR/documents`` folder of the gateway that has it.
    Each document served is in the audit log first (503, and no document, when it cannot be)."""
    missing = JSONResponse({"detail": f"no document {name!r} for case {application_id}"}, status_code=404)
    if name not in DOCUMENT_NAMES:
        return missing  # no such document, of any case, erased or not
    if await erasure.is_erased(database, application_id):
        return JSONResponse(
            {"detail": f"case {application_id} was erased: its documents are gone"}, status_code=410
        )
    try:
        pdf = await (await database.documents()).read(application_id, name)
    except InvalidDocumentRef:
        return missing
    except DocumentNotFound:
        try:
            pdf = await asyncio.to_thread(LegacyDocumentFolder(settings.data_dir).read, application_id, name)
        except DocumentNotFound:
            return missing
    await audit.record(database, access_of(caller), "document", cases=[application_id], detail=name)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{application_id}-{name}.pdf"'},
    )
