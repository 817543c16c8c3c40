"""The bench's own settings: ``BENCH_*`` variables (the ``ODS_*`` ones are set by the bench itself)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from devstack import PROJECT_ROOT

PARTS = ("documents", "throughput", "workers", "outage", "scale", "timers", "intake")
"""Every part, in the order ``--part all`` runs them: the documents part needs no stack (run alone,
none is started) and goes first, on a quiet machine; the intake part leaves thousands of cases
that no worker runs, and the scale and timers parts leave theirs parked, so they come last (the
outage part's cases complete once its partners recover)."""

STACKLESS = frozenset({"documents"})
"""Parts that need no stack: a run of only these starts none."""

DEFAULT_RESULTS = PROJECT_ROOT / "bench" / "results.json"
DEFAULT_DATA_DIR = PROJECT_ROOT / "var" / "bench"


class BenchSettings(BaseSettings):
    """The defaults are what fits ``make bench`` in 15 minutes on a 2-core machine (README,
    Performance). The sizes of the issue that asked for the benchmark (1000 setups, 5000 open, 2000
    timers) take about an hour there: ``BENCH_SETUPS=1000 BENCH_OPEN=5000 BENCH_TIMERS=2000``."""

    model_config = SettingsConfigDict(env_prefix="BENCH_", extra="ignore")

    setups: int = Field(default=250, ge=1)
    """Cases end to end in the throughput part (and the baseline workflows beside them)."""
    worker_setups: int | None = Field(default=None, ge=1)
    """Cases per run of the workers part; ``setups`` when unset."""
    intake_requests: int = Field(default=2000, ge=1)
    intake_concurrency: int = Field(default=32, ge=1)
    concurrency: int = Field(default=32, ge=1)
    """How many clients submit at once in the other parts."""
    open: int = Field(default=500, ge=1)
    """Cases parked on the seal shop in the scale part."""
    timers: int = Field(default=300, ge=1)
    """Cases whose at-risk points fall within the same minute in the timers part."""
    timer_spread_s: float = Field(default=55.0, ge=0)
    """Over how many seconds the timers part submits its cases: their at-risk points fall that far
    apart, within the same minute (0: all at once, a harsher burst)."""
    timer_offset_s: int | None = Field(default=None, ge=2)
    """Seconds from a case's start to its at-risk point; by default long enough for every case to
    be parked first (from the parking rate the scale part measured, else 3 cases/s)."""
    outage: int = Field(default=250, ge=1)
    """Cases applying for all six items while four partners hang, in the outage part."""
    outage_hang_s: float = Field(default=30.0, ge=0, le=120)
    """How long the tax bureau, social insurance, housing fund and bank hold each answer then."""
    outage_at_risk_s: int = Field(default=60, ge=2)
    """Seconds from a case's start to its overall promise's at-risk point in the outage part."""
    outage_spread_s: float = Field(default=55.0, ge=0)
    """Over how many seconds the outage part submits its cases, as the timers part does (0: all at
    once, a harsher burst: their at-risk points and first partner answers then fall together)."""
    document_drawings: int = Field(default=30, ge=20)
    """Measured drawings of each document kind in the documents part (after a few to warm up)."""
    park_rate: float = Field(default=3.0, gt=0)
    """Cases parked per second, assumed when no scale part has measured it."""
    stall_s: float = Field(default=300.0, gt=0)
    """A wait that sees no progress this long fails the part."""
    data_dir: Path = DEFAULT_DATA_DIR
    results: Path = DEFAULT_RESULTS

    @property
    def setups_per_worker_run(self) -> int:
        return self.worker_setups or self.setups
