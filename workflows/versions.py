"""The patches of the workflows, and the one that takes them all as given for new runs.

Each change to a workflow that may have running executions went in behind ``workflow.patched``,
and every new run recorded one marker per patch it met: ten in a case's history, each a
``MARKER_RECORDED`` event the server stores and every replay reads. A run begun under
:data:`LEAN_PATCH` records that one marker and takes every earlier patch as applied without a
marker of its own; a run begun before it (its history has no ``lean-case-v1`` marker) asks each
patch as it always did, so every committed history replays unchanged. Where a lean run does its
work differently (fewer events for the same business, README "Performance"), the code asks
:func:`lean`.

The SDK keeps the first answer to each patch for the whole run: :func:`lean` is asked before any
other patch (by :func:`patched`), so a run is lean from its first workflow task or never. A run
begun under ``lean-case-v1`` replays with ``lean-case-v2`` answered False (no marker in its
history) and ``lean-case-v1`` True; a new run records ``lean-case-v2`` alone.
"""

from __future__ import annotations

from temporalio import workflow

LEAN_PATCH = "lean-case-v1"
# Lean, and a case carries its postal delivery itself instead of in a ``PostalDelivery`` child
# (workflows/delivery_handoff.py). A run records one of the two markers: new runs this one.
LEAN_V2_PATCH = "lean-case-v2"


def lean() -> bool:
    """Whether this run began under :data:`LEAN_PATCH` or :data:`LEAN_V2_PATCH` (one marker, at its
    first patch)."""
    return lean_v2() or workflow.patched(LEAN_PATCH)


def lean_v2() -> bool:
    """Whether this run began under :data:`LEAN_V2_PATCH` (its history's first marker)."""
    return workflow.patched(LEAN_V2_PATCH)


def patched(patch_id: str) -> bool:
    """``workflow.patched(patch_id)``, taken as True without a marker of its own in a lean run."""
    return lean() or workflow.patched(patch_id)
