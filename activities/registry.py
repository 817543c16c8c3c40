"""Every activity a worker registers, built around one shared partner client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.invoices import InvoiceActivities
from activities.partners import PartnerClient
from activities.registration import RegistrationActivities
from activities.seals import SealActivities
from activities.sla import SlaActivities


def all_activities(partners: PartnerClient, sla: SlaActivities) -> list[Callable[..., Any]]:
    registration = RegistrationActivities(partners)
    seals = SealActivities(partners)
    invoices = InvoiceActivities(partners)
    return [
        registration.file_registration,
        seals.order_seals,
        seals.cancel_pending_seal_orders,
        invoices.issue_first_invoices,
        sla.load_working_calendar,
        sla.raise_alert,
        sla.post_alert_webhook,
    ]
