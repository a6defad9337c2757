"""Appliances: fridge, washer, the time-of-day ones (kettle, tv, lamp), pc and a random walk.
Each draws its numbers per cycle, day or slot from the seeded generator, so any ``t`` can be
asked without replaying history."""

from __future__ import annotations

import math
import random
from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Final

from .base import (
    _MEMO_CAP,
    DAY_S,
    HOUR_S,
    MINUTE_S,
    LoadProfile,
    _check_epoch,
    _check_pf,
    _check_watts,
    _rng,
)


class Fridge(LoadProfile):
    """A compressor fridge: ~15 min on at 90-120 W, ~30 min off at 1-2 W, cycle after cycle.

    Each cycle starts with a 2-second inrush (3.5-5.5x the running power, what a plug sampling
    once a second catches of a motor start), then settles from +12% to the running power over a
    couple of minutes. A seeded phase offset keeps fridges with different seeds out of step.
    Mean draw is ~35-40 W (~0.9 kWh a day), in line with an ordinary fridge-freezer.
    """

    __slots__ = ("_cycle_s", "_memo", "_pf_run", "_phase_s", "_seed", "_standby_w")
    name: ClassVar[str] = "fridge"
    INRUSH_S: ClassVar[float] = 2.0

    def __init__(self, seed: int) -> None:
        r = _rng(self.name, seed)
        self._seed = seed
        self._cycle_s = r.uniform(42.0, 48.0) * MINUTE_S
        self._phase_s = r.uniform(0.0, self._cycle_s)
        self._standby_w = r.uniform(1.0, 2.0)
        self._pf_run = r.uniform(0.70, 0.80)
        self._memo: dict[int, tuple[float, float, float]] = {}

    def _cycle(self, k: int) -> tuple[float, float, float]:
        """(on_s, run_w, inrush_w) for compressor cycle ``k``."""
        hit = self._memo.get(k)
        if hit is None:
            r = _rng(self.name, self._seed, k)
            run_w = r.uniform(90.0, 120.0)
            hit = (r.uniform(13.0, 17.0) * MINUTE_S, run_w, run_w * r.uniform(3.5, 5.5))
            if len(self._memo) >= _MEMO_CAP:
                self._memo.clear()
            self._memo[k] = hit
        return hit

    def _state(self, t: float) -> tuple[float, float]:
        k, dt = divmod(t + self._phase_s, self._cycle_s)
        on_s, run_w, inrush_w = self._cycle(int(k))
        if dt >= on_s:
            return self._standby_w, 0.5
        if dt < self.INRUSH_S:
            return inrush_w, 0.55
        return run_w * (1.0 + 0.12 * math.exp(-dt / 120.0)), self._pf_run

    def power_w(self, t: float) -> float:
        return self._state(t)[0]

    def power_factor(self, t: float) -> float:
        return self._state(t)[1]


@dataclass(frozen=True, slots=True)
class _Phase:
    """One step of a washing programme; durations and levels are drawn per run."""

    name: str
    min_s: float
    max_s: float
    style: str  # "flat" | "heat" | "agitate" | "spin"
    low_w: float
    high_w: float
    pf: float


# A 40-60 °C cotton programme, ~80-100 min. Heating dominates the energy (~0.5 kWh).
_WASHER_PROGRAMME: Final = (
    _Phase("fill", 3 * MINUTE_S, 5 * MINUTE_S, "flat", 8.0, 15.0, 0.5),
    _Phase("heat", 13 * MINUTE_S, 17 * MINUTE_S, "heat", 1950.0, 2100.0, 0.99),
    _Phase("wash", 30 * MINUTE_S, 40 * MINUTE_S, "agitate", 150.0, 300.0, 0.6),
    _Phase("drain", 90.0, 150.0, "flat", 30.0, 45.0, 0.55),
    _Phase("rinse", 12 * MINUTE_S, 18 * MINUTE_S, "agitate", 150.0, 250.0, 0.6),
    _Phase("drain", 90.0, 150.0, "flat", 30.0, 45.0, 0.55),
    _Phase("spin", 8 * MINUTE_S, 12 * MINUTE_S, "spin", 400.0, 500.0, 0.75),
)
_WASHER_MAX_S: Final = sum(p.max_s for p in _WASHER_PROGRAMME)
_STROKE_S: Final = 16.0  # drum turns 12 s, pauses 4 s, turns the other way
_STROKE_ON_S: Final = 12.0
_SPIN_UP_S: Final = 90.0


class Washer(LoadProfile):
    """A washing machine running a programme: fill, heat (~2 kW), wash, rinse, spin, standby ~1 W.

    Runs start at ``start_s`` and then every ``every_s`` seconds (``every_s = 0``: run once and
    stay in standby). Each run draws its own phase lengths and levels; agitation is drawn per
    drum stroke, so the trace looks like a real washer's sawtooth of motor bursts.
    """

    __slots__ = ("_every_s", "_memo", "_seed", "_standby_w", "_start_s")
    name: ClassVar[str] = "washer"

    def __init__(self, seed: int, *, every_s: float = 24 * HOUR_S, start_s: float = 0.0) -> None:
        if not (every_s == 0.0 or (math.isfinite(every_s) and every_s >= _WASHER_MAX_S)):
            raise ValueError(
                f"washer runs must be 0 (run once) or at least {_WASHER_MAX_S / HOUR_S:.2f} h "
                f"apart so they do not overlap, got {every_s / HOUR_S!r} h"
            )
        if not (math.isfinite(start_s) and start_s >= 0.0):
            raise ValueError(f"washer start must be a finite time >= 0, got {start_s!r} s")
        self._seed = seed
        self._every_s = every_s
        self._start_s = start_s
        self._standby_w = _rng(self.name, seed).uniform(0.8, 1.2)
        self._memo: dict[int, tuple[tuple[float, float], ...]] = {}

    def _run(self, n: int) -> tuple[tuple[float, float], ...]:
        """(duration_s, level_w) per programme phase for run ``n``."""
        hit = self._memo.get(n)
        if hit is None:
            r = _rng(self.name, self._seed, n)
            hit = tuple(
                (r.uniform(p.min_s, p.max_s), r.uniform(p.low_w, p.high_w))
                for p in _WASHER_PROGRAMME
            )
            if len(self._memo) >= _MEMO_CAP:
                self._memo.clear()
            self._memo[n] = hit
        return hit

    def phase_at(self, t: float) -> str:
        """Name of the programme phase at ``t`` ("standby" between runs); handy for demos."""
        located = self._locate(t)
        return "standby" if located is None else _WASHER_PROGRAMME[located[1]].name

    def _locate(self, t: float) -> tuple[int, int, float, float] | None:
        """(run, phase index, seconds into the phase, phase level) or None in standby."""
        if t < self._start_s:
            return None
        since = t - self._start_s
        if self._every_s == 0.0:
            n, dt = 0, since
        else:
            n_f, dt = divmod(since, self._every_s)
            n = int(n_f)
        for i, (duration_s, level_w) in enumerate(self._run(n)):
            if dt < duration_s:
                return n, i, dt, level_w
            dt -= duration_s
        return None

    def _state(self, t: float) -> tuple[float, float]:
        located = self._locate(t)
        if located is None:
            return self._standby_w, 0.4
        n, i, dt, level_w = located
        phase = _WASHER_PROGRAMME[i]
        if phase.style == "flat":
            return level_w, phase.pf
        if phase.style == "spin":
            ramp = min(1.0, dt / _SPIN_UP_S)
            return 150.0 + (level_w - 150.0) * ramp, phase.pf
        stroke, into = divmod(dt, _STROKE_S)
        turning = into < _STROKE_ON_S
        if phase.style == "heat":
            # The drum turns now and then while the element heats the water.
            return level_w + (70.0 if turning and int(stroke) % 4 == 0 else 0.0), phase.pf
        if not turning:
            return 8.0, 0.5
        r = _rng(self.name, self._seed, n, i, int(stroke))
        return r.uniform(phase.low_w, phase.high_w), phase.pf

    def power_w(self, t: float) -> float:
        return self._state(t)[0]

    def power_factor(self, t: float) -> float:
        return self._state(t)[1]


@dataclass(frozen=True, slots=True)
class _Event:
    """An "on" interval on the absolute clock (``epoch + t``) with its level."""

    start: float
    end: float
    level_w: float


class _DailyProfile(LoadProfile):
    """Base for appliances that follow the time of day: a few "on" events per day.

    Events of day ``d`` are drawn from ``_rng(kind, seed, d)``; an event may run past midnight,
    so day ``d - 1`` is checked too (events are shorter than a day).
    """

    __slots__ = ("_epoch", "_memo", "_seed")

    def __init__(self, seed: int, epoch: float = 0.0) -> None:
        _check_epoch(epoch)
        self._seed = seed
        self._epoch = epoch
        self._memo: dict[int, tuple[_Event, ...]] = {}

    @abstractmethod
    def _draw_day(self, r: random.Random) -> list[tuple[float, float, float]]:
        """(start, end, level_w) for one day, in seconds after that day's midnight."""

    def _day(self, d: int) -> tuple[_Event, ...]:
        hit = self._memo.get(d)
        if hit is None:
            base = d * DAY_S
            hit = tuple(
                _Event(base + s, base + e, w)
                for s, e, w in self._draw_day(_rng(self.name, self._seed, d))
            )
            if len(self._memo) >= _MEMO_CAP:
                self._memo.clear()
            self._memo[d] = hit
        return hit

    def _event_at(self, t: float) -> tuple[float, _Event | None]:
        """(clock, event covering it or None)."""
        clock = self._epoch + t
        day = math.floor(clock / DAY_S)
        for d in (day, day - 1):
            for event in self._day(d):
                if event.start <= clock < event.end:
                    return clock, event
        return clock, None


_KETTLE_SLOTS_H: Final = (6.75, 10.5, 13.0, 15.5, 18.5, 21.5)


class Kettle(_DailyProfile):
    """An electric kettle: ~2200 W for 2.5-4 minutes, 3-6 times a day at meal and tea times.

    Purely resistive (PF 1.0) and exactly 0 W between boils: the plug sees nothing at all.
    """

    __slots__ = ("_rating_w",)
    name: ClassVar[str] = "kettle"

    def __init__(self, seed: int, epoch: float = 0.0) -> None:
        super().__init__(seed, epoch)
        self._rating_w = 2200.0 * _rng(self.name, seed).uniform(0.98, 1.02)

    def _draw_day(self, r: random.Random) -> list[tuple[float, float, float]]:
        slots = sorted(r.sample(_KETTLE_SLOTS_H, r.randint(3, 6)))
        events = []
        for hour in slots:
            start = hour * HOUR_S + r.uniform(-30.0, 30.0) * MINUTE_S
            events.append((start, start + r.uniform(150.0, 240.0), self._rating_w))
        return events

    def power_w(self, t: float) -> float:
        event = self._event_at(t)[1]
        return 0.0 if event is None else event.level_w

    def power_factor(self, t: float) -> float:
        return 1.0


class TV(_DailyProfile):
    """A television: ~0.5 W standby, 80-120 W while watched in the evening (most days).

    Viewing starts between 18:00 and 20:00 and lasts 1.5-4.5 h (it can run past midnight);
    the draw wanders with the picture every 10 seconds.
    """

    __slots__ = ("_pf_on", "_standby_w")
    name: ClassVar[str] = "tv"

    def __init__(self, seed: int, epoch: float = 0.0) -> None:
        super().__init__(seed, epoch)
        r = _rng(self.name, seed)
        self._standby_w = r.uniform(0.4, 0.6)
        self._pf_on = r.uniform(0.85, 0.97)

    def _draw_day(self, r: random.Random) -> list[tuple[float, float, float]]:
        if r.random() >= 0.92:
            return []
        start = 18 * HOUR_S + r.uniform(0.0, 2 * HOUR_S)
        return [(start, start + r.uniform(1.5, 4.5) * HOUR_S, r.uniform(88.0, 112.0))]

    def power_w(self, t: float) -> float:
        clock, event = self._event_at(t)
        if event is None:
            return self._standby_w
        chunk = math.floor(clock / 10.0)
        ripple = _rng(self.name, self._seed, "picture", chunk).uniform(-8.0, 8.0)
        return min(120.0, max(80.0, event.level_w + ripple))

    def power_factor(self, t: float) -> float:
        return 0.35 if self._event_at(t)[1] is None else self._pf_on


_LAMP_RATINGS_W: Final = (9.0, 10.0, 12.0, 15.0, 40.0, 60.0)


class Lamp(_DailyProfile):
    """A lamp on in the evening: one bulb of 9-60 W (LED up to 15 W, else incandescent).

    On from 17:00-19:30 until 22:00-00:30 on most days, exactly 0 W otherwise. LED drivers have a
    poor power factor (~0.55); a filament is resistive (1.0).
    """

    __slots__ = ("_pf", "_rating_w")
    name: ClassVar[str] = "lamp"

    def __init__(self, seed: int, epoch: float = 0.0) -> None:
        super().__init__(seed, epoch)
        self._rating_w = _rng(self.name, seed).choice(_LAMP_RATINGS_W)
        self._pf = 0.55 if self._rating_w <= 15.0 else 1.0

    def _draw_day(self, r: random.Random) -> list[tuple[float, float, float]]:
        if r.random() >= 0.95:
            return []
        start = 17 * HOUR_S + r.uniform(0.0, 2.5 * HOUR_S)
        end = 22 * HOUR_S + r.uniform(0.0, 2.5 * HOUR_S)
        return [(start, end, self._rating_w)]

    def power_w(self, t: float) -> float:
        event = self._event_at(t)[1]
        return 0.0 if event is None else event.level_w

    def power_factor(self, t: float) -> float:
        return self._pf


class PC(LoadProfile):
    """A desktop PC left on: idle ~60 W with bursts of 150-300 W under load.

    Load comes in sessions: every 10 minutes an activity level is drawn (quiet, light, busy,
    heavy) which sets how likely each 20-second slot is to be a burst, so bursts cluster as they
    do when someone is actually working.
    """

    __slots__ = ("_idle_w", "_last", "_memo", "_seed")
    name: ClassVar[str] = "pc"
    _BLOCK_S: ClassVar[float] = 600.0
    _SLOT_S: ClassVar[float] = 20.0
    _ACTIVITY: ClassVar[tuple[float, ...]] = (0.0, 0.05, 0.2, 0.6)

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._idle_w = _rng(self.name, seed).uniform(57.0, 63.0)
        self._memo: dict[int, float] = {}
        self._last: tuple[int, tuple[float, float]] | None = None

    def _activity(self, block: int) -> float:
        hit = self._memo.get(block)
        if hit is None:
            hit = _rng(self.name, self._seed, "block", block).choice(self._ACTIVITY)
            if len(self._memo) >= _MEMO_CAP:
                self._memo.clear()
            self._memo[block] = hit
        return hit

    def _state(self, t: float) -> tuple[float, float]:
        slot = math.floor(t / self._SLOT_S)
        if self._last is not None and self._last[0] == slot:
            return self._last[1]
        p_burst = self._activity(math.floor(t / self._BLOCK_S))
        r = _rng(self.name, self._seed, "slot", slot)
        if r.random() < p_burst:
            state = (r.uniform(150.0, 300.0), 0.96)
        else:
            state = (self._idle_w + r.uniform(-3.0, 3.0), 0.9)
        self._last = (slot, state)
        return state

    def power_w(self, t: float) -> float:
        return self._state(t)[0]

    def power_factor(self, t: float) -> float:
        return self._state(t)[1]


class RandomWalk(LoadProfile):
    """A bounded random walk between ``low_w`` and ``high_w``: an anonymous, restless load.

    A plain walk is not random-access (its value depends on every earlier step), so the walk
    is pinned every hour to a seeded knot drawn uniformly in the band, and between knots it is a
    seeded random bridge, reflected at the bounds. The result is continuous in ``t`` (linear
    between 10-second steps) and computing a sample costs one cached hour of steps.
    """

    __slots__ = ("_high_w", "_low_w", "_memo", "_pf", "_seed", "_sigma_w")
    name: ClassVar[str] = "random"
    STEP_S: ClassVar[float] = 10.0
    SEGMENT_STEPS: ClassVar[int] = 360

    def __init__(
        self, seed: int, low_w: float = 10.0, high_w: float = 1000.0, pf: float = 0.95
    ) -> None:
        _check_watts("random low bound", low_w)
        _check_watts("random high bound", high_w)
        if high_w < low_w:
            raise ValueError(f"random bounds are reversed: low {low_w!r} W > high {high_w!r} W")
        _check_pf(pf)
        self._seed = seed
        self._low_w = low_w
        self._high_w = high_w
        self._pf = pf
        self._sigma_w = 0.03 * (high_w - low_w)
        self._memo: dict[int, tuple[float, ...]] = {}

    def _knot(self, k: int) -> float:
        return _rng(self.name, self._seed, "knot", k).uniform(self._low_w, self._high_w)

    def _reflect(self, x: float) -> float:
        span = self._high_w - self._low_w
        if span == 0.0:
            return self._low_w
        y = (x - self._low_w) % (2.0 * span)
        return self._low_w + (2.0 * span - y if y > span else y)

    def _segment(self, k: int) -> tuple[float, ...]:
        """The SEGMENT_STEPS + 1 values of hour ``k``, from knot k to knot k + 1."""
        hit = self._memo.get(k)
        if hit is None:
            n = self.SEGMENT_STEPS
            r = _rng(self.name, self._seed, "segment", k)
            walk = [0.0]
            for _ in range(n):
                walk.append(walk[-1] + r.gauss(0.0, self._sigma_w))
            a, b = self._knot(k), self._knot(k + 1)
            end = walk[n]
            values = [self._reflect(a + (b - a) * i / n + walk[i] - end * i / n) for i in range(n)]
            values.append(b)  # exactly the next segment's first value: continuous
            hit = tuple(values)
            if len(self._memo) >= _MEMO_CAP:
                self._memo.clear()
            self._memo[k] = hit
        return hit

    def power_w(self, t: float) -> float:
        steps = t / self.STEP_S
        k_f, within = divmod(steps, float(self.SEGMENT_STEPS))
        values = self._segment(int(k_f))
        i = min(int(within), self.SEGMENT_STEPS - 1)
        frac = within - i
        v = values[i] + (values[i + 1] - values[i]) * frac
        return min(self._high_w, max(self._low_w, v))

    def power_factor(self, t: float) -> float:
        return self._pf
