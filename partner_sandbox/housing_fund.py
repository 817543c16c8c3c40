"""The housing provident fund centre (住房公积金管理中心): opens a new employer's unit account for its
employees' housing fund (住房公积金缴存登记).

Anyang has one centre, 安阳市住房公积金管理中心; the managing department (管理部) of the district where
the enterprise is registered (characters 3–8 of the USCC) opens the account. An account number is
the unit's 12-digit account: the district code and a 6-digit serial (``410502012345``).

For an enterprise whose name contains ``公积金异常`` the licence has not reached the centre yet when it
first applies: its first account request (the first whose work starts, i.e. the first with a new
idempotency key for that USCC) is refused at once (422 ``housing_fund_record_not_ready``, no account
opened); a later request with a new key opens the account.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from infra.logging import get_logger
from partner_sandbox.calls import Answer, PartnerError, Sandbox, effect_call, not_found, read_call
from partner_sandbox.localities import HOUSING_FUND_CENTRE, district_of_uscc, housing_fund_office
from partner_sandbox.state import SandboxState, iso, now
from partner_sandbox.validation import ApplicationId, Name, Uscc, invalid, parse, request_body

log = get_logger("partner_sandbox.housing_fund")
router = APIRouter(prefix="/housing-fund/v1", tags=["housing provident fund centre"])

# The sandbox's test name: the first account request of such an enterprise is refused.
RECORD_NOT_READY = "公积金异常"
MAX_EMPLOYEES = 10_000


class AccountRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    application_id: ApplicationId
    uscc: Uscc
    enterprise_name: Name
    employees: int = Field(ge=1, le=MAX_EMPLOYEES, strict=True, description="employees who will deposit")


def account_number(sandbox: SandboxState, district: str) -> str:
    """A unit housing fund account number never issued before: the district and a 6-digit serial."""
    return sandbox.unique(lambda rng: f"{district}{rng.randrange(10**6):06d}")


def open_account(sandbox: SandboxState, body: Any) -> Answer:
    req = parse(AccountRequest, body)
    district = district_of_uscc(req.uscc)
    if district is None:
        raise invalid(
            [("uscc", f"registered in division {req.uscc[2:8]}, outside {HOUSING_FUND_CENTRE}'s area")]
        )
    office = housing_fund_office(district)
    if RECORD_NOT_READY in req.enterprise_name and req.uscc not in sandbox.hf_refused_usccs:
        sandbox.hf_refused_usccs.add(req.uscc)
        log.info("housing_fund_refused", application_id=req.application_id, uscc=req.uscc)
        raise PartnerError(
            422,
            "housing_fund_record_not_ready",
            f"单位（{req.uscc}）的营业执照信息尚未共享至{office}，暂不能办理住房公积金缴存登记，"
            "请稍后重新提交 / housing fund record not ready: the employer's licence has not reached "
            "the housing provident fund centre yet; apply again later (a new request)",
            ["uscc"],
        )
    account_no = account_number(sandbox, district)
    answer = {
        "account_no": account_no,
        "application_id": req.application_id,
        "uscc": req.uscc,
        "enterprise_name": req.enterprise_name,
        "employees": req.employees,
        "district_code": district,
        "centre": HOUSING_FUND_CENTRE,
        "office": office,
        "opened_at": iso(now()),
    }
    sandbox.hf_accounts[account_no] = answer
    sandbox.counters["housing_fund"].effects += 1
    log.info(
        "housing_fund_account_opened",
        application_id=req.application_id,
        account_no=account_no,
        employees=req.employees,
    )
    return Answer(201, answer)


@router.post(
    "/accounts",
    status_code=201,
    summary="Open a new employer's housing provident fund unit account",
    openapi_extra=request_body(AccountRequest),
)
async def post_account(request: Request, sandbox: Sandbox) -> Response:
    return await effect_call(request, sandbox, "housing_fund", lambda body: open_account(sandbox, body))


@router.get("/accounts/{account_no}", summary="A unit account as opened")
async def get_account(account_no: str, sandbox: Sandbox) -> Response:
    def read() -> Answer:
        if account_no not in sandbox.hf_accounts:
            raise not_found("housing fund account", account_no)
        return Answer(200, sandbox.hf_accounts[account_no])

    return await read_call(sandbox, "housing_fund", read)
