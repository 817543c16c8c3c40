"""``FirstInvoices``: the first invoice allotment (发票初次申领) at the tax bureau, beside seal carving.

An application that asks for no invoices skips the stage; otherwise it is one business action at the
tax bureau (``workflows/partner_step.py``), under the stage's promise.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.filings import FilingActivities
    from activities.partners import PartnerRefusal
    from domain.partners import InvoiceAllotment, InvoiceAllotmentRequest, Licence

from workflows.calls import PARTNER_CALL_TIMEOUT, PARTNER_RETRY, execute
from workflows.case_record import CaseRecord
from workflows.partner_step import PartnerStep, Refusal
from workflows.promises import Promises

_PARTNER = "the tax bureau"


class FirstInvoices:
    def __init__(self, record: CaseRecord, promises: Promises, step: PartnerStep) -> None:
        self._record = record
        self._promises = promises
        self._step = step

    async def run(self, licence: Licence) -> InvoiceAllotment | None:
        record, invoice = self._record, self._record.app.invoice
        if invoice is None:
            record.stage_skipped("invoice", "no invoice requested")
            return None

        async def call(key: str) -> InvoiceAllotment:
            request = InvoiceAllotmentRequest(
                application_id=record.application_id,
                uscc=licence.uscc,
                enterprise_name=licence.name,
                kind=invoice.kind,
                monthly_quota=invoice.monthly_quota,
                idempotency_key=key,
            )
            return await execute(
                FilingActivities.issue_first_invoices,
                request,
                start_to_close_timeout=PARTNER_CALL_TIMEOUT,
                retry_policy=PARTNER_RETRY,
                summary=f"发票 first invoices ({invoice.kind}, {invoice.monthly_quota}/month)",
            )

        async def explain(refusal: PartnerRefusal) -> Refusal:
            return Refusal(f"{_PARTNER} refused the allotment: {refusal.message}", refusal.message)

        async def allot() -> InvoiceAllotment:
            allotment = await self._step.attempt(
                "invoice",
                call,
                keys=f"{record.workflow_id}/invoice",
                partner=lambda: _PARTNER,
                explain=explain,
            )
            record.record("invoice.allotted", f"allotment {allotment.allotment_id}")
            return allotment

        return await self._promises.run_stage("invoice", allot)
