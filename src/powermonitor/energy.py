"""Energy integration: the one place where watts become watt-hours.

Tuya plugs report power, not a usable energy meter (DP 17 ``add_ele`` is an increment that
clears after each cloud report), so we integrate the power readings ourselves, one
:class:`EnergyIntegrator` per plug. Design rules:

* **Pure.** No I/O, no clock: every reading brings its own timestamp (Unix seconds).
* **Offline time is never 0 W and never interpolated.** An interval between two measurements
  longer than ``max_gap_s`` adds nothing and is reported as ``uncovered_s``, so a day's total
  can be flagged incomplete instead of silently too low (or too high).
* **A reading without power is not a measurement.** It adds nothing and does not move the last
  measured point: the next measurement is integrated from the last real one, and if that is
  more than ``max_gap_s`` back, the whole stretch is a gap. ``switch=False`` *is* a
  measurement (the relay is open, so the load draws 0 W), whatever power the plug reports.
* **The running total never decreases**: negative power clamps to 0 W; readings that go back in
  time or repeat a timestamp are ignored without changing any state (the first one wins).
* ``"trapezoid"`` (the default) is the most accurate for regular polling of smoothly varying
  loads; ``"left"`` (last value carried forward) is exact for step loads sampled at or after
  every change, such as a resistive heater switching on and off.

The caller persists :meth:`EnergyIntegrator.state` (via the store's ``Counter``) and resumes
with :meth:`EnergyIntegrator.from_counter`; time spent restarting becomes a gap by the same rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, NamedTuple, get_args

if TYPE_CHECKING:  # only the attributes are used: no import cycle with the store
    from .storage.base import Counter

__all__ = [
    "MIN_MAX_GAP_S",
    "EnergyIntegrator",
    "Increment",
    "IntegratorState",
    "Method",
    "max_gap_for",
]

Method = Literal["trapezoid", "left"]
_METHODS: Final[tuple[str, ...]] = get_args(Method)

MIN_MAX_GAP_S: Final = 60.0
"""The shortest gap cut-off :func:`max_gap_for` returns: one missed fast poll is not a gap."""


def max_gap_for(poll_interval: float) -> float:
    """The gap cut-off for a plug polled every ``poll_interval`` s: ``max(60, 3 * interval)``.

    Three intervals tolerate two missed polls (a plug that is slow or busy) before the time counts
    as offline.
    """
    if not (math.isfinite(poll_interval) and poll_interval > 0.0):
        raise ValueError(f"poll interval must be a positive number of seconds, got {poll_interval!r}")
    return max(MIN_MAX_GAP_S, 3.0 * poll_interval)


@dataclass(frozen=True, slots=True)
class Increment:
    """What one reading added: the energy of ``[start_ts, end_ts]`` and how much of it was seen.

    ``covered_s + uncovered_s == end_ts - start_ts``. An ignored reading (no power, out of
    order, duplicate) and a plug's first reading give an empty increment with
    ``start_ts == end_ts == ts``.
    """

    start_ts: float
    end_ts: float
    wh: float
    covered_s: float
    uncovered_s: float


class IntegratorState(NamedTuple):
    """What to persist per plug to resume integration after a restart."""

    total_wh: float
    last_ts: float | None
    last_power_w: float | None


class EnergyIntegrator:
    """Running energy total of one plug, fed timestamped power readings in time order."""

    __slots__ = ("_last_power_w", "_last_ts", "_left", "_max_gap_s", "_total_wh", "device_id",
                 "method")

    def __init__(
        self,
        device_id: str,
        *,
        method: Method = "trapezoid",
        max_gap_s: float,
        total_wh: float = 0.0,
        last_ts: float | None = None,
        last_power_w: float | None = None,
    ) -> None:
        if method not in _METHODS:
            raise ValueError(f"unknown integration method {method!r}: use 'trapezoid' or 'left'")
        if not (math.isfinite(max_gap_s) and max_gap_s > 0.0):
            raise ValueError(f"max_gap_s must be a positive number of seconds, got {max_gap_s!r}")
        if not (math.isfinite(total_wh) and total_wh >= 0.0):
            raise ValueError(f"total_wh must be a finite number >= 0, got {total_wh!r}")
        if last_ts is None and last_power_w is not None:
            raise ValueError("last_power_w needs last_ts (the time it was measured)")
        if last_ts is not None and not math.isfinite(last_ts):
            raise ValueError(f"last_ts must be finite, got {last_ts!r}")
        self.device_id = device_id
        self.method: Method = method
        self._left = method == "left"
        self._max_gap_s = float(max_gap_s)
        self._total_wh = float(total_wh)
        self._last_ts = last_ts
        self._last_power_w = _clean_power(last_power_w, None)

    @classmethod
    def from_counter(
        cls, counter: Counter, *, method: Method = "trapezoid", max_gap_s: float
    ) -> EnergyIntegrator:
        """Resume where the persisted ``counter`` left off (its cost total is the caller's).

        A ``last_ts`` without ``last_power_w`` means the time is known but the power is not: the
        next interval then counts as uncovered rather than being guessed.
        """
        return cls(
            counter.device_id,
            method=method,
            max_gap_s=max_gap_s,
            total_wh=counter.total_wh,
            last_ts=counter.last_ts,
            last_power_w=counter.last_power_w,
        )

    @property
    def total_wh(self) -> float:
        """Energy integrated so far (including the resumed total); it never decreases."""
        return self._total_wh

    @property
    def max_gap_s(self) -> float:
        return self._max_gap_s

    @property
    def last_ts(self) -> float | None:
        return self._last_ts

    @property
    def last_power_w(self) -> float | None:
        return self._last_power_w

    def state(self) -> IntegratorState:
        """``(total_wh, last_ts, last_power_w)``: persist it to resume after a restart."""
        return IntegratorState(self._total_wh, self._last_ts, self._last_power_w)

    def add(self, ts: float, power_w: float | None, switch: bool | None = None) -> Increment:
        """Take the reading at ``ts`` and return the energy of the interval it closes.

        ``switch=False`` means 0 W whatever ``power_w`` says; ``power_w=None`` (or NaN/inf)
        with the switch on or unknown is not a measurement and is ignored.
        """
        if not math.isfinite(ts):
            raise ValueError(f"reading timestamp must be finite, got {ts!r}")
        power = _clean_power(power_w, switch)
        last_ts = self._last_ts
        if power is None or (last_ts is not None and ts <= last_ts):
            return Increment(ts, ts, 0.0, 0.0, 0.0)
        self._last_ts = ts
        last_power = self._last_power_w
        self._last_power_w = power
        if last_ts is None:
            return Increment(ts, ts, 0.0, 0.0, 0.0)
        dt = ts - last_ts
        if last_power is None or dt > self._max_gap_s:
            return Increment(last_ts, ts, 0.0, 0.0, dt)
        mean_w = last_power if self._left else (last_power + power) / 2.0
        wh = mean_w * dt / 3600.0
        self._total_wh += wh
        return Increment(last_ts, ts, wh, dt, 0.0)

    def __repr__(self) -> str:
        return (f"EnergyIntegrator({self.device_id!r}, method={self.method!r}, "
                f"max_gap_s={self._max_gap_s!r}, total_wh={self._total_wh!r}, "
                f"last_ts={self._last_ts!r}, last_power_w={self._last_power_w!r})")


def _clean_power(power_w: float | None, switch: bool | None) -> float | None:
    """The power to integrate: 0 W when switched off, None when not measured, never below 0."""
    if switch is False:
        return 0.0
    if power_w is None or not math.isfinite(power_w):
        return None
    return max(0.0, float(power_w))
