"""Always-on ("standby", "vampire") power: a low percentile of short averages.

The minimum of raw readings is too fragile (one glitch reads 0 W), so the always-on power is
the 5th percentile of short (minutes-long) mean powers over the period, leaving out time the plug
was switched off. Plugs cannot measure
below about 0.5 W, so smaller values are shown as "< 0.5 W", never as a precise number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

PERCENTILE: Final = 5.0
MEASUREMENT_FLOOR_W: Final = 0.5
HOURS_PER_YEAR: Final = 8766.0  # 365.25 days


def percentile(values: Iterable[float], pct: float = PERCENTILE) -> float | None:
    """Linear-interpolated percentile (None for no values)."""
    data = sorted(v for v in values if math.isfinite(v))
    if not data:
        return None
    rank = (len(data) - 1) * pct / 100.0
    lo = math.floor(rank)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (rank - lo)


def always_on_w(averages: Iterable[float | None], *, include_zero: bool = False
                ) -> float | None:
    """Always-on power from short mean powers. Callers leave out switched-off time; without
    ``include_zero`` a mean of exactly 0 W is taken as switched off too (the live standby rule,
    which sees the switch only as readings)."""
    return percentile(a for a in averages if a is not None and (include_zero or a > 0.0))


def standby_kwh_per_year(always_on: float) -> float:
    return always_on * HOURS_PER_YEAR / 1000.0


def format_watts(always_on: float | None) -> str:
    """``"< 0.5 W"`` below what a plug can measure, else ``"3.2 W"``."""
    if always_on is None:
        return "-"
    if always_on < MEASUREMENT_FLOOR_W:
        return f"< {MEASUREMENT_FLOOR_W:g} W"
    return f"{always_on:.1f} W"


class ShortAverages:
    """Time-weighted mean power per ``bucket_s`` bucket, for the standby rule (pure, clocked)."""

    def __init__(self, bucket_s: float, keep_s: float) -> None:
        self.bucket_s, self.keep_s = bucket_s, keep_s
        self.buckets: list[tuple[float, float]] = []  # (bucket start, mean W), oldest first
        self._start: float | None = None
        self._wsec = self._sec = 0.0
        self._off = False
        self._power: float | None = None
        self._last: float | None = None

    def update(self, ts: float, power_w: float | None, switch: bool | None) -> bool:
        closed = self.tick(ts)
        self._power = 0.0 if switch is False else power_w
        if switch is False:
            self._off = True
        return closed

    def tick(self, ts: float) -> bool:
        """Advance to ``ts``; True when at least one bucket closed."""
        if self._last is None or self._start is None:
            self._last, self._start = ts, ts
            return False
        closed = False
        while ts >= self._start + self.bucket_s:
            end = self._start + self.bucket_s
            self._add(end)
            if self._sec > 0 and not self._off:
                self.buckets.append((self._start, self._wsec / self._sec))
            closed = True
            self._start, self._wsec, self._sec, self._off = end, 0.0, 0.0, False
        self._add(ts)
        cutoff = ts - self.keep_s
        while self.buckets and self.buckets[0][0] < cutoff:
            self.buckets.pop(0)
        return closed

    def span_s(self) -> float:
        return len(self.buckets) * self.bucket_s

    def _add(self, ts: float) -> None:
        last = self._last if self._last is not None else ts
        if self._power is not None and ts > last:
            self._wsec += self._power * (ts - last)
            self._sec += ts - last
        self._last = max(last, ts)
