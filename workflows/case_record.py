"""``CaseRecord``: the case as everyone else sees it, kept in one place.

The status document (answered by the ``status`` query), its history (the audit trail), the
search attributes ops filter on and the current details the Web UI shows all move together: a
stage says "record this" or "the case is now at that stage" and this object keeps the four in
step. What follows from the status document (``sla_status``, the breached stages) is derived
from it, never kept twice. No personal data goes into search attributes or details.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.application import Application, Delivery
    from domain.case_ids import application_id_of
    from domain.districts import ANYANG_DISTRICTS
    from domain.status import SLA_ORDER, CaseStage, HistoryEntry, StageName, StatusDocument
    from domain.subsidy import SubsidyDecision
    from infra.temporal import (
        SA_BREACHED_STAGES,
        SA_ENTERPRISE_NAME,
        SA_SETUP_STAGE,
        SA_SLA_STATUS,
        SA_SUBSIDY_GRANTED,
        SA_USCC,
    )

OPEN_STATES = ("pending", "running", "waiting")


ACCEPTED_AT_START_PATCH = "accepted-at-start-v1"


class CaseRejected(Exception):
    """A partner refused the case for good; it ends ``rejected`` with this reason."""


class CaseRecord:
    """The status document, history, search attributes and current details of one case, and the
    application as it stands (a supplement or a delivery change replaces it)."""

    def __init__(self, app: Application) -> None:
        info = workflow.info()
        self.app = app
        # Accepted when the gateway started the case, not when a worker first ran it (which, with
        # workers behind, is later: every promise would start late). Earlier cases keep theirs.
        accepted = info.workflow_start_time if workflow.patched(ACCEPTED_AT_START_PATCH) else info.start_time
        self.status = StatusDocument(
            application_id=application_id_of(info.workflow_id),
            workflow_id=info.workflow_id,
            stage="accepted",
            accepted_at=accepted,
        )
        self.waiting_for = ""
        # Lines about the promises being watched, supplied by the case's ``Promises``.
        self.promise_lines: Callable[[], list[str]] = list
        # Lines about the stages waiting for an operator, supplied by the case's ``OperatorDesk``.
        self.attention_lines: Callable[[], list[str]] = list
        # Told the stage and attention at each publish: the portal's push (``PortalNotifier``).
        self.observer: Callable[[str, Any], None] | None = None

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
        workflow.upsert_search_attributes([SA_ENTERPRISE_NAME.value_set(corrected.enterprise.name)])

    def change_delivery(self, delivery: Delivery) -> None:
        self.app = self.app.model_copy(update={"delivery": delivery})

    def set_subsidy(self, decision: SubsidyDecision) -> None:
        self.status.subsidy = decision.to_status()
        workflow.upsert_search_attributes([SA_SUBSIDY_GRANTED.value_set(decision.granted)])

    def promise_reached(self, stage: StageName, level: str) -> None:
        """A stage's promise moved (its ``sla`` is already set): refresh what is derived from it."""
        worst = self.status.worst_sla
        if SLA_ORDER[worst] > SLA_ORDER[self.status.sla_status]:
            self.status.sla_status = worst
            workflow.upsert_search_attributes([SA_SLA_STATUS.value_set(worst)])
        if level == "breached":
            breached = self.status.breached_stages
            workflow.upsert_search_attributes([SA_BREACHED_STAGES.value_set(list(breached))])

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
            lines += self.attention_lines()
        if self.waiting_for and not s.is_final:
            lines.append(f"waiting for: {self.waiting_for}")
        lines += self.promise_lines()
        if breached := s.breached_stages:
            lines.append(f"breached: {', '.join(breached)}")
        if s.reason:
            lines.append(f"reason: {s.reason}")
        workflow.set_current_details("\n\n".join(lines))
        if self.observer is not None:
            self.observer(s.stage, s.attention)
