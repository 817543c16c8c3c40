"""Every activity a worker registers, built around the worker's shared clients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client

from activities.alert_webhooks import AlertWebhookActivities
from activities.bank import BankActivities
from activities.delivery import DeliveryActivities
from activities.documents import DocumentActivities
from activities.facts import CaseFactActivities
from activities.filings import FilingActivities
from activities.partner_trouble import PartnerTroubleActivities
from activities.partners import PartnerClient
from activities.portal_push import PortalPushActivities
from activities.ratings import RatingActivities
from activities.registration import RegistrationActivities
from activities.retention import RetentionActivities
from activities.seals import SealActivities
from activities.sla import SlaActivities
from activities.subsidy import SubsidyActivities
from domain.task_queues import PARTNER_ACTIVITIES, RECORD_ACTIVITIES
from store.service import ServiceDatabase


@dataclass(frozen=True)
class WorkerResources:
    partners: PartnerClient
    sla: SlaActivities
    subsidy: SubsidyActivities
    documents: DocumentActivities
    facts: CaseFactActivities
    client: Client | None = None
    """Temporal, for the activities that read a workflow's own state (``partner_trouble``)."""
    ratings: RatingActivities | None = None
    """The follow-ups' writes to the ratings (none: a worker that runs no follow-up)."""
    database: ServiceDatabase | None = None
    """The process's service database, for the retention schedule's erasures (``activities/retention.py``)."""


def document_activities(documents: DocumentActivities) -> list[Callable[..., Any]]:
    """The documents' task queue (``domain/task_queues.py``)."""
    return [documents.issue_document]


def all_activities(r: WorkerResources) -> list[Callable[..., Any]]:
    """The cases' task queue: every activity a case runs (cases that began before the activities
    had queues of their own, ``domain/task_queues.py``, run them all there)."""
    registration = RegistrationActivities(r.partners)
    seals = SealActivities(r.partners)
    filings = FilingActivities(r.partners)
    delivery = DeliveryActivities(r.partners)
    bank = BankActivities(r.partners)
    webhooks = AlertWebhookActivities(r.sla.settings)
    portal = PortalPushActivities(r.sla.settings)
    trouble = PartnerTroubleActivities(r.client)
    ratings = r.ratings or RatingActivities(None)
    retention = RetentionActivities(r.client, r.database)
    return [
        registration.file_registration,
        seals.list_seal_shops,
        seals.order_seals,
        seals.cancel_pending_seal_orders,
        filings.issue_first_invoices,
        filings.register_social_insurance,
        filings.open_housing_fund_account,
        bank.book_bank_appointment,
        delivery.book_waybill,
        delivery.amend_waybill,
        delivery.request_redelivery,
        delivery.return_to_centre,
        trouble.partner_trouble,
        r.sla.load_working_calendar,
        r.sla.raise_alert,
        r.facts.record_case_fact,
        ratings.record_rating_progress,
        webhooks.post_alert_webhook,
        portal.post_portal_event,
        r.subsidy.reserve_first_seal_subsidy,
        r.subsidy.settle_first_seal_subsidy,
        r.subsidy.release_first_seal_subsidy,
        # Cases that began before documents-apart-v1 still draw theirs on the cases' queue.
        r.documents.issue_document,
        retention.erase_expired_cases,
    ]


def local_activities(r: WorkerResources) -> list[Callable[..., Any]]:
    """What a lean case (``workflows/versions.py``) runs as local activities, in the worker that
    runs the case: every worker of the cases' workflows registers them."""
    return [r.facts.record_case_fact, r.sla.load_working_calendar]


def _named(activities: list[Callable[..., Any]], names: tuple[str, ...]) -> list[Callable[..., Any]]:
    return [activity for activity in activities if activity.__name__ in names]


def record_activities(r: WorkerResources) -> list[Callable[..., Any]]:
    """The records' task queue (``domain/task_queues.py``): alerts, case facts, the subsidy
    ledger and the working calendar."""
    return _named(all_activities(r), RECORD_ACTIVITIES)


def partner_activities(r: WorkerResources) -> dict[str, list[Callable[..., Any]]]:
    """Each partner's task queue (``domain/task_queues.py``): the calls to that partner."""
    every = all_activities(r)
    return {partner: _named(every, names) for partner, names in PARTNER_ACTIVITIES.items()}


def webhook_activities(r: WorkerResources) -> list[Callable[..., Any]]:
    """The webhooks' task queue (``domain/task_queues.py``), beside their workflows."""
    return [
        AlertWebhookActivities(r.sla.settings).post_alert_webhook,
        PortalPushActivities(r.sla.settings).post_portal_event,
    ]
