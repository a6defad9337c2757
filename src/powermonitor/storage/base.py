"""The ``Store`` interface every backend (SQLite, PostgreSQL) implements, and its row types.

Times are Unix seconds (float, UTC) at this boundary; energy in Wh, power in W, cost in the
tariff's currency. A :class:`Sample` already carries the energy and cost that the energy
integrator (``energy.py``) and the tariff (``tariff.py``) assigned to the interval ending at
it, so the store only adds and rolls up: it never integrates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

from ..errors import UsageError

Period = Literal["hour", "day", "week", "month"]
"""Calendar periods energy is summed by (in the tariff's time zone)."""
Resolution = Literal["raw", "1m", "1h", "1d"]
"""History tiers: raw samples and the 1 min / 1 h / 1 day rollups."""


def pick_resolution(span_s: float) -> Resolution:
    """The resolution a chart of ``span_s`` seconds needs: ≤2 h raw, ≤2 d 1 min, ≤60 d 1 h, 1 d
    (a few thousand points at most; the API and ``powermonitor history`` both use it)."""
    if span_s <= 2 * 3600:
        return "raw"
    if span_s <= 2 * 86400:
        return "1m"
    if span_s <= 60 * 86400:
        return "1h"
    return "1d"


@dataclass(frozen=True, slots=True)
class Sample:
    """One stored reading plus what it added to the plug's energy account."""

    device_id: str
    ts: float  # Unix seconds, UTC
    power_w: float | None
    voltage_v: float | None = None
    current_a: float | None = None
    switch: bool | None = None
    interval_wh: float = 0.0  # energy of the interval ending at ts (0 after a gap)
    covered_s: float = 0.0  # seconds of that interval counted as measured
    uncovered_s: float = 0.0  # seconds of that interval lost to a gap (offline)
    cost: float = 0.0  # cost of interval_wh under the tariff
    total_wh: float = 0.0  # the plug's running total after this sample (never decreases)


@dataclass(frozen=True, slots=True)
class Counter:
    """A plug's persisted running totals: where integration resumes after a restart."""

    device_id: str
    total_wh: float
    total_cost: float
    last_ts: float | None
    last_power_w: float | None


@dataclass(frozen=True, slots=True)
class DeviceRow:
    device_id: str
    name: str


class EnergyRow(NamedTuple):
    """kWh, cost and coverage of one plug over one period.

    A named tuple, not a frozen dataclass: a year of days for 50 plugs is 18,000 rows, and a
    tuple is built straight from the database row (``tuple.__new__``) for a fifth of the cost
    (bench/README.md, "Storage")."""

    device_id: str
    start: float  # period start, Unix seconds (a local-calendar boundary for day/week/month)
    end: float
    wh: float
    cost: float
    covered_s: float
    uncovered_s: float = 0.0  # seconds of the period lost to gaps (plug offline)


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    ts: float  # bucket start (or the sample time for raw)
    power_w: float | None  # mean over the bucket
    power_min_w: float | None
    power_max_w: float | None
    voltage_v: float | None
    current_a: float | None
    wh: float
    covered_s: float
    uncovered_s: float = 0.0  # seconds of the bucket lost to a gap
    readings: int = 0  # readings that fell in the bucket (1 for raw)


@dataclass(frozen=True, slots=True)
class Retention:
    """How long each tier is kept, in days (``None`` = forever). Applied by ``Store.purge``."""

    raw_days: float | None = 14
    minute_days: float | None = 90
    hour_days: float | None = None
    day_days: float | None = None

    def __post_init__(self) -> None:
        for name in ("raw_days", "minute_days", "hour_days", "day_days"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise UsageError(f"retention {name} must be a positive number of days or None")


DEFAULT_RETENTION = Retention()


class Store(Protocol):
    """What the service needs from a database. One writer task owns all writes."""

    async def open(self) -> None:
        """Connect, create or migrate the schema; raise StorageError with a clear message."""

    async def close(self) -> None: ...

    async def write(self, samples: Sequence[Sample], names: dict[str, str]) -> None:
        """Insert samples, update counters and rollups in ONE transaction (all or nothing)."""

    async def backfill(
        self, samples: Sequence[Sample], names: dict[str, str], *, now: float | None = None
    ) -> None:
        """:meth:`write` for loading history (the demo's past week, an import): rows that
        retention would already delete (relative to ``now``, default the current time) are not
        written (raw samples older than ``raw_days``, minute buckets older than
        ``minute_days``); hours, days and counters get everything. Duplicates are recognised
        only among samples kept raw."""

    async def counters(self) -> dict[str, Counter]: ...

    async def devices(self) -> list[DeviceRow]: ...

    async def energy(
        self, by: Period, since: float, until: float, device_ids: Sequence[str] | None = None
    ) -> list[EnergyRow]:
        """kWh/cost/coverage per plug and period, from the rollups (local calendar periods)."""

    async def history(
        self, device_id: str, since: float, until: float, resolution: Resolution
    ) -> list[SeriesPoint]: ...

    async def purge(self, now: float) -> int:
        """Apply retention per tier; return rows removed."""

    async def transact(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        """Run portable ``?``-parameter statements in one transaction; the rows of each."""
