"""``CaseRecord``: the case as everyone else sees it, kept in one place.

The status document (answered by the ``status`` query), its history (the audit trail), the
search attributes ops filter on and the current details the Web UI shows all move together. This
is the only writer of the status document: a stage says what happened through a named
transition (``stage_started``, ``stage_waiting``, ``supplement_requested``, …) and the record
decides what that means for the document, the search attributes and the details. What follows
from the status document (``sla_status``, the breached stages, the lines about promises and
attention) is derived from it, never kept twice. No personal data goes into search attributes or
details.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.application import Application, Delivery, enterprise_name_searchable
    from domain.case_ids import application_id_of
    from domain.districts import ANYANG_DISTRICTS
    from domain.status import (
        SLA_ORDER,
        Attention,
        CaseStage,
        DeliveryStatus,
        HistoryEntry,
        StageName,
        StageState,
        StageStatus,
        StatusDocument,
        SupplementRequest,
    )
    from domain.subsidy import SubsidyDecision
    from infra.temporal import (
        SA_BREACHED_STAGES,
        SA_ENTERPRISE_NAME,
        SA_NEEDS_ATTENTION,
        SA_SETUP_STAGE,
        SA_SLA_STATUS,
        SA_SUBSIDY_GRANTED,
        SA_USCC,
    )

from workflows.versions import patched

OPEN_STATES = ("pending", "running", "waiting")


ACCEPTED_AT_START_PATCH = "accepted-at-start-v1"
# An individual business (个体工商户) is usually named after its owner: its name is no search
# attribute (it stays in the case's encrypted summary); earlier cases set it on a supplement.
PRIVATE_NAME_PATCH = "private-individual-name-v1"


class CaseRejected(Exception):
    """A partner refused the case for good; it ends ``rejected`` with this reason."""


class CaseRecord:
    """The status document, history, search attributes and current details of one case, and the
    application as it stands (a supplement or a delivery change replaces it)."""

    def __init__(
        self, app: Application, zone: tzinfo, observer: Callable[[str, Any], None] | None = None
    ) -> None:
        info = workflow.info()
        self.app = app
        # Accepted when the gateway started the case, not when a worker first ran it (which, with
        # workers behind, is later: every promise would start late). Earlier cases keep theirs.
        accepted = info.workflow_start_time if patched(ACCEPTED_AT_START_PATCH) else info.start_time
        self.status = StatusDocument(
            application_id=application_id_of(info.workflow_id),
            workflow_id=info.workflow_id,
            stage="accepted",
            accepted_at=accepted,
        )
        self.waiting_for = ""
        self._zone = zone
        # The promises being watched now, in the order they were taken up (their deadline and
        # level are the status document's).
        self._watched: dict[StageName, None] = {}
        # Told the stage and attention at each publish: the portal's push (``PortalNotifier``).
        self._observer = observer

    @property
    def application_id(self) -> str:
        return self.status.application_id

    @property
    def workflow_id(self) -> str:
        return self.status.workflow_id

    # ------------------------------------------------------------- the audit trail
    def record(self, event: str, detail: str = "") -> None:
        self.status.history.append(HistoryEntry(at=workflow.now(), event=event, detail=detail))

    # ------------------------------------------------------------- what ops filter on
    def set_stage(self, stage: CaseStage) -> None:
        """The case's top-level stage (``SetupStage``); a closed case stays closed."""
        if self.status.is_final:
            return
        self.status.stage = stage
        workflow.upsert_search_attributes([SA_SETUP_STAGE.value_set(stage)])
        self.publish()

    def set_uscc(self, uscc: str) -> None:
        self.status.uscc = uscc
        workflow.upsert_search_attributes([SA_USCC.value_set(uscc)])

    def take_supplement(self, corrected: Application) -> None:
        """The corrected application replaces the one in hand (the name may have changed)."""
        self.app = corrected
        if not enterprise_name_searchable(corrected.enterprise.kind) and patched(PRIVATE_NAME_PATCH):
            # Unset, not left alone: a case started before its gateway knew this has the name.
            workflow.upsert_search_attributes([SA_ENTERPRISE_NAME.value_unset()])
            return
        workflow.upsert_search_attributes([SA_ENTERPRISE_NAME.value_set(corrected.enterprise.name)])

    def change_delivery(self, delivery: Delivery) -> None:
        self.app = self.app.model_copy(update={"delivery": delivery})

    def set_subsidy(self, decision: SubsidyDecision) -> None:
        self.status.subsidy = decision.to_status()
        workflow.upsert_search_attributes([SA_SUBSIDY_GRANTED.value_set(decision.granted)])

    def promise_reached(self, stage: StageName, level: str) -> None:
        """A stage's promise is at risk, breached, or kept after all: its ``sla`` and what is
        derived from it."""
        if level in ("at_risk", "breached"):
            self.status.stages.of(stage).sla = level  # type: ignore[assignment]
        worst = self.status.worst_sla
        if SLA_ORDER[worst] > SLA_ORDER[self.status.sla_status]:
            self.status.sla_status = worst
            workflow.upsert_search_attributes([SA_SLA_STATUS.value_set(worst)])
        if level == "breached":
            breached = self.status.breached_stages
            workflow.upsert_search_attributes([SA_BREACHED_STAGES.value_set(list(breached))])

    # ------------------------------------------------------------- the case's own parts
    def overall_started(self) -> None:
        overall = self.status.stages.overall
        overall.state = "running"
        overall.started_at = self.status.accepted_at
        self.publish()

    def stage_offered(self, name: StageName, applied_for: bool) -> None:
        """An item of the whole scope: ``pending`` when applied for, ``skipped`` otherwise."""
        setattr(self.status.stages, name, StageStatus(state="pending" if applied_for else "skipped"))

    def stage_skipped(self, name: StageName, why: str) -> None:
        self.status.stages.of(name).state = "skipped"
        self.record(f"{name}.skipped", why)

    def stage_started(self, name: StageName) -> datetime:
        """The stage runs (again); when it first started."""
        stage = self.status.stages.of(name)
        stage.state = "running"
        stage.started_at = stage.started_at or workflow.now()
        self.record(f"{name}.started")
        return stage.started_at

    def stage_stopped(self, name: StageName, *, cancelled: bool) -> None:
        """The stage ended without its result: withdrawn (cancelled) or failed."""
        stage = self.status.stages.of(name)
        stage.state = "cancelled" if cancelled else "failed"
        stage.finished_at = workflow.now()

    def stage_done(self, name: StageName) -> None:
        stage = self.status.stages.of(name)
        stage.state = "done"
        stage.finished_at = workflow.now()
        self.record(f"{name}.done")

    def stage_waiting(self, name: StageName) -> StageState:
        """The stage waits (for a callback, or for a person); the state it had before."""
        stage = self.status.stages.of(name)
        before = stage.state
        stage.state = "waiting"
        return before

    def stage_resumed(self, name: StageName, state: StageState) -> None:
        """A stage that waited for a person goes on in the state it had before."""
        stage = self.status.stages.of(name)
        if stage.state == "waiting":
            stage.state = state

    def item_answered(self, name: StageName, part: Any) -> None:
        """A partner's answer for an item of the whole scope (its part of the status document)."""
        setattr(self.status, name, part)

    def calendar_uncovered(self, note: str) -> None:
        """Said once: a deadline falls in a year without official holiday data."""
        if self.status.calendar_note is None:
            self.status.calendar_note = note
            self.record("calendar.uncovered", note)

    # ------------------------------------------------------------- promises
    def promise_watched(self, name: StageName) -> None:
        self._watched[name] = None

    def promise_unwatched(self, name: StageName) -> None:
        self._watched.pop(name, None)

    def promise_due(self, name: StageName, deadline: datetime) -> None:
        self.status.stages.of(name).deadline = deadline

    # ------------------------------------------------------------- operators
    def attentions_changed(self, attentions: list[Attention]) -> None:
        status = self.status
        status.attentions = sorted(attentions, key=lambda a: a.since)
        status.attention = status.attentions[0] if status.attentions else None
        workflow.upsert_search_attributes([SA_NEEDS_ATTENTION.value_set(bool(attentions))])
        self.publish()

    # ------------------------------------------------------------- supplements
    def supplement_requested(self, requested: list[str], due: datetime) -> None:
        self.status.supplement = SupplementRequest(requested=requested, due=due)
        self.status.stages.registration.state = "waiting"
        self.set_stage("awaiting_supplement")
        self.waiting_for = "corrected materials from the applicant (补正)"
        self.record("supplement.requested", "; ".join(requested))
        self.publish()

    def supplement_received(self, corrected: Application) -> None:
        self.take_supplement(corrected)
        self.status.supplement = None
        self.status.stages.registration.state = "running"
        self.record("supplement.received", "corrected materials received; filing again")
        self.set_stage("registration")

    # ------------------------------------------------------------- delivery and documents
    def delivery_offered(self, delivery: DeliveryStatus) -> None:
        self.status.stages.delivery = StageStatus()
        self.status.delivery = delivery

    def delivery_changed(self, delivery: DeliveryStatus) -> None:
        """The delivery as it stands (a new method before dispatch, or the child's outcome)."""
        self.status.delivery = delivery

    def delivery_progressed(self, delivery: DeliveryStatus, entry: HistoryEntry) -> None:
        """The delivery child's state after a change, and its history entry."""
        self.status.delivery = delivery
        self.status.history.append(entry)

    def documents_offered(self) -> None:
        self.status.documents = []

    def document_issued(self, name: str) -> None:
        documents = self.status.documents
        assert documents is not None
        if name not in documents:
            documents.append(name)
        self.record("document.issued", name)

    # ------------------------------------------------------------- stages and the end
    def cancel_open_stages(self) -> None:
        now = workflow.now()
        for stage in self.status.stages.tracked():
            if stage.state in OPEN_STATES:
                stage.state = "cancelled"
                stage.finished_at = now

    def finish_overall(self, stage: CaseStage) -> None:
        """The case's end as the status document states it (before any closing document is made)."""
        now = workflow.now()
        overall = self.status.stages.overall
        overall.finished_at = overall.finished_at or now
        overall.state = "done" if stage == "completed" else "cancelled"
        if stage == "completed":
            self.status.completed_at = self.status.completed_at or now

    def close(self, stage: CaseStage, reason: str | None) -> None:
        self.status.reason = reason
        self.status.supplement = None
        self.finish_overall(stage)
        for part in self.status.stages.tracked():
            if part.state in OPEN_STATES:
                part.state = "cancelled"
        self.set_stage(stage)
        self.waiting_for = ""
        self.record(stage, reason or "")
        self.publish()

    # ------------------------------------------------------------- the Web UI
    def wait_for(self, what: str) -> None:
        """What the case waits for now, shown in the current details."""
        self.waiting_for = what
        self.publish()

    def publish(self) -> None:
        """What ops read in the Web UI's current details: stage and what the case waits for."""
        s, enterprise = self.status, self.app.enterprise
        district = ANYANG_DISTRICTS.get(enterprise.district_code, "")
        lines = [
            f"**{enterprise.name}** ({district} {enterprise.district_code})",
            f"stage: `{s.stage}`  SLA: `{s.sla_status}`",
        ]
        if s.uscc:
            lines.append(f"USCC: {s.uscc}")
        if not s.is_final:
            lines += [
                f"**needs an operator** ({a.stage}): {a.reason}. Actions: {', '.join(a.actions)} "
                "(POST /v1/applications/{id}/actions or `starter.py act`)"
                for a in s.attentions
            ]
        if self.waiting_for and not s.is_final:
            lines.append(f"waiting for: {self.waiting_for}")
        if (d := s.delivery) is not None and d.state not in ("awaiting_dispatch", "not_applicable"):
            # The parcel as ops follow it: waybill and state only (no names, phones or addresses).
            lines.append(
                f"delivery: `{d.method}`  state: `{d.state}`"
                + (f"  EMS waybill: {d.waybill_no}" if d.waybill_no else "")
                + (f"  pickup at: {d.pickup_at}" if d.pickup_at else "")
            )
        lines += self._due_lines()
        if breached := s.breached_stages:
            lines.append(f"breached: {', '.join(breached)}")
        if s.reason:
            lines.append(f"reason: {s.reason}")
        workflow.set_current_details("\n\n".join(lines))
        if self._observer is not None:
            self._observer(s.stage, s.attention)

    def _due_lines(self) -> list[str]:
        lines = []
        for name in self._watched:
            stage = self.status.stages.of(name)
            if stage.deadline is not None:
                lines.append(f"{name} due {local_hm(stage.deadline, self._zone)} ({stage.sla})")
        return lines


def local_hm(moment: datetime, zone: tzinfo) -> str:
    """A moment as ops read it: the time of day, with the date when it is not today."""
    local = moment.astimezone(zone)
    today = workflow.now().astimezone(zone).date()
    return local.strftime("%H:%M") if local.date() == today else local.strftime("%m-%d %H:%M")
