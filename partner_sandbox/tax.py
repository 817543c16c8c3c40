"""The tax bureau (税务局): the first invoice allotment of a new enterprise (发票初次申领).

For an enterprise whose name contains ``税务异常`` the taxpayer record has not reached the tax
bureau yet when it first applies: its first allotment request (the first whose work starts,
i.e. the first with a new idempotency key for that USCC) is refused at once (422
``tax_record_not_ready``, nothing allotted); a later request with a new key is accepted.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from infra.logging import get_logger
from partner_sandbox.calls import Answer, PartnerError, Sandbox, effect_call, not_found, read_call
from partner_sandbox.localities import district_of_uscc, tax_authority
from partner_sandbox.state import SandboxState, iso, now
from partner_sandbox.validation import ApplicationId, Name, Uscc, invalid, parse, request_body

log = get_logger("partner_sandbox.tax")
router = APIRouter(prefix="/tax/v1", tags=["tax bureau"])

InvoiceKind = Literal["electronic_general", "electronic_special"]
# The sandbox's test name: the first allotment request of such an enterprise is refused.
RECORD_NOT_READY = "税务异常"


class AllotmentRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    application_id: ApplicationId
    uscc: Uscc
    enterprise_name: Name
    kind: InvoiceKind
    monthly_quota: int = Field(ge=1, le=1000, strict=True)


def allot_invoices(sandbox: SandboxState, body: Any) -> Answer:
    req = parse(AllotmentRequest, body)
    district = district_of_uscc(req.uscc)
    if district is None:
        raise invalid([("uscc", f"registered in division {req.uscc[2:8]}, outside Anyang's tax bureaus")])
    if RECORD_NOT_READY in req.enterprise_name and req.uscc not in sandbox.tax_refused_usccs:
        sandbox.tax_refused_usccs.add(req.uscc)
        log.info("invoice_allotment_refused", application_id=req.application_id, uscc=req.uscc)
        raise PartnerError(
            422,
            "tax_record_not_ready",
            f"纳税人（{req.uscc}）税务登记信息尚未同步至{tax_authority(district)}，暂不能办理发票初次申领，"
            "请稍后重新提交申请 / tax record not ready: the taxpayer's registration has not reached "
            "the tax bureau yet; apply again later (a new request)",
            ["uscc"],
        )
    allotment_id = sandbox.new_id("INV")
    answer = {
        "allotment_id": allotment_id,
        "application_id": req.application_id,
        "uscc": req.uscc,
        "enterprise_name": req.enterprise_name,
        "kind": req.kind,
        "monthly_quota": req.monthly_quota,
        "tax_authority": tax_authority(district),
        "issued_at": iso(now()),
    }
    sandbox.allotments[allotment_id] = answer
    sandbox.counters["tax"].effects += 1
    log.info(
        "invoices_allotted",
        application_id=req.application_id,
        allotment_id=allotment_id,
        kind=req.kind,
        monthly_quota=req.monthly_quota,
    )
    return Answer(201, answer)


@router.post(
    "/invoice-allotments",
    status_code=201,
    summary="Allot a new enterprise its first invoices",
    openapi_extra=request_body(AllotmentRequest),
)
async def post_allotment(request: Request, sandbox: Sandbox) -> Response:
    return await effect_call(request, sandbox, "tax", lambda body: allot_invoices(sandbox, body))


@router.get("/invoice-allotments/{allotment_id}", summary="An allotment as made")
async def get_allotment(allotment_id: str, sandbox: Sandbox) -> Response:
    def read() -> Answer:
        if allotment_id not in sandbox.allotments:
            raise not_found("invoice allotment", allotment_id)
        return Answer(200, sandbox.allotments[allotment_id])

    return await read_call(sandbox, "tax", read)
