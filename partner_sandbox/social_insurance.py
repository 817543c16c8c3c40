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

from partner_sandbox.filing import DistrictOffice, serve_filings
from partner_sandbox.localities import social_insurance_bureau
from partner_sandbox.state import SandboxState, iso
from partner_sandbox.validation import EmployerRequest


def registration_number(sandbox: SandboxState, district: str, at: datetime) -> str:
    """A unit social insurance number never issued before: district, year (2 digits), serial (6)."""
    return sandbox.unique(lambda rng: f"{district}{at.year % 100:02d}{rng.randrange(10**6):06d}")


def registration(req: EmployerRequest, district: str, bureau: str, at: datetime) -> dict[str, Any]:
    return {"employees": req.employees, "district_code": district, "bureau": bureau, "registered_at": iso(at)}


BUREAUS = DistrictOffice[EmployerRequest](
    "social_insurance",
    area="Anyang's social insurance bureaus",
    office=social_insurance_bureau,
    test_name="参保异常",
    not_ready=lambda uscc, bureau: (
        f"用人单位（{uscc}）的登记信息尚未由市场监管部门共享至{bureau}，暂不能办理社会保险登记，请稍后重新提交"
        " / social insurance record not ready: the employer's registration has not reached the"
        " bureau from market regulation yet; apply again later (a new request)"
    ),
    number=registration_number,
    record=registration,
)

router = serve_filings(
    "social_insurance",
    "/social-insurance/v1/registrations/{registration_no}",
    tag="human resources and social security bureau",
    what="social insurance registration",
    model=EmployerRequest,
    file=BUREAUS.file,
    summaries=("Register a new employer and its employees for social insurance", "A registration as made"),
)
