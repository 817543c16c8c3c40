"""Two stand-ins the delivery tests run next to ``PostalDelivery``: a case that only listens
for ``delivery_progress``, and a case that only books the inbound label at acceptance."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.delivery import DeliveryProgress, Waybill

from workflows.delivery import book_inbound_label


@workflow.defn(name="DeliveryProgressListener")
class DeliveryProgressListener:
    """What the case does with its child's progress, reduced to keeping it."""

    def __init__(self) -> None:
        self._received: list[DeliveryProgress] = []

    @workflow.run
    async def run(self) -> list[DeliveryProgress]:
        await workflow.wait_condition(lambda: any(p.is_final for p in self._received))
        return self._received

    @workflow.signal
    def delivery_progress(self, progress: DeliveryProgress) -> None:
        self._received.append(progress)

    @workflow.query
    def received(self) -> list[DeliveryProgress]:
        return self._received


@workflow.defn(name="InboundLabelCase")
class InboundLabelCase:
    """A case at acceptance: issues the prepaid inbound label (双向寄递) and nothing else."""

    @workflow.run
    async def run(self, application_id: str) -> Waybill:
        return await book_inbound_label(application_id, workflow.info().workflow_id, "410503")
