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

from datetime import datetime
from typing import Any

from partner_sandbox.filing import DistrictOffice, serve_filings
from partner_sandbox.localities import HOUSING_FUND_CENTRE, housing_fund_office
from partner_sandbox.state import SandboxState, iso
from partner_sandbox.validation import EmployerRequest


def account_number(sandbox: SandboxState, district: str, _: datetime) -> str:
    """A unit housing fund account number never issued before: the district and a 6-digit serial."""
    return sandbox.unique(lambda rng: f"{district}{rng.randrange(10**6):06d}")


def account(req: EmployerRequest, district: str, office: str, opened: datetime) -> dict[str, Any]:
    return {
        "employees": req.employees,
        "district_code": district,
        "centre": HOUSING_FUND_CENTRE,
        "office": office,
        "opened_at": iso(opened),
    }


CENTRE = DistrictOffice[EmployerRequest](
    "housing_fund",
    area=f"{HOUSING_FUND_CENTRE}'s area",
    office=housing_fund_office,
    test_name="公积金异常",
    not_ready=lambda uscc, office: (
        f"单位（{uscc}）的营业执照信息尚未共享至{office}，暂不能办理住房公积金缴存登记，请稍后重新提交"
        " / housing fund record not ready: the employer's licence has not reached the housing"
        " provident fund centre yet; apply again later (a new request)"
    ),
    number=account_number,
    record=account,
)

router = serve_filings(
    "housing_fund",
    "/housing-fund/v1/accounts/{account_no}",
    tag="housing provident fund centre",
    what="housing fund account",
    model=EmployerRequest,
    file=CENTRE.file,
    summaries=("Open a new employer's housing provident fund unit account", "A unit account as opened"),
)
