"""The human resources and social security bureau (人力资源和社会保障局): registers a new employer and
its employees for social insurance (员工参保登记, the unit's 社会保险登记).

The bureau of the district where the enterprise is registered (characters 3–8 of the USCC) does it.
A registration number is the unit's 14-digit social insurance number: the district code, the
two-digit year and a 6-digit serial (``41050226012345``).

For an enterprise whose name contains ``参保异常`` the registration has not reached the bureau from
market regulation yet when it first applies: its first registration request (the first whose work
starts, i.e. the first with a new idempotency key for that USCC) is refused at once (422
``social_insurance_record_not_ready``, nothing registered); a later request with a new key is
registered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from infra.logging import get_logger
from partner_sandbox.calls import Answer, PartnerError, Sandbox, effect_call, not_found, read_call
from partner_sandbox.localities import district_of_uscc, social_insurance_bureau
from partner_sandbox.state import SandboxState, iso, now
from partner_sandbox.validation import ApplicationId, Name, Uscc, invalid, parse, request_body

log = get_logger("partner_sandbox.social_insurance")
router = APIRouter(prefix="/social-insurance/v1", tags=["human resources and social security bureau"])

# The sandbox's test name: the first registration request of such an enterprise is refused.
RECORD_NOT_READY = "参保异常"
MAX_EMPLOYEES = 10_000


class RegistrationRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    application_id: ApplicationId
    uscc: Uscc
    enterprise_name: Name
    employees: int = Field(ge=1, le=MAX_EMPLOYEES, strict=True, description="employees to insure")


def registration_number(sandbox: SandboxState, district: str, at: datetime) -> str:
    """A unit social insurance number never issued before: district, year (2 digits), serial (6)."""
    return sandbox.unique(lambda rng: f"{district}{at.year % 100:02d}{rng.randrange(10**6):06d}")


def register(sandbox: SandboxState, body: Any) -> Answer:
    req = parse(RegistrationRequest, body)
    district = district_of_uscc(req.uscc)
    if district is None:
        raise invalid(
            [("uscc", f"registered in division {req.uscc[2:8]}, outside Anyang's social insurance bureaus")]
        )
    bureau = social_insurance_bureau(district)
    if RECORD_NOT_READY in req.enterprise_name and req.uscc not in sandbox.si_refused_usccs:
        sandbox.si_refused_usccs.add(req.uscc)
        log.info("social_insurance_refused", application_id=req.application_id, uscc=req.uscc)
        raise PartnerError(
            422,
            "social_insurance_record_not_ready",
            f"用人单位（{req.uscc}）的登记信息尚未由市场监管部门共享至{bureau}，暂不能办理社会保险登记，"
            "请稍后重新提交 / social insurance record not ready: the employer's registration has not "
            "reached the bureau from market regulation yet; apply again later (a new request)",
            ["uscc"],
        )
    registered = now()
    registration_no = registration_number(sandbox, district, registered)
    answer = {
        "registration_no": registration_no,
        "application_id": req.application_id,
        "uscc": req.uscc,
        "enterprise_name": req.enterprise_name,
        "employees": req.employees,
        "district_code": district,
        "bureau": bureau,
        "registered_at": iso(registered),
    }
    sandbox.si_registrations[registration_no] = answer
    sandbox.counters["social_insurance"].effects += 1
    log.info(
        "social_insurance_registered",
        application_id=req.application_id,
        registration_no=registration_no,
        employees=req.employees,
    )
    return Answer(201, answer)


@router.post(
    "/registrations",
    status_code=201,
    summary="Register a new employer and its employees for social insurance",
    openapi_extra=request_body(RegistrationRequest),
)
async def post_registration(request: Request, sandbox: Sandbox) -> Response:
    return await effect_call(request, sandbox, "social_insurance", lambda body: register(sandbox, body))


@router.get("/registrations/{registration_no}", summary="A registration as made")
async def get_registration(registration_no: str, sandbox: Sandbox) -> Response:
    def read() -> Answer:
        if registration_no not in sandbox.si_registrations:
            raise not_found("social insurance registration", registration_no)
        return Answer(200, sandbox.si_registrations[registration_no])

    return await read_call(sandbox, "social_insurance", read)
