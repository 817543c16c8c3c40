"""The SLA policy file (``ODS_SLA_POLICY``, a TOML file): promised limits and the clock they run on.

The policy is a pydantic model so that the policy in force when a case starts can be captured
into the workflow input: editing the file later never changes a running case. Durations keep the
text the operator wrote ("4h", "1h30m") and are parsed on use.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from domain.districts import CITY_ZONE_NAME
from domain.policy_files import PolicyFileError, load_policy_file
from domain.status import StageName

Clock = Literal["working_hours", "wall"]

DEFAULT_WORKING_HOURS: tuple[str, ...] = ("09:00-12:00", "13:00-17:00")

_DURATION = re.compile(r"(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")
# The ``[rating]`` keys may also count working days (``"5d"``, ``"1d4h"``).
_DAYS = re.compile(r"(?:(?P<d>\d+)d)?(?P<rest>.*)")
_BLOCK = re.compile(r"(?P<sh>\d\d):(?P<sm>\d\d)-(?P<eh>\d\d):(?P<em>\d\d)")
_DAY = timedelta(days=1)


class SlaPolicyError(PolicyFileError):
    """The SLA policy file cannot be used; the message names the file and every offending key."""


class WorkingBlock(NamedTuple):
    """One block of a working day, as offsets from local midnight (09:00-12:00 is 9h to 12h)."""

    start: timedelta
    end: timedelta


def parse_duration(text: str) -> timedelta:
    """``"4h"``, ``"90m"``, ``"30s"``, ``"1h30m"`` → timedelta. Units h, m, s in that order; positive."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or not any(match.groupdict().values()):
        raise ValueError(f'"{text}" is not a duration (use s, m or h, e.g. "4h")')
    hours, minutes, seconds = (int(match[unit] or 0) for unit in ("h", "m", "s"))
    value = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    if value <= timedelta(0):
        raise ValueError(f'"{text}" is not a positive duration')
    return value


def parse_days_duration(text: str, working_day: timedelta) -> timedelta:
    """``"5d"``, ``"1d4h"``, ``"4h"`` → timedelta, a ``d`` being ``working_day`` (the working hours of
    one day on the policy's clock: 7h for the default blocks, 24h on the wall clock)."""
    match = _DAYS.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f'"{text}" is not a duration (use d, h, m or s, e.g. "5d" or "4h")')
    days = int(match["d"] or 0)
    rest = match["rest"]
    if not rest:
        if not days:
            raise ValueError(f'"{text}" is not a positive duration')
        return working_day * days
    try:
        return working_day * days + parse_duration(rest)
    except ValueError:
        raise ValueError(f'"{text}" is not a duration (use d, h, m or s, e.g. "5d" or "4h")') from None


def parse_working_block(text: str) -> WorkingBlock:
    """``"09:00-12:00"`` → WorkingBlock(9h, 12h). The end may be ``24:00``; the start must precede it."""
    match = _BLOCK.fullmatch(text.strip())
    if match is None:
        raise ValueError(f'"{text}" is not a working block (write "HH:MM-HH:MM", e.g. "09:00-12:00")')
    sh, sm, eh, em = (int(match[k]) for k in ("sh", "sm", "eh", "em"))
    if sh > 23 or sm > 59 or em > 59 or eh > 24 or (eh == 24 and em != 0):
        raise ValueError(
            f'"{text}" is not a time of day range (hours 00-23, minutes 00-59, or an end of 24:00)'
        )
    block = WorkingBlock(timedelta(hours=sh, minutes=sm), timedelta(hours=eh, minutes=em))
    if block.start >= block.end:
        raise ValueError(f'"{text}" ends before it starts (a block must lie within one day)')
    return block


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text


def _check_working_block(text: str) -> str:
    parse_working_block(text)
    return text


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'"{name}" is not a known IANA time zone (e.g. "{CITY_ZONE_NAME}")') from None
    return name


def _iso_date(value: Any) -> Any:
    # TOML writes dates bare (2027-01-01) or as strings; anything else (numbers, datetimes) is a mistake
    # pydantic's lax mode would otherwise accept as a Unix timestamp.
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise PydanticCustomError(
        "iso_date", "{value} is not an ISO date (write YYYY-MM-DD)", {"value": repr(value)}
    )


def _check_days_duration(text: str) -> str:
    parse_days_duration(text, timedelta(hours=1))
    return text


Duration = Annotated[str, AfterValidator(_check_duration)]
DaysDuration = Annotated[str, AfterValidator(_check_days_duration)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class SlaLimits(BaseModel):
    """The promise per stage, on the policy's clock (``[limits]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    registration: Duration = "4h"
    seal_carving: Duration = "2h"
    invoice: Duration = "1h"
    overall: Duration = "7h"
    delivery: Duration = "14h"
    social_insurance: Duration = "2h"
    housing_fund: Duration = "2h"
    bank_account: Duration = "2h"


RatingPromise = Literal["call_back", "resolve", "verdict_window"]


class RatingLimits(BaseModel):
    """The follow-up of a bad rating (``[rating]``, 好差评), on the policy's clock; ``d`` counts
    working days. ``call_back``: the applicant called back (回访核实) from the rating; ``resolve``: put
    right or explained, with the answer to the applicant, from the rating; ``verdict_window``: how
    long the applicant may rate the answer before the follow-up closes without a verdict."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    call_back: DaysDuration = "4h"
    resolve: DaysDuration = "5d"
    verdict_window: DaysDuration = "10d"


class SlaPolicy(BaseModel):
    """The SLA policy in force for a case. Every key may be left out of the file: it then has the
    default written here (summed up in the README's configuration table)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clock: Clock = "working_hours"
    timezone: Annotated[str, AfterValidator(_check_timezone)] = CITY_ZONE_NAME
    working_hours: list[Annotated[str, AfterValidator(_check_working_block)]] = Field(
        default_factory=lambda: list(DEFAULT_WORKING_HOURS)
    )
    at_risk_fraction: float = Field(default=0.75, gt=0, lt=1, strict=True)
    supplement_window: Duration = "35h"
    # How many times the applicant is asked to correct the name before the case is rejected.
    supplement_rounds: int = Field(default=3, ge=1, le=20, strict=True)
    # A case whose history passes this many events raises a needs_attention alert (a typical case
    # has a few hundred; Temporal's own limit is 51,200).
    history_alert_events: int = Field(default=2000, ge=50, le=50_000, strict=True)
    # Documents waiting this long (wall time) for a worker to draw them raise a needs_attention alert.
    documents_patience: Duration = "10m"
    # A partner with no successful answer this long (on the policy's clock): an operator is asked.
    partner_patience: Duration = "30m"
    extra_holidays: list[IsoDate] = Field(default_factory=list)
    extra_workdays: list[IsoDate] = Field(default_factory=list)
    limits: SlaLimits = Field(default_factory=SlaLimits)
    rating: RatingLimits = Field(default_factory=RatingLimits)

    @field_validator("working_hours")
    @classmethod
    def _blocks_in_order(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError('needs at least one block, e.g. ["09:00-12:00", "13:00-17:00"]')
        blocks = [parse_working_block(text) for text in value]
        for before, after, text in zip(blocks, blocks[1:], value[1:], strict=False):
            if after.start < before.end:
                raise ValueError(
                    f'"{text}" starts before the block ahead of it ends (list blocks in order, apart)'
                )
        return value

    @field_validator("extra_workdays")
    @classmethod
    def _not_also_a_holiday(cls, value: list[date], info: ValidationInfo) -> list[date]:
        both = sorted(set(value) & set(info.data.get("extra_holidays", ())))
        if both:
            raise ValueError(
                ", ".join(d.isoformat() for d in both)
                + " also listed in extra_holidays (a day is one or the other)"
            )
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def working_blocks(self) -> tuple[WorkingBlock, ...]:
        return tuple(parse_working_block(text) for text in self.working_hours)

    @property
    def supplement_window_td(self) -> timedelta:
        """How long the applicant has to supplement materials (补正), on the policy's clock."""
        return parse_duration(self.supplement_window)

    @property
    def documents_patience_td(self) -> timedelta:
        """How long a case's documents may wait for a worker to draw them before it says so."""
        return parse_duration(self.documents_patience)

    @property
    def partner_patience_td(self) -> timedelta:
        """How long a partner may go without a successful answer before an operator is asked."""
        return parse_duration(self.partner_patience)

    @property
    def working_day(self) -> timedelta:
        """One ``d`` of the ``[rating]`` keys: a day's working hours (24h on the wall clock)."""
        if self.clock == "wall":
            return _DAY
        return sum((b.end - b.start for b in self.working_blocks), timedelta(0))

    def rating_limit(self, promise: RatingPromise) -> timedelta:
        """The ``[rating]`` promise as working time (``"5d"``: five days' working hours)."""
        return parse_days_duration(getattr(self.rating, promise), self.working_day)

    def limit(self, stage: StageName | str) -> timedelta:
        """The promised time for ``stage`` (registration, seal_carving, invoice, overall, delivery)."""
        if stage not in SlaLimits.model_fields:
            raise ValueError(
                f"unknown stage {stage!r}; stages with a limit: {', '.join(SlaLimits.model_fields)}"
            )
        return parse_duration(getattr(self.limits, stage))


def load_sla_policy(path: Path | None) -> SlaPolicy:
    """The SLA policy file at ``path`` (None → the defaults); SlaPolicyError otherwise."""
    return load_policy_file(
        path,
        SlaPolicy,
        SlaPolicyError,
        what="SLA policy",
        sections={"limits": SlaLimits, "rating": RatingLimits},
    )
