"""The tax bureau (税务局): the first invoice allotment of a new enterprise (发票初次申领).

The tax bureau of the district where the enterprise is registered (characters 3–8 of the USCC)
allots the invoices. For an enterprise whose name contains ``税务异常`` the taxpayer record has not
reached the tax bureau yet when it first applies: its first allotment request (the first whose work
starts, i.e. the first with a new idempotency key for that USCC) is refused at once (422
``tax_record_not_ready``, nothing allotted); a later request with a new key is accepted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from partner_sandbox.filing import DistrictOffice, serve_filings
from partner_sandbox.localities import tax_authority
from partner_sandbox.state import iso
from partner_sandbox.validation import EnterpriseRequest

InvoiceKind = Literal["electronic_general", "electronic_special"]


class AllotmentRequest(EnterpriseRequest):
    kind: InvoiceKind
    monthly_quota: int = Field(ge=1, le=1000, strict=True)


def allotment(req: AllotmentRequest, _: str, authority: str, issued: datetime) -> dict[str, Any]:
    return {
        "kind": req.kind,
        "monthly_quota": req.monthly_quota,
        "tax_authority": authority,
        "issued_at": iso(issued),
    }


BUREAUS = DistrictOffice[AllotmentRequest](
    "tax",
    area="Anyang's tax bureaus",
    office=tax_authority,
    test_name="税务异常",
    not_ready=lambda uscc, authority: (
        f"纳税人（{uscc}）税务登记信息尚未同步至{authority}，暂不能办理发票初次申领，请稍后重新提交申请"
        " / tax record not ready: the taxpayer's registration has not reached the tax bureau yet;"
        " apply again later (a new request)"
    ),
    number=lambda sandbox, _district, _at: sandbox.new_id("INV"),
    record=allotment,
)

router = serve_filings(
    "tax",
    "/tax/v1/invoice-allotments/{allotment_id}",
    tag="tax bureau",
    what="invoice allotment",
    model=AllotmentRequest,
    file=BUREAUS.file,
    summaries=("Allot a new enterprise its first invoices", "An allotment as made"),
)
