"""Starting a case, reading, listing, correcting, withdrawing and acting on one: the single
implementation behind the gateway and starter.py."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar, cast, get_args

from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.actions import ACTION_NOT_OFFERED, OperatorAction
from domain.application import (
    Application,
    Supplement,
    apply_supplement,
    enterprise_name_searchable,
    parse_delivery,
    parse_supplement,
)
from domain.case_ids import WORKFLOW_TYPE, application_id_of, delivery_workflow_id, workflow_id_for
from domain.delivery import AddressChange
from domain.districts import ANYANG_DISTRICTS
from domain.partners import PartnerEvent, SetupInput, WithdrawRequest
from domain.sla_policy import SlaPolicy
from domain.status import CaseStage, SlaState, StatusDocument
from domain.subsidy_policy import SubsidyPolicy
from infra.temporal import (
    SA_DISTRICT_CODE,
    SA_ENTERPRISE_NAME,
    SA_NEEDS_ATTENTION,
    SA_SETUP_STAGE,
    SA_SLA_STATUS,
)
from workflows.delivery import PostalDelivery
from workflows.delivery_handoff import DELIVERY_IN_PROGRESS
from workflows.enterprise_setup import EVENT_ALREADY_TAKEN, EnterpriseSetup

FINGERPRINT_MEMO = "application_sha256"
T = TypeVar("T")


class CaseNotFound(Exception):
    """No case with that application id."""


class CaseStateConflict(Exception):
    """The case's state does not allow this (closed, or not awaiting a supplement)."""


class DeliveryUnderWay(CaseStateConflict):
    """The case's delivery child has the parcel: a change of delivery is for it to take."""


class ActionNotOffered(Exception):
    """An operator's action the case does not offer now (422); ``offered`` is what it does offer."""

    def __init__(self, message: str, offered: list[str]) -> None:
        super().__init__(message)
        self.offered = offered


class ApplicationConflict(Exception):
    """The application id is taken by a different application."""


class InvalidQuery(ValueError):
    """A list filter or cursor that cannot be used."""


@dataclass(frozen=True)
class SubmitOutcome:
    application_id: str
    workflow_id: str
    created: bool


@dataclass(frozen=True)
class CaseSummary:
    application_id: str
    workflow_id: str
    enterprise_name: str | None
    district_code: str | None
    stage: str | None
    sla_status: str | None
    accepted_at: datetime | None
    needs_attention: bool = False


def _summary_text(app: Application) -> str:
    district = ANYANG_DISTRICTS[app.enterprise.district_code]
    return f"{app.enterprise.name} · {district} {app.enterprise.district_code}"


def _details_text(app: Application) -> str:
    # No personal data: no names of people, ID numbers, phones or addresses.
    invoice = f"{app.invoice.kind}, {app.invoice.monthly_quota}/month" if app.invoice else "none"
    return "\n".join(
        [
            f"application: {app.application_id}",
            f"kind: {app.enterprise.kind}",
            f"district: {ANYANG_DISTRICTS[app.enterprise.district_code]} ({app.enterprise.district_code})",
            f"seals: {', '.join(app.seals)}",
            f"first invoices: {invoice}",
            f"delivery: {app.delivery.method}",
        ]
    )


async def submit_application(
    client: Client,
    app: Application,
    *,
    task_queue: str,
    sla_policy: SlaPolicy | None = None,
    subsidy_policy: SubsidyPolicy | None = None,
    portal_webhooks: list[str] | None = None,
) -> SubmitOutcome:
    """Start the case, or find the one this very application already started.

    The same application again (equal after validation and normalisation) finds the same
    workflow and starts nothing; the same id with a different application is a conflict.
    A finished case is never started again (REJECT_DUPLICATE).
    """
    workflow_id = workflow_id_for(app.application_id)
    fingerprint = app.fingerprint()
    try:
        await client.start_workflow(
            EnterpriseSetup.run,
            SetupInput(
                application=app,
                sla_policy=sla_policy or SlaPolicy(),
                subsidy_policy=subsidy_policy or SubsidyPolicy(),
                portal_webhooks=list(portal_webhooks or []),
            ),
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            memo={FINGERPRINT_MEMO: fingerprint},
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(SA_SETUP_STAGE, "accepted"),
                    SearchAttributePair(SA_SLA_STATUS, "on_track"),
                    SearchAttributePair(SA_DISTRICT_CODE, app.enterprise.district_code),
                    *(
                        [SearchAttributePair(SA_ENTERPRISE_NAME, app.enterprise.name)]
                        if enterprise_name_searchable(app.enterprise.kind)
                        else []
                    ),
                ]
            ),
            static_summary=_summary_text(app),
            static_details=_details_text(app),
        )
        return SubmitOutcome(app.application_id, workflow_id, created=True)
    except WorkflowAlreadyStartedError:
        pass
    description = await client.get_workflow_handle(workflow_id).describe()
    existing = await description.memo_value(FINGERPRINT_MEMO, default=None)
    if existing != fingerprint:
        raise ApplicationConflict(
            f"application id {app.application_id} is already used by a different application"
        )
    return SubmitOutcome(app.application_id, workflow_id, created=False)


CaseHandle = WorkflowHandle[EnterpriseSetup, StatusDocument]


def _handle(client: Client, application_id: str) -> CaseHandle:
    return client.get_workflow_handle_for(EnterpriseSetup.run, workflow_id_for(application_id))


@contextmanager
def case_errors(application_id: str, *, unknown: bool = False, gone: str | None = None) -> Iterator[None]:
    """The one translation of Temporal's answers into the case errors the gateway answers with.

    NOT_FOUND is an unknown case (``unknown``: ``CaseNotFound``) before the case was found, and
    a case that closed meanwhile (``CaseStateConflict``, saying ``gone``) after; an update the
    case refused is a conflict (``DeliveryUnderWay`` when its delivery child has the parcel).
    """
    try:
        yield
    except WorkflowUpdateFailedError as err:
        refusal = err.cause
        if isinstance(refusal, ApplicationError) and refusal.type == DELIVERY_IN_PROGRESS:
            raise DeliveryUnderWay(str(refusal)) from err
        if isinstance(refusal, ApplicationError) and refusal.type == ACTION_NOT_OFFERED:
            details = refusal.details[0] if refusal.details else {}
            offered = details.get("offered", []) if isinstance(details, dict) else []
            raise ActionNotOffered(refusal.message, [str(a) for a in offered]) from err
        raise CaseStateConflict(str(refusal or err)) from err
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        if unknown:
            raise CaseNotFound(application_id) from err
        raise CaseStateConflict(gone or f"case {application_id} is closed") from err


async def _update(call: Callable[[], Awaitable[T]], attempts: int = 8) -> T:
    """An update, asked again while the case's workflow task is failing for a moment (a worker
    restarting, a transient error): Temporal refuses updates then with FAILED_PRECONDITION, and
    a caller should not see that unless it lasts (about four seconds)."""
    for attempt in range(attempts):
        try:
            return await call()
        except RPCError as err:
            if err.status != RPCStatusCode.FAILED_PRECONDITION or attempt == attempts - 1:
                raise
        await asyncio.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")


async def _on_open_case(client: Client, application_id: str, call: Callable[[CaseHandle], Awaitable[T]]) -> T:
    """``call`` on the case's handle, with nothing asked first: only when Temporal answers that no
    open case has the id is the case described, to tell an unknown case (``CaseNotFound``) from a
    closed one (``CaseStateConflict``)."""
    handle = _handle(client, application_id)
    try:
        with case_errors(application_id):
            return await call(handle)
    except CaseStateConflict as err:
        if isinstance(err.__cause__, RPCError):
            with case_errors(application_id, unknown=True):
                await handle.describe()
        raise


async def _closed_with(client: Client, handle: CaseHandle) -> StatusDocument:
    """The status document a completed case returned, read from its close event (not through
    ``result()``, which on the time-skipping test server lets time skip while it waits)."""
    async for event in handle.fetch_history_events(
        event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
    ):
        payloads = event.workflow_execution_completed_event_attributes.result.payloads
        [status] = await client.data_converter.decode(payloads, [StatusDocument])
        return cast(StatusDocument, status)
    raise CaseStateConflict(f"case {handle.id} has no close event")


async def get_status(client: Client, application_id: str) -> StatusDocument:
    """The case's status document: a closed case's from its result (stored with its history, read
    without replaying it on a worker), an open case's from the ``status`` query."""
    handle = _handle(client, application_id)
    with case_errors(application_id, unknown=True):
        description = await handle.describe()
    if description.status == WorkflowExecutionStatus.COMPLETED:
        with case_errors(application_id, unknown=True):
            return await _closed_with(client, handle)
    attempts = 15
    for attempt in range(attempts):
        try:
            with case_errors(application_id, unknown=True):
                return await handle.query(EnterpriseSetup.status)
        except RPCError as err:
            # A just-started case answers queries once its first workflow task has run;
            # anything else (Temporal down, timeouts) is answered at once.
            if err.status != RPCStatusCode.FAILED_PRECONDITION or attempt == attempts - 1:
                raise
        except WorkflowQueryFailedError:
            if attempt == attempts - 1:
                raise
        await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


async def withdraw(client: Client, application_id: str, reason: str | None) -> StatusDocument:
    return await _on_open_case(
        client,
        application_id,
        lambda handle: _update(
            lambda: handle.execute_update(EnterpriseSetup.withdraw, WithdrawRequest(reason=reason))
        ),
    )


async def act(client: Client, application_id: str, action: OperatorAction) -> StatusDocument:
    """An operator's action, answered once the case has recorded it. A closed case is a conflict
    (checked first), unless this very action (its Idempotency-Key) was recorded before it closed;
    a repeat of a recorded key is answered and does nothing (the update id is the key's)."""
    handle = _handle(client, application_id)
    with case_errors(application_id, unknown=True):
        description = await handle.describe()
    key = action.idempotency_key
    if description.status != WorkflowExecutionStatus.RUNNING:
        if key is not None:
            with case_errors(application_id):
                if await handle.query(EnterpriseSetup.action_taken, key):
                    return await get_status(client, application_id)
        raise CaseStateConflict(f"case {application_id} is closed")
    update_id = None if key is None else "action-" + hashlib.sha256(key.encode()).hexdigest()[:32]
    with case_errors(application_id):
        return await _update(lambda: handle.execute_update(EnterpriseSetup.act, action, id=update_id))


async def require_awaiting_supplement(client: Client, application_id: str) -> None:
    """``CaseNotFound``, or ``CaseStateConflict`` unless the case awaits a supplement now."""
    status = await get_status(client, application_id)
    if status.stage != "awaiting_supplement":
        raise CaseStateConflict(f"case {application_id} is {status.stage}, not awaiting a supplement")


async def correct(client: Client, application_id: str, parts: Supplement) -> StatusDocument:
    """The corrected parts given to a case that awaits them (``require_awaiting_supplement``): they
    replace those of its application, which is then checked as a whole (``ApplicationInvalid``)."""
    handle = _handle(client, application_id)
    with case_errors(application_id):
        current = await handle.query(EnterpriseSetup.application)
    corrected = apply_supplement(current, parts)
    with case_errors(application_id):
        return await _update(lambda: handle.execute_update(EnterpriseSetup.supplement, corrected))


async def supplement(client: Client, application_id: str, body: object) -> StatusDocument:
    """Corrected materials: a ``Supplement``, or its JSON (``starter.py supplement`` reads a file's
    bytes). The state is checked first (409), then the corrected parts and application (422)."""
    await require_awaiting_supplement(client, application_id)
    return await correct(client, application_id, parse_supplement(body))


async def change_delivery(client: Client, application_id: str, body: object) -> StatusDocument:
    """A new delivery address or method: a ``Delivery``, or its JSON (422 invalid; 409 once EMS has
    collected the parcel).

    Before dispatch the case itself takes it; once the delivery child workflow owns the parcel,
    the child does (amending the waybill), and refuses after collection.
    """
    delivery = parse_delivery(body)
    try:
        return await _on_open_case(
            client,
            application_id,
            lambda handle: _update(lambda: handle.execute_update(EnterpriseSetup.change_delivery, delivery)),
        )
    except DeliveryUnderWay:
        pass  # the delivery child owns the parcel now: it takes the change (or refuses it)
    # Untyped: which of the workflows' modules mypy reads first decides whether it can type the
    # handle for ``PostalDelivery.run`` (an import cycle); the update below is typed either way.
    child = client.get_workflow_handle(delivery_workflow_id(workflow_id_for(application_id)))
    with case_errors(application_id, gone=f"the delivery of case {application_id} is over"):
        await _update(
            lambda: child.execute_update(PostalDelivery.change_address, AddressChange(delivery=delivery))
        )
    return await get_status(client, application_id)


# How long a callback waits for a worker to take it as an update before it is signalled instead.
CALLBACK_UPDATE_TIMEOUT = timedelta(seconds=5)


async def deliver_partner_event(client: Client, event: PartnerEvent) -> None:
    """Hand a partner's callback to its case: an update whose id is the event's, so a repeat
    writes nothing to the case's history (Temporal answers it from the first, or the case's
    validator refuses it as taken: both are the case having it)."""

    async def take(handle: CaseHandle) -> None:
        try:
            await _update(
                lambda: handle.execute_update(
                    EnterpriseSetup.take_partner_event,
                    event,
                    id=f"callback-{event.event_id}",
                    rpc_timeout=CALLBACK_UPDATE_TIMEOUT,
                )
            )
        except (TimeoutError, RPCTimeoutOrCancelledError):
            # No worker took the update in time (all stopped, say): a signal waits in the history
            # for one, so the partner's callback is still the case's now (a repeat is dropped).
            await handle.signal(EnterpriseSetup.partner_event, event)
        except RPCError as err:
            if err.status != RPCStatusCode.DEADLINE_EXCEEDED:
                raise
            await handle.signal(EnterpriseSetup.partner_event, event)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == EVENT_ALREADY_TAKEN:
                return
            if isinstance(cause, ApplicationError) and "expected but not found" in cause.message:
                # A worker older than the update (a rolling release): the signal it knows.
                await handle.signal(EnterpriseSetup.partner_event, event)
                return
            raise

    try:
        await _on_open_case(client, event.application_id, take)
    except CaseStateConflict:
        # A repeat of a callback the case took before it closed (its first answer was lost).
        with case_errors(event.application_id):
            if await _handle(client, event.application_id).query(
                EnterpriseSetup.has_partner_event, event.event_id
            ):
                return
        raise


_STAGES = set(get_args(CaseStage))
_SLA_STATES = set(get_args(SlaState))


def _encode_cursor(token: bytes | None) -> str | None:
    return base64.urlsafe_b64encode(token).decode() if token else None


def _decode_cursor(cursor: str | None) -> bytes | None:
    """The page token inside a cursor ``_encode_cursor`` made; ``InvalidQuery`` for anything else
    (strictly base64url: a stray character is not skipped, and nothing is not a token)."""
    if cursor is None:
        return None
    try:
        token = base64.b64decode(cursor.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as err:  # UnicodeEncodeError included
        raise InvalidQuery("after: not a cursor this service returned") from err
    if not token:
        raise InvalidQuery("after: not a cursor this service returned")
    return token


def visibility_query(
    *,
    stage: str | None = None,
    sla_status: str | None = None,
    district: str | None = None,
    needs_attention: bool | None = None,
) -> str:
    clauses = [f'WorkflowType = "{WORKFLOW_TYPE}"']
    if stage:
        if stage not in _STAGES:
            raise InvalidQuery(f"stage: must be one of {', '.join(sorted(_STAGES))}")
        clauses.append(f'SetupStage = "{stage}"')
    if sla_status:
        if sla_status not in _SLA_STATES:
            raise InvalidQuery(f"sla_status: must be one of {', '.join(sorted(_SLA_STATES))}")
        clauses.append(f'SlaStatus = "{sla_status}"')
    if district:
        if district not in ANYANG_DISTRICTS:
            raise InvalidQuery(f"district: must be one of {', '.join(ANYANG_DISTRICTS)}")
        clauses.append(f'DistrictCode = "{district}"')
    if needs_attention is True:
        clauses.append("NeedsAttention = true")
    elif needs_attention is False:
        # Cases from before the attribute never set it: none of them waits for an operator.
        clauses.append("(NeedsAttention = false OR NeedsAttention IS NULL)")
    return " AND ".join(clauses)


async def list_cases(
    client: Client,
    *,
    stage: str | None = None,
    sla_status: str | None = None,
    district: str | None = None,
    needs_attention: bool | None = None,
    limit: int = 50,
    after: str | None = None,
) -> tuple[list[CaseSummary], str | None]:
    """One page of cases from Temporal visibility, newest first, and the cursor of the next."""
    if not 1 <= limit <= 1000:
        raise InvalidQuery("limit: must be between 1 and 1000")
    query = visibility_query(
        stage=stage, sla_status=sla_status, district=district, needs_attention=needs_attention
    )
    iterator = client.list_workflows(query, page_size=limit, next_page_token=_decode_cursor(after))
    try:
        await iterator.fetch_next_page(page_size=limit)
    except RPCError as err:
        if err.status == RPCStatusCode.INVALID_ARGUMENT:
            raise InvalidQuery(f"after: {err.message}") from err
        raise
    cases = []
    for execution in iterator.current_page or []:
        sa = execution.typed_search_attributes
        cases.append(
            CaseSummary(
                application_id=application_id_of(execution.id),
                workflow_id=execution.id,
                enterprise_name=sa.get(SA_ENTERPRISE_NAME),
                district_code=sa.get(SA_DISTRICT_CODE),
                stage=sa.get(SA_SETUP_STAGE),
                sla_status=sa.get(SA_SLA_STATUS),
                accepted_at=execution.start_time,
                needs_attention=bool(sa.get(SA_NEEDS_ATTENTION)),
            )
        )
    return cases, _encode_cursor(iterator.next_page_token)
