"""Appliance cycle detection: a pure state machine fed readings AND clock ticks.

``idle → starting → running ⇄ pausing → (finished) → idle``. A run starts when power stays above
``start_w`` for ``start_for`` (the cycle then dates from the moment it first rose), and ends when
power stays below ``stop_w`` for ``stop_for`` (the cycle ends at the moment it first fell, so the
trailing wait is not counted). A pause shorter than ``stop_for`` never ends a cycle.

Why a clock: Tuya plugs push only on change, so a plug sitting flat at 1 W after the last spin
sends nothing at all; :meth:`CycleDetector.tick` advances time with the last power held, so the
finish still fires (WashData's bug #197 is this exact mistake). Between readings the last power is
held (left-rectangle energy); an unknown power (``None``, e.g. the plug went offline) adds no
energy and changes no state.

No I/O and no wall clock: the caller passes every time, so tests replay hours in microseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from ..config.alerts import CycleThresholds
from ..report import format_datetime

Price = Callable[[float, float, float], float]
"""``price(start_ts, end_ts, wh)`` → cost of that energy (``Tariff.cost``)."""

def iso(ts: float) -> str:
    """Unix seconds as the ISO-8601 UTC form every JSON output uses."""
    return format_datetime(datetime.fromtimestamp(ts, UTC))


State = Literal["idle", "starting", "running", "pausing"]


@dataclass(frozen=True, slots=True)
class Cycle:
    """One run of an appliance (times in Unix seconds, energy in Wh)."""

    device_id: str
    start: float
    end: float
    wh: float
    cost: float
    peak_w: float

    @property
    def duration_s(self) -> float:
        return self.end - self.start

    def to_json(self) -> dict[str, str | float]:
        return {
            "start": iso(self.start),
            "end": iso(self.end),
            "duration_s": round(self.duration_s, 1),
            "kwh": round(self.wh / 1000.0, 6),
            "cost": round(self.cost, 6),
            "peak_w": round(self.peak_w, 1),
        }


@dataclass(frozen=True, slots=True)
class CycleEvent:
    """``running`` (a cycle has started; ``cycle.end`` is the time it was confirmed) or
    ``finished`` (a complete cycle of at least ``min_wh``)."""

    kind: Literal["running", "finished"]
    cycle: Cycle


class CycleDetector:
    """Detects the runs of one plug under one set of thresholds."""

    def __init__(self, device_id: str, thresholds: CycleThresholds,
                 price: Price | None = None) -> None:
        self.device_id = device_id
        self.th = thresholds
        self.price = price
        self.state: State = "idle"
        self.power_w: float | None = None
        self.last_ts: float | None = None
        self._since = 0.0  # starting: when power rose; running/pausing: the cycle's start
        self._pause_since = 0.0
        self._wh = self._cost = self._peak = 0.0
        self._snap_wh = self._snap_cost = 0.0  # totals when the current pause began

    # ------------------------------------------------------------------ inputs

    def update(self, ts: float, power_w: float | None) -> list[CycleEvent]:
        """A new reading at ``ts`` (older than the last one: ignored)."""
        if self.last_ts is not None and ts < self.last_ts:
            return []
        events = self.tick(ts)
        self.power_w = power_w
        if power_w is not None:
            self._level(ts, power_w)
            events += self.tick(ts)  # zero-length timers (start_for = 0) fire now
        return events

    def tick(self, ts: float) -> list[CycleEvent]:
        """Let time pass to ``ts`` with the last power held; fire timers that fell due."""
        if self.last_ts is None:
            self.last_ts = ts
            return []
        if ts < self.last_ts:
            return []
        events: list[CycleEvent] = []
        while (deadline := self._deadline()) is not None and deadline <= ts:
            self._integrate(deadline)
            event = self._fire(deadline)
            if event is not None:
                events.append(event)
        self._integrate(ts)
        return events

    @property
    def active(self) -> bool:
        return self.state in ("running", "pausing")

    # ------------------------------------------------------------------ machinery

    def _deadline(self) -> float | None:
        if self.state == "starting":
            return self._since + self.th.start_for_s
        if self.state == "pausing":
            return self._pause_since + self.th.stop_for_s
        return None

    def _integrate(self, ts: float) -> None:
        last = self.last_ts if self.last_ts is not None else ts
        self.last_ts = ts
        if self.state == "idle" or self.power_w is None or ts <= last:
            return
        wh = self.power_w * (ts - last) / 3600.0
        self._wh += wh
        if self.price is not None and wh > 0:
            self._cost += self.price(last, ts, wh)

    def _level(self, ts: float, p: float) -> None:
        th = self.th
        if self.state == "idle":
            if p > th.start_w:
                self.state, self._since = "starting", ts
                self._wh = self._cost = 0.0
                self._peak = p
        elif self.state == "starting":
            if p <= th.start_w:
                self.state = "idle"
            self._peak = max(self._peak, p)
        elif self.state == "running":
            if p < th.stop_w:
                self.state, self._pause_since = "pausing", ts
                self._snap_wh, self._snap_cost = self._wh, self._cost
            self._peak = max(self._peak, p)
        elif p >= th.stop_w:  # pausing: the pause was shorter than stop_for
            self.state = "running"
            self._peak = max(self._peak, p)

    def _cycle(self, end: float, wh: float, cost: float) -> Cycle:
        return Cycle(self.device_id, self._since, end, wh, cost, self._peak)

    def _fire(self, at: float) -> CycleEvent | None:
        if self.state == "starting":
            self.state = "running"
            return CycleEvent("running", self._cycle(at, self._wh, self._cost))
        # pausing for stop_for: the cycle ended when the pause began
        self.state = "idle"
        cycle = self._cycle(self._pause_since, self._snap_wh, self._snap_cost)
        return CycleEvent("finished", cycle) if cycle.wh >= self.th.min_wh else None
