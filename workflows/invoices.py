"""``FirstInvoices``: the first invoice allotment (发票初次申领) at the tax bureau, beside seal carving.

An application that asks for no invoices skips the stage; otherwise it is one activity with its
idempotency key made once here, under the stage's promise.
"""

from __future__ import annotations

import functools

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.invoices import InvoiceActivities
    from activities.partners import PartnerRefusal
    from domain.partners import InvoiceAllotment, InvoiceAllotmentRequest, Licence

from workflows.attention import OperatorDesk
from workflows.calls import PARTNER_CALL_TIMEOUT, PARTNER_RETRY, execute
from workflows.case_record import CaseRecord
from workflows.promises import Promises


class FirstInvoices:
    def __init__(self, record: CaseRecord, promises: Promises, desk: OperatorDesk) -> None:
        self._record = record
        self._promises = promises
        self._desk = desk

    async def run(self, licence: Licence) -> InvoiceAllotment | None:
        record, invoice = self._record, self._record.app.invoice
        if invoice is None:
            record.status.stages.invoice.state = "skipped"
            record.record("invoice.skipped", "no invoice requested")
            return None
        request = InvoiceAllotmentRequest(
            application_id=record.application_id,
            uscc=licence.uscc,
            enterprise_name=licence.name,
            kind=invoice.kind,
            monthly_quota=invoice.monthly_quota,
            idempotency_key=f"{record.workflow_id}/invoice/{workflow.uuid4()}",
        )

        desk = self._desk

        async def call(request: InvoiceAllotmentRequest) -> InvoiceAllotment:
            return await execute(
                InvoiceActivities.issue_first_invoices,
                request,
                start_to_close_timeout=PARTNER_CALL_TIMEOUT,
                retry_policy=PARTNER_RETRY,
                summary=f"发票 first invoices ({invoice.kind}, {invoice.monthly_quota}/month)",
            )

        async def allot() -> InvoiceAllotment:
            nonlocal request
            while True:
                try:
                    outcome = await desk.call(
                        "invoice",
                        "the tax bureau",
                        functools.partial(call, request),
                        ("retry_stage",),
                    )
                except ActivityError as err:
                    refusal = PartnerRefusal.of(err)
                    if refusal is None or not desk.enabled:
                        raise
                    record.record("invoice.refused", refusal.message)
                    outcome = await desk.refused(
                        "invoice",
                        f"the tax bureau refused the allotment: {refusal.message}",
                        ("retry_stage",),
                    )
                if isinstance(outcome, InvoiceAllotment):
                    record.record("invoice.allotted", f"allotment {outcome.allotment_id}")
                    return outcome
                # retry_stage: a new business action, with a new idempotency key.
                key = f"{record.workflow_id}/invoice/{workflow.uuid4()}"
                request = request.model_copy(update={"idempotency_key": key})

        return await self._promises.run_stage("invoice", allot)
