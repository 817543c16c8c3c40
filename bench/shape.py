"""The shape of a case as Temporal sees it, counted from its history and its children's.

``count_shape`` reads a finished case (``setup-<id>``) and every child it started (the
``PostalDelivery`` of a postal case, …) and turns each history into a :class:`Shape`: how many
events of each kind, and the commands of each workflow task in order (:class:`Batch`). The baseline
workflow (``bench/baseline.py``) plays a shape back with activities that do nothing, so it has the
same activities, timers, signals, updates, child workflows, search-attribute upserts and markers per
case as the real one.

This module is imported by the baseline's workflow code: models and pure functions only here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

# A timer the real case cancelled is started for this long by the baseline and cancelled as the real
# one was; it never fires.
HELD_TIMER_S = 24 * 3600.0
# A timer that fired in the real case fires in the baseline after as long, at most this.
FIRED_TIMER_MAX_S = 1.0

# History event kinds as reported (EVENT_TYPE_ dropped, lower case).
ACTIVITIES = "activity_task_scheduled"
TIMERS = "timer_started"
TIMERS_FIRED = "timer_fired"
TIMERS_CANCELED = "timer_canceled"
SIGNALS_RECEIVED = "workflow_execution_signaled"
SIGNALS_SENT = "signal_external_workflow_execution_initiated"
UPDATES = "workflow_execution_update_accepted"
CHILDREN = "start_child_workflow_execution_initiated"
UPSERTS = "upsert_workflow_search_attributes"
MARKERS = "marker_recorded"
WORKFLOW_TASKS = "workflow_task_completed"
# The marker the SDK records for each local activity (a patch's is ``core_patch``).
LOCAL_ACTIVITY_MARKER = "core_local_activity"
# The search attribute the SDK upserts along with every ``workflow.patched`` marker.
CHANGE_VERSION = "TemporalChangeVersion"

# What the report shows per case, and the baseline matches.
SUMMARY_KINDS: dict[str, str] = {
    "activities": ACTIVITIES,
    "timers": TIMERS,
    "timers_fired": TIMERS_FIRED,
    "timers_canceled": TIMERS_CANCELED,
    "signals_received": SIGNALS_RECEIVED,
    "signals_sent": SIGNALS_SENT,
    "updates": UPDATES,
    "child_workflows": CHILDREN,
    "upserts": UPSERTS,
    "markers": MARKERS,
    "workflow_tasks": WORKFLOW_TASKS,
}


class Batch(BaseModel):
    """The commands one workflow task of the real case issued (in this order in the baseline)."""

    held_timers: int = 0
    """Timers started that the case later cancelled (or left running when it closed)."""
    fired_timers_s: list[float] = Field(default_factory=list)
    """Timers started that fired: after how long (capped at ``FIRED_TIMER_MAX_S``)."""
    cancel_timers: list[int] = Field(default_factory=list)
    """Held timers cancelled here, by their number among the held timers in start order."""
    upserts: int = 0
    markers: int = 0
    """Patch markers (each a ``workflow.patched`` in the baseline)."""
    local_activities: int = 0
    """Local activities recorded here (a marker each): run as local activities in the baseline too."""
    children: int = 0
    """Child workflows started here (the next ones of ``Shape.children``)."""
    signal_children: list[int] = Field(default_factory=list)
    """One signal to each listed child (by its number in ``Shape.children``)."""
    signal_parent: int = 0
    activities: int = 0
    """Activities scheduled here, run side by side."""

    def is_empty(self) -> bool:
        return not (
            self.held_timers
            or self.fired_timers_s
            or self.cancel_timers
            or self.upserts
            or self.markers
            or self.local_activities
            or self.children
            or self.signal_children
            or self.signal_parent
            or self.activities
        )


class Shape(BaseModel):
    """One workflow of a case (the case itself or a child): its events and its commands."""

    workflow_type: str
    events: dict[str, int]
    batches: list[Batch]
    signals_received: int = 0
    """Every signal it received: from outside (the gateway, the driver) and from its family."""
    external_signals: int = 0
    """Those sent from outside the case's workflows (the gateway passing partner callbacks on)."""
    updates: int = 0
    history_bytes: int = 0
    """The history's events as stored (their protobuf size, payloads encrypted)."""
    payload_bytes: int = 0
    """The part of ``history_bytes`` that is payloads (inputs, results, details, failures' details)."""
    children: list[Shape] = Field(default_factory=list)

    def walk(self) -> list[Shape]:
        """This workflow and every descendant, parents first."""
        found = [self]
        for child in self.children:
            found += child.walk()
        return found

    def totals(self) -> dict[str, int]:
        """Per kind (``SUMMARY_KINDS``), summed over the whole family, plus ``events``."""
        family = self.walk()
        totals = {name: sum(s.events.get(kind, 0) for s in family) for name, kind in SUMMARY_KINDS.items()}
        totals["events"] = sum(sum(s.events.values()) for s in family)
        totals["history_bytes"] = sum(s.history_bytes for s in family)
        totals["payload_bytes"] = sum(s.payload_bytes for s in family)
        totals["workflows"] = len(family)
        return totals

    def per_workflow(self) -> list[dict[str, Any]]:
        """Per workflow of the family: its type and its counts per kind."""
        return [
            {
                "workflow_type": s.workflow_type,
                "events": sum(s.events.values()),
                **{name: s.events.get(kind, 0) for name, kind in SUMMARY_KINDS.items()},
                "external_signals": s.external_signals,
                "history_bytes": s.history_bytes,
                "payload_bytes": s.payload_bytes,
            }
            for s in self.walk()
        ]


class BaselinePlan(BaseModel):
    """The input of a baseline workflow: the shape to play, and who its parent is (for signals)."""

    shape: Shape
    parent_workflow_id: str | None = None


# --------------------------------------------------------------------------- reading histories
def _kind(event_type_name: str) -> str:
    return event_type_name.removeprefix("EVENT_TYPE_").lower()


def shape_of_history(
    workflow_type: str,
    events: Sequence[Any],
    event_type_name: Any,
) -> tuple[Shape, list[str], dict[str, int]]:
    """One history (``temporalio.api.history.v1.HistoryEvent`` list) as a Shape without children.

    Returns the shape, the workflow ids of the children it started (in order) and how many signals
    it sent to each workflow id. ``event_type_name`` maps an event type number to its enum name."""
    kinds = [_kind(event_type_name(e.event_type)) for e in events]
    counts = Counter(kinds)
    fired: dict[str, float] = {}
    for e, kind in zip(events, kinds, strict=True):
        if kind == TIMERS_FIRED:
            fired[e.timer_fired_event_attributes.timer_id] = 0.0
    held_number: dict[str, int] = {}
    child_ids: list[str] = []
    sent: Counter[str] = Counter()
    batches: list[Batch] = []
    batch = Batch()  # commands before the first completed task cannot happen; kept for safety
    for e, kind in zip(events, kinds, strict=True):
        if kind == WORKFLOW_TASKS:
            batches.append(batch)
            batch = Batch()
        elif kind == TIMERS:
            attrs = e.timer_started_event_attributes
            if attrs.timer_id in fired:
                seconds = attrs.start_to_fire_timeout.ToTimedelta().total_seconds()
                batch.fired_timers_s.append(min(seconds, FIRED_TIMER_MAX_S))
            else:
                held_number[attrs.timer_id] = len(held_number)
                batch.held_timers += 1
        elif kind == TIMERS_CANCELED:
            number = held_number.get(e.timer_canceled_event_attributes.timer_id)
            if number is not None:
                batch.cancel_timers.append(number)
        elif kind == ACTIVITIES:
            batch.activities += 1
        elif kind == UPSERTS:
            # The SDK upserts TemporalChangeVersion itself with each patch marker: not one of ours.
            fields = set(
                e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
            )
            if not fields <= {CHANGE_VERSION}:
                batch.upserts += 1
        elif kind == MARKERS:
            if e.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER:
                batch.local_activities += 1
            else:
                batch.markers += 1
        elif kind == CHILDREN:
            child_ids.append(e.start_child_workflow_execution_initiated_event_attributes.workflow_id)
            batch.children += 1
        elif kind == SIGNALS_SENT:
            target = e.signal_external_workflow_execution_initiated_event_attributes.workflow_execution
            sent[target.workflow_id] += 1
            if target.workflow_id in child_ids:
                batch.signal_children.append(child_ids.index(target.workflow_id))
            else:
                batch.signal_parent += 1
    batches.append(batch)
    shape = Shape(
        workflow_type=workflow_type,
        events=dict(sorted(counts.items())),
        batches=[b for b in batches if not b.is_empty()],
        signals_received=counts.get(SIGNALS_RECEIVED, 0),
        updates=counts.get(UPDATES, 0),
    )
    return shape, child_ids, dict(sent)


def external_signals(received: int, sent_by_family: int) -> int:
    """Signals that came from outside the case's workflows: received less those its family sent."""
    return max(received - sent_by_family, 0)
