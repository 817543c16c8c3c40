"""The task queues of the service, derived from the one a deployment names (``ODS_TASK_QUEUE``).

The cases' workflows run on ``ODS_TASK_QUEUE``. Their activities are spread over queues of their
own so that one kind of work never waits for the slots another holds:

- ``<queue>-documents``: the PDFs (reportlab, the heaviest CPU work of a case), served by workers
  of their own (``python worker.py --role documents``) that can be scaled, or moved to another
  machine, apart from the cases;
- ``<queue>-records``: the service's own writes and look-ups (alerts, case facts, the subsidy
  ledger, the working calendar), so an alert is stored at once however slow a partner is;
- ``<queue>-webhooks``: the alert webhooks' and the portal push's workflows and posts, so a
  subscriber that is slow holds neither a case nor an alert;
- ``<queue>-partner-<partner>``: the calls to one partner, each served by a worker with its own
  cap on calls in flight (``ODS_PARTNER_CONCURRENCY``), so one slow partner cannot take the
  slots of the others.

Cases that began before these queues (patch ``activity-queues-v1``, ``workflows/calls.py``) run
all but their documents on ``<queue>`` itself, which every cases' worker keeps serving. The
workflow derives the names from its own task queue, so a test's queue gets queues of its own too.
"""

from __future__ import annotations

DOCUMENTS_SUFFIX = "-documents"
RECORDS_SUFFIX = "-records"
WEBHOOKS_SUFFIX = "-webhooks"
PARTNER_INFIX = "-partner-"

# The activities (by their registered names) that call each partner, as the sandbox names the
# partners (partner_sandbox/behaviour.py).
PARTNER_ACTIVITIES: dict[str, tuple[str, ...]] = {
    "registration": ("file_registration",),
    "seal_shop": ("list_seal_shops", "order_seals", "cancel_pending_seal_orders"),
    "tax": ("issue_first_invoices",),
    "social_insurance": ("register_social_insurance",),
    "housing_fund": ("open_housing_fund_account",),
    "bank": ("book_bank_appointment",),
    "postal": ("book_waybill", "amend_waybill", "request_redelivery", "return_to_centre"),
}
RECORD_ACTIVITIES = (
    "raise_alert",
    "record_case_fact",
    "record_rating_progress",
    "load_working_calendar",
    "reserve_first_seal_subsidy",
    "settle_first_seal_subsidy",
    "release_first_seal_subsidy",
)
_PARTNER_OF = {name: partner for partner, names in PARTNER_ACTIVITIES.items() for name in names}


def documents_task_queue(cases_task_queue: str) -> str:
    return f"{cases_task_queue}{DOCUMENTS_SUFFIX}"


def records_task_queue(cases_task_queue: str) -> str:
    return f"{cases_task_queue}{RECORDS_SUFFIX}"


def webhooks_task_queue(cases_task_queue: str) -> str:
    return f"{cases_task_queue}{WEBHOOKS_SUFFIX}"


def partner_task_queue(cases_task_queue: str, partner: str) -> str:
    if partner not in PARTNER_ACTIVITIES:
        raise ValueError(f"unknown partner {partner!r}")
    return f"{cases_task_queue}{PARTNER_INFIX}{partner}"


def activity_task_queue(cases_task_queue: str, activity: str) -> str | None:
    """The queue a case (begun under ``activity-queues-v1``) runs ``activity`` on; None for the
    cases' own queue (``partner_trouble``, which reads Temporal only)."""
    if activity in _PARTNER_OF:
        return partner_task_queue(cases_task_queue, _PARTNER_OF[activity])
    if activity in RECORD_ACTIVITIES:
        return records_task_queue(cases_task_queue)
    return None
