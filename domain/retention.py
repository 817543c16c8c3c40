"""The retention policy file (``ODS_RETENTION_POLICY``, TOML), and what its schedule runs with.

PIPL Art. 47: personal data is deleted once the purpose is served and the retention period is over.
A closed case is erased (``service/erasure.py``) ``erase_closed_after_days`` days after it closed, by
the Temporal Schedule ``ods-retention`` that ``python starter.py setup-namespace`` creates from this
file (``infra/retention.py``), every day at ``daily_at`` in the city's time zone. Without the file,
or without the key, nothing is erased by itself (and setup-namespace removes the schedule).

    # retention.toml
    erase_closed_after_days = 1095   # three years after the case closed
    daily_at = "02:30"               # when the schedule looks (Asia/Shanghai)

The input and outcome of the run (``workflows/retention.py``) hold days, times and counts only.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from domain.policy_files import PolicyFileError, load_policy_file

RETENTION_WORKFLOW = "Retention"
RETENTION_SCHEDULE_ID = "ods-retention"
ERASE_EXPIRED_CASES = "erase_expired_cases"  # the activity (activities/retention.py)
# What the erasure records as who and why (the audit log's actor and detail).
RETENTION_OPERATOR = "retention"
RETENTION_REASON = "retention period"


class RetentionPolicyError(PolicyFileError):
    """The retention policy file cannot be used; the message names the file and every offending key."""


def _clock_time(text: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", text):
        raise ValueError(f'{text!r} is not a time of day as HH:MM (e.g. "02:30")')
    return text


class RetentionPolicy(BaseModel):
    """How long a closed case is kept; None: for ever (no schedule)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    erase_closed_after_days: int | None = Field(default=None, ge=1, le=36500)
    daily_at: Annotated[str, AfterValidator(_clock_time)] = "02:30"

    @property
    def hour_minute(self) -> tuple[int, int]:
        hour, minute = self.daily_at.split(":")
        return int(hour), int(minute)


def load_retention_policy(path: Path | None) -> RetentionPolicy:
    """The retention policy file at ``path`` (None → keep for ever); RetentionPolicyError otherwise."""
    return load_policy_file(path, RetentionPolicy, RetentionPolicyError, what="retention policy")


class RetentionInput(BaseModel):
    """One run of the schedule: the cases of ``task_queue`` closed more than ``erase_closed_after_days``
    days before ``as_of`` (None: when the run starts) are erased."""

    erase_closed_after_days: int = Field(ge=1)
    task_queue: str
    as_of: datetime | None = None


class ExpiredCases(BaseModel):
    """The activity's request: the cases of ``task_queue`` closed before ``closed_before``."""

    task_queue: str
    closed_before: datetime


class RetentionCounts(BaseModel):
    """What a run did (and, while it runs, its activity's heartbeat): counts only."""

    found: int = 0
    erased: int = 0
    already_erased: int = 0
    skipped: int = 0
    """Listed as closed but refused (the case runs again, or its history is gone)."""


class RetentionOutcome(RetentionCounts):
    """A run's result: the cut-off and the counts."""

    closed_before: datetime
