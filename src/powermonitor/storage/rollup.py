"""Turning a batch of samples into rows: raw rows, rollup increments and counter updates.

Shared by every backend, pure (no I/O), so both databases store exactly the same numbers.

Bucket attribution (tested in tests/storage):

- A sample's READING (power, voltage, current) belongs to the bucket that contains its ``ts``.
- Its INTERVAL (``interval_wh``, ``cost``, ``covered_s``, ``uncovered_s``) covers
  ``[ts - covered_s - uncovered_s, ts]``. Where an interval is partly measured and partly a gap
  (the integrator reports an interval either fully covered or fully a gap, but merged backlog
  samples can mix them), the measured part is taken to come first, right after the previous
  reading, and the gap last. Energy, cost and covered seconds are **split proportionally to
  time** across every bucket the covered part overlaps, and uncovered seconds across every
  bucket the gap overlaps, so hourly and local-daily totals are exact even when an interval
  straddles a boundary (the last piece takes the remainder, so pieces add up to the sample).
- Exception, to keep the minute tier small: a gap's seconds are recorded there only in the
  minutes where the gap begins and ends. A plug offline for a week would otherwise write 10 080
  empty minute rows; the hour and day tiers carry every uncovered second.
- Buckets that get only gap time exist in the hour and day tiers with ``n = 0`` (so a day shows
  "offline 24 h"); ``history`` never returns them (gaps stay gaps).
"""

# Hot loops: explicit comparisons are faster than min()/max() calls here.
# ruff: noqa: PLR1730

from __future__ import annotations

import contextlib
import gc
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import add
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import UsageError
from .base import Period, Resolution, Retention, Sample

MINUTE_MS = 60_000
_NEVER = -(2**62)
HOUR_MS = 3_600_000
_INF = math.inf

# Accumulator layout of one rollup bucket (a list, mutated in place while a batch is planned).
N, PN, PSUM, PMIN, PMAX, VN, VSUM, CN, CSUM, WH, COST, COV, UNC = range(13)

Bucket = list[float]
Key = tuple[str, int]
SampleRow = tuple[
    str, int, float | None, float | None, float | None, bool | None, float, float, float, float
]
CounterRow = tuple[str, float, float, int, float | None]


def to_ms(ts: float) -> int:
    """Unix seconds (float) → integer milliseconds, the storage format."""
    return round(ts * 1000.0)


class Calendar:
    """Local-calendar arithmetic in one timezone, with caches (day boundaries repeat a lot)."""

    def __init__(self, timezone: str) -> None:
        try:
            self.tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise UsageError(
                f"unknown timezone {timezone!r} (use an IANA name such as 'Europe/Berlin' or 'UTC')"
            ) from exc
        self.name = timezone
        self._last = (0, 0)  # the last day looked up; one tuple, so threads never see a mix
        self._midnights: dict[date, int] = {}
        self._dates: dict[int, date] = {}

    def midnight(self, d: date) -> int:
        """Start of local day ``d`` in ms (the first instant of that date, DST-aware)."""
        ms = self._midnights.get(d)
        if ms is None:
            ms = round(datetime(d.year, d.month, d.day, tzinfo=self.tz).timestamp() * 1000)
            self._midnights[d] = ms
            self._dates.setdefault(ms, d)
        return ms

    def day(self, ts_ms: float) -> tuple[int, int]:
        """``(start, end)`` in ms of the local day containing ``ts_ms``."""
        last = self._last
        if last[0] <= ts_ms < last[1]:
            return last
        d = datetime.fromtimestamp(ts_ms / 1000.0, self.tz).date()
        lo, hi = self.midnight(d), self.midnight(d + timedelta(days=1))
        while ts_ms < lo:  # only around odd transitions (a local midnight that does not exist)
            d -= timedelta(days=1)
            lo, hi = self.midnight(d), lo
        while ts_ms >= hi:
            d += timedelta(days=1)
            lo, hi = hi, self.midnight(d + timedelta(days=1))
        self._last = (lo, hi)
        return lo, hi

    def date_of(self, day_start_ms: int) -> date:
        d = self._dates.get(day_start_ms)
        if d is None:
            d = datetime.fromtimestamp(day_start_ms / 1000.0, self.tz).date()
            self._dates[day_start_ms] = d
        return d

    def period(self, by: Period, ts_ms: int) -> tuple[int, int]:
        """``(start, end)`` in ms of the hour (UTC-aligned) / local day / ISO week / month."""
        if by == "hour":
            lo = ts_ms - ts_ms % HOUR_MS
            return lo, lo + HOUR_MS
        lo, hi = self.day(ts_ms)
        if by == "day":
            return lo, hi
        d = self.date_of(lo)
        if by == "week":
            monday = d - timedelta(days=d.weekday())
            return self.midnight(monday), self.midnight(monday + timedelta(days=7))
        if by == "month":
            first = d.replace(day=1)
            nxt = (first + timedelta(days=32)).replace(day=1)
            return self.midnight(first), self.midnight(nxt)
        raise UsageError(f"unknown period {by!r} (hour, day, week or month)")

    def span(self, by: Period, since_ms: int, until_ms: int) -> tuple[int, int]:
        """Whole periods overlapping ``[since, until)``: ``(first start, last end)``."""
        lo = self.period(by, since_ms)[0]
        hi = self.period(by, max(until_ms - 1, since_ms))[1]
        return lo, hi

    def floor(self, resolution: Resolution, ts_ms: int) -> int:
        """Start of the bucket of ``resolution`` containing ``ts_ms`` (raw: ``ts_ms`` itself)."""
        if resolution == "1m":
            return ts_ms - ts_ms % MINUTE_MS
        if resolution == "1h":
            return ts_ms - ts_ms % HOUR_MS
        if resolution == "1d":
            return self.day(ts_ms)[0]
        return ts_ms


def _minute(t: int) -> tuple[int, int]:
    lo = t - t % MINUTE_MS
    return lo, lo + MINUTE_MS


def _hour(t: int) -> tuple[int, int]:
    lo = t - t % HOUR_MS
    return lo, lo + HOUR_MS


def _new() -> Bucket:
    return [0, 0, 0.0, _INF, -_INF, 0, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0.0]


def _get(acc: dict[Key, Bucket], key: Key) -> Bucket:
    a = acc.get(key)
    if a is None:
        a = acc[key] = _new()
    return a


def _merge(dst: Bucket, a: Bucket) -> None:
    pmin, pmax = dst[PMIN], dst[PMAX]
    dst[:] = map(add, dst, a)  # every column is a sum but the extremes, put right below
    dst[PMIN] = min(pmin, a[PMIN])
    dst[PMAX] = max(pmax, a[PMAX])


def _reading(a: Bucket, p: float | None, v: float | None, c: float | None) -> None:
    a[N] += 1
    if p is not None:
        a[PN] += 1
        a[PSUM] += p
        if p < a[PMIN]:
            a[PMIN] = p
        if p > a[PMAX]:
            a[PMAX] = p
    if v is not None:
        a[VN] += 1
        a[VSUM] += v
    if c is not None:
        a[CN] += 1
        a[CSUM] += c


def _spread(
    acc: dict[Key, Bucket],
    dev: str,
    ts: int,
    start: int,
    cov_ms: int,
    s: Sample,
    bounds: Callable[[int], tuple[int, int]],
    sparse_gap: bool,
    floor: int = _NEVER,
) -> None:
    """Split one sample's interval over the buckets given by ``bounds`` (see module doc)."""
    wh0, cost0, cov0 = s.interval_wh, s.cost, s.covered_s
    wh, cost, cov = wh0, cost0, cov0  # what is left to place
    mid = start + cov_ms
    if cov_ms > 0:
        t = start
        while t < mid:
            lo, hi = bounds(t)
            a = _get(acc, (dev, lo)) if lo >= floor else _new()  # below the floor: not kept
            if hi >= mid:  # last piece: the remainder, so the pieces add up exactly
                a[WH] += wh
                a[COST] += cost
                a[COV] += cov
                break
            f = (hi - t) / cov_ms
            a[WH] += wh0 * f
            a[COST] += cost0 * f
            a[COV] += cov0 * f
            wh -= wh0 * f
            cost -= cost0 * f
            cov -= cov0 * f
            t = hi
    elif (wh or cost or cov) and bounds(ts)[0] >= floor:  # too short to place: reading's bucket
        a = _get(acc, (dev, bounds(ts)[0]))
        a[WH] += wh
        a[COST] += cost
        a[COV] += cov
    unc = s.uncovered_s
    unc_ms = ts - mid
    if unc_ms > 0 and unc > 0:
        t = mid
        last_lo = bounds(ts - 1)[0]
        while t < ts:
            lo, hi = bounds(t)
            e = min(hi, ts)
            if lo >= floor:
                _get(acc, (dev, lo))[UNC] += unc * (e - t) / unc_ms
            t = e
            if sparse_gap and t < last_lo:
                t = last_lo
    elif unc > 0 and bounds(ts)[0] >= floor:
        _get(acc, (dev, bounds(ts)[0]))[UNC] += unc


@dataclass(slots=True)
class Plan:
    """Everything one ``write`` stores, computed before the transaction opens (the raw rows
    as :meth:`rows` yields them)."""

    samples: Sequence[Sample] = ()
    raw_floor: int = _NEVER
    row_count: int = 0  # how many raw rows :meth:`rows` yields
    rollups: dict[str, list[tuple[object, ...]]] = field(default_factory=dict)
    counters: list[CounterRow] = field(default_factory=list)

    def rows(self) -> Iterator[SampleRow]:
        """The raw ``samples`` rows, made one at a time as the driver consumes them: a list of
        a whole batch of tuples would be walked by the garbage collector (bench/README.md,
        "Storage")."""
        floor = self.raw_floor
        for s in self.samples:
            ts = round(s.ts * 1000.0)
            if ts >= floor:
                yield (s.device_id, ts, s.power_w, s.voltage_v, s.current_a, s.switch,
                       s.interval_wh, s.covered_s, s.uncovered_s, s.cost)


def _rows(acc: dict[Key, Bucket], ends: Callable[[int], int] | None) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for (dev, lo), a in sorted(acc.items()):
        head: tuple[object, ...] = (dev, lo) if ends is None else (dev, lo, ends(lo))
        if a[PN]:
            out.append((*head, *a))
        else:  # no power reading: no extremes (NULL), not the accumulator's ±inf
            out.append((*head, a[N], 0, a[PSUM], None, None, *a[VN:]))
    return out


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch builds many small objects.

    Planning a batch (or reading a year of rows) allocates tens of thousands of acyclic tuples
    and lists; each 700 allocations start a collection, and the older generations' passes walk
    every long-lived object of the process. Measured, that was a third of planning time
    (bench/README.md, "Storage"). Nothing here makes cycles, so deferring collection loses
    nothing. If the collector is off already (the application's choice), it stays off; two
    threads pausing at once at worst collect early, never leave it off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def plan_batch(
    samples: Sequence[Sample],
    cal: Calendar,
    raw_floor: int | None = None,
    minute_floor: int | None = None,
) -> Plan:
    """Rows and increments for ``samples`` (assumed new: duplicates are filtered before).

    ``raw_floor``/``minute_floor`` (ms) leave out raw rows and minute buckets older than that
    (a backfill past the retention); hours, days and counters always get everything.
    """
    with gc_paused():
        return _plan(samples, cal, raw_floor, minute_floor)


def _plan(
    samples: Sequence[Sample], cal: Calendar, raw_floor: int | None, minute_floor: int | None
) -> Plan:
    raw_lo = _NEVER if raw_floor is None else raw_floor
    min_lo = _NEVER if minute_floor is None else minute_floor
    nrows = 0
    fast: dict[Key, Bucket] = {}  # minute buckets of samples whose interval fits their minute
    mins: dict[Key, Bucket] = {}
    hours: dict[Key, Bucket] = {}
    days: dict[Key, Bucket] = {}
    whole: dict[tuple[str, int, int], Bucket] = {}  # (dev, hour, local day) of whole intervals
    counters: dict[str, list[Any]] = {}  # [max total_wh, cost sum, last ts, last power]
    day = cal.day
    for s in samples:
        dev = s.device_id
        ts = round(s.ts * 1000.0)
        p, v, c = s.power_w, s.voltage_v, s.current_a
        wh, cost, cov, unc = s.interval_wh, s.cost, s.covered_s, s.uncovered_s
        if ts >= raw_lo:
            nrows += 1
        k = counters.get(dev)
        if k is None:
            counters[dev] = [s.total_wh, cost, ts, p]
        else:
            if s.total_wh > k[0]:
                k[0] = s.total_wh
            k[1] += cost
            if ts >= k[2]:
                k[2] = ts
                k[3] = p
        m = ts - ts % MINUTE_MS
        if ts - (cov + unc) * 1000.0 >= m:  # common case: the interval lies inside its minute
            a = fast.get((dev, m))
            if a is None:
                a = fast[(dev, m)] = [0, 0, 0.0, _INF, -_INF, 0, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0.0]
            # _reading(a, p, v, c) inlined: this loop runs once per sample of every batch, and
            # the call was a measurable share of a write (bench/storage_ingest.py); keep in step
            a[N] += 1
            if p is not None:
                a[PN] += 1
                a[PSUM] += p
                if p < a[PMIN]:
                    a[PMIN] = p
                if p > a[PMAX]:
                    a[PMAX] = p
            if v is not None:
                a[VN] += 1
                a[VSUM] += v
            if c is not None:
                a[CN] += 1
                a[CSUM] += c
            a[WH] += wh
            a[COST] += cost
            a[COV] += cov
            a[UNC] += unc
            continue
        # Slow path: the interval crosses a minute boundary. Minute tier first.
        cov_ms = round(cov * 1000.0)
        start = ts - cov_ms - round(unc * 1000.0)
        a = _get(mins, (dev, m)) if m >= min_lo else _new()  # (a dummy below the floor)
        _reading(a, p, v, c)
        if m < min_lo:
            pass
        elif not unc and cov_ms > 0 and start >= m - MINUTE_MS:  # common: two minutes
            f = (m - start) / cov_ms
            b = _get(mins, (dev, m - MINUTE_MS)) if m - MINUTE_MS >= min_lo else _new()
            b[WH] += wh * f
            b[COST] += cost * f
            b[COV] += cov * f
            a[WH] += wh - wh * f
            a[COST] += cost - cost * f
            a[COV] += cov - cov * f
        else:
            _spread(mins, dev, ts, start, cov_ms, s, _minute, True, min_lo)
        h = ts - ts % HOUR_MS
        dlo = day(ts)[0]
        if start >= h and start >= dlo:  # still inside its hour and its local day
            key = (dev, h, dlo)
            a = whole.get(key)
            if a is None:
                a = whole[key] = _new()
            _reading(a, p, v, c)
            a[WH] += wh
            a[COST] += cost
            a[COV] += cov
            a[UNC] += unc
            continue
        _reading(_get(hours, (dev, h)), p, v, c)
        _reading(_get(days, (dev, dlo)), p, v, c)
        _spread(hours, dev, ts, start, cov_ms, s, _hour, False)
        _spread(days, dev, ts, start, cov_ms, s, day, False)
    for (dev, m), a in fast.items():
        dst = mins.get((dev, m))
        if m < min_lo:
            pass
        elif dst is None:
            mins[(dev, m)] = a
        else:
            _merge(dst, a)
        # a minute lies inside one hour and (zone offsets being whole minutes) one local day
        key = (dev, m - m % HOUR_MS, day(m)[0])
        dst = whole.get(key)
        if dst is None:
            whole[key] = a[:]
        else:
            _merge(dst, a)
    for (dev, h, dlo), a in whole.items():
        dst = hours.get((dev, h))
        if dst is None:
            hours[(dev, h)] = a[:]
        else:
            _merge(dst, a)
        dst = days.get((dev, dlo))
        if dst is None:
            days[(dev, dlo)] = a
        else:
            _merge(dst, a)
    return Plan(
        samples=samples,
        raw_floor=raw_lo,
        row_count=nrows,
        rollups={
            "1m": _rows(mins, None),
            "1h": _rows(hours, None),
            "1d": _rows(days, lambda lo: day(lo)[1]),
        },
        counters=[(dev, k[0], k[1], int(k[2]), k[3]) for dev, k in sorted(counters.items())],
    )


def only_new(samples: Sequence[Sample], keep: Callable[[str, int], bool]) -> list[Sample]:
    """``samples`` minus in-batch repeats and minus those ``keep`` rejects (already stored)."""
    seen: set[tuple[str, int]] = set()
    out: list[Sample] = []
    for s in samples:
        key = (s.device_id, round(s.ts * 1000.0))
        if key in seen or not keep(*key):
            continue
        seen.add(key)
        out.append(s)
    return out


def days_from_hours(rows: Iterable[Sequence[object]], cal: Calendar) -> list[tuple[object, ...]]:
    """Rebuild local-day rollup rows from hour rows (used when the timezone changes).

    ``rows`` are ``(device_id, bucket_start, n, power_n, power_sum, power_min, power_max,
    voltage_n, voltage_sum, current_n, current_sum, wh, cost, covered_s, uncovered_s)``. Exact
    for whole-hour UTC offsets; with a half-hour offset an hour is counted in the day it starts.
    """
    days: dict[Key, Bucket] = {}
    for dev, lo, *vals in rows:
        a = [v if v is not None else (_INF if i == PMIN else -_INF) for i, v in enumerate(vals)]
        key = (str(dev), cal.day(int(lo))[0])  # type: ignore[call-overload]
        dst = days.get(key)
        if dst is None:
            days[key] = a  # type: ignore[assignment]
        else:
            _merge(dst, a)  # type: ignore[arg-type]
    return _rows(days, lambda lo: cal.day(lo)[1])


def retention_floors(
    retention: Retention, cal: Calendar, now: float
) -> tuple[int | None, int | None]:
    """``(raw_floor, minute_floor)`` in ms: what ``purge(now)`` would keep (None: everything)."""
    now_ms = to_ms(now)
    raw = None if retention.raw_days is None else now_ms - round(retention.raw_days * 86_400_000)
    mins = None
    if retention.minute_days is not None:
        mins = cal.floor("1m", now_ms - round(retention.minute_days * 86_400_000))
    return raw, mins


def period_map(by: Period, lo: int, hi: int, cal: Calendar) -> list[tuple[int, int, int]]:
    """``(day_start, period_start, period_end)`` in ms for every local day in ``[lo, hi)``:
    lets the database sum day rows into weeks or months with an equality join."""
    out: list[tuple[int, int, int]] = []
    d = lo
    while d < hi:
        start, end = cal.period(by, d)
        out.append((d, start, end))
        d = cal.day(d)[1]
    return out
