"""Appliance load profiles: what the load behind a simulated plug draws at simulated time ``t``.

Design rules:

* A profile is a pure function of ``(seed, t)``. No clock, no I/O, no state that changes the
  answer: ``power_w(t)`` gives the same value whatever was asked before, so a test can jump
  straight to ``t = 1e6`` and a restarted simulator carries on where it was. (Objects keep small
  memo caches; they only save work.)
* Randomness comes from ``random.Random`` seeded with (profile kind, seed, slot number): every
  compressor cycle, day, wash run or 20-second slot draws its own numbers. That is what makes
  random access possible without replaying history.
* ``constant``, ``square`` and ``ramp`` are exact shapes with no noise, so energy tests can
  integrate them analytically.
* ``t`` is float seconds since the profile's epoch, ``t >= 0``. Profiles that follow the time of
  day (kettle, tv, lamp) also take ``epoch``: the clock reading at ``t = 0`` in seconds, so the
  time of day is ``(epoch + t) mod 86400``. Pass a Unix timestamp plus the local UTC offset to
  follow the user's evenings; with ``epoch = 0``, ``t = 0`` is midnight.
* Power factor is a method, ``power_factor(t)``, because it changes with what the appliance is
  doing (a fridge compressor ~0.75, its idle electronics ~0.5; a washer heating ~1.0, spinning
  ~0.75). It is always in (0, 1].

Specs (``make_profile``) are ``kind[:number[:number...]]``; ``PROFILES`` is the table of kinds.
"""

from __future__ import annotations

import difflib
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

__all__ = [
    "DAY_S",
    "PC",
    "PROFILES",
    "TV",
    "Constant",
    "Fridge",
    "Kettle",
    "Lamp",
    "LoadProfile",
    "ProfileKind",
    "Ramp",
    "RandomWalk",
    "Schedule",
    "Square",
    "Washer",
    "make_profile",
]

MINUTE_S: Final = 60.0
HOUR_S: Final = 3_600.0
DAY_S: Final = 86_400.0
_MEMO_CAP: Final = 8
MAX_SCHEDULE_STEPS: Final = 1000


def _rng(*key: object) -> random.Random:
    """A generator for one slot of one profile.

    String seeds go through SHA-512 inside ``random``, so they are stable across processes and
    platforms (``hash()`` is not). ``repr`` of ints, floats and strs is stable too.
    """
    return random.Random(":".join(repr(k) for k in key))


def _check_watts(label: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{label} must be a finite number of watts >= 0, got {value!r}")


def _check_positive(label: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{label} must be a finite number > 0, got {value!r}")


def _check_pf(value: float) -> None:
    if not (0.0 < value <= 1.0):
        raise ValueError(f"power factor must be in (0, 1], got {value!r}")


def _check_epoch(value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"epoch must be a finite number of seconds, got {value!r}")


class LoadProfile(ABC):
    """What one appliance draws over time, as a pure function of ``t`` (seconds, ``t >= 0``)."""

    __slots__ = ()
    name: ClassVar[str]

    @abstractmethod
    def power_w(self, t: float) -> float:
        """Real power in watts at ``t``: finite and >= 0 for every ``t >= 0``."""

    @abstractmethod
    def power_factor(self, t: float) -> float:
        """Power factor in (0, 1] at ``t``; it is why a plug reports more amps than W/V."""


# --------------------------------------------------------------------------------------------
# Exact shapes (for analytic tests)


@dataclass(frozen=True, slots=True)
class Constant(LoadProfile):
    """A fixed draw: the simplest thing energy integration must get exactly right."""

    name: ClassVar[str] = "constant"
    watts: float
    pf: float = 1.0

    def __post_init__(self) -> None:
        _check_watts("constant power", self.watts)
        _check_pf(self.pf)

    def power_w(self, t: float) -> float:
        return self.watts

    def power_factor(self, t: float) -> float:
        return self.pf


@dataclass(frozen=True, slots=True)
class Square(LoadProfile):
    """``on_w`` for the first ``duty * period_s`` of every period, ``off_w`` for the rest.

    Periods start at exact multiples of ``period_s``, so the energy per period is exactly
    ``(on_w * duty + off_w * (1 - duty)) * period_s`` joules.
    """

    name: ClassVar[str] = "square"
    on_w: float
    off_w: float
    period_s: float
    duty: float
    pf: float = 1.0

    def __post_init__(self) -> None:
        _check_watts("square on power", self.on_w)
        _check_watts("square off power", self.off_w)
        _check_positive("square period_s", self.period_s)
        if not (0.0 <= self.duty <= 1.0):
            raise ValueError(f"square duty must be in [0, 1], got {self.duty!r}")
        _check_pf(self.pf)

    def power_w(self, t: float) -> float:
        return self.on_w if (t % self.period_s) < self.duty * self.period_s else self.off_w

    def power_factor(self, t: float) -> float:
        return self.pf


@dataclass(frozen=True, slots=True)
class Schedule(LoadProfile):
    """Piecewise constant: ``steps`` are ``(seconds_from_start, watts)``; each value holds until
    the next step. With ``repeat_s > 0`` the whole schedule loops with that period, so a recorded
    washing-machine cycle (pauses included) can be replayed again and again."""

    name: ClassVar[str] = "schedule"
    steps: tuple[tuple[float, float], ...]
    repeat_s: float = 0.0
    pf: float = 1.0

    def __post_init__(self) -> None:
        if not self.steps or len(self.steps) > MAX_SCHEDULE_STEPS:
            raise ValueError(f"a power schedule needs 1 to {MAX_SCHEDULE_STEPS} steps")
        times = [t for t, _ in self.steps]
        if times != sorted(times) or times[0] < 0 or len(set(times)) != len(times):
            raise ValueError("power schedule times must be >= 0 and strictly increasing")
        for t, w in self.steps:
            if not math.isfinite(t):
                raise ValueError("power schedule times must be finite")
            _check_watts("scheduled power", w)
        if not math.isfinite(self.repeat_s) or self.repeat_s < 0:
            raise ValueError("the repeat period must be >= 0")
        if self.repeat_s and self.repeat_s <= times[-1]:
            raise ValueError("the repeat period must be longer than the last step's time")
        _check_pf(self.pf)

    def power_w(self, t: float) -> float:
        if self.repeat_s:
            t = math.fmod(t, self.repeat_s)
        watts = 0.0 if t < self.steps[0][0] else self.steps[0][1]
        for start, value in self.steps:
            if start > t:
                break
            watts = value
        return watts

    def power_factor(self, t: float) -> float:
        return self.pf


def schedule_spec(pairs: Sequence[Sequence[float]], repeat: bool | float = False) -> str:
    """The ``make_profile`` spec of :func:`schedule_from` (checked: ValueError if invalid)."""
    sched = schedule_from(pairs, repeat)
    numbers = [sched.repeat_s, *(x for step in sched.steps for x in step)]
    return "schedule:" + ":".join(repr(float(x)) for x in numbers)


def schedule_from(pairs: Sequence[Sequence[float]], repeat: bool | float = False) -> Schedule:
    """``[[seconds_from_start, watts], ...]`` as a :class:`Schedule`; ``repeat=True`` loops it
    with a period one last-step longer than its last time (``repeat`` seconds when a number)."""
    steps = tuple((float(p[0]), float(p[1])) for p in pairs)
    if repeat is True:
        last = steps[-1][0] if steps else 0.0
        gap = last - steps[-2][0] if len(steps) > 1 else 1.0
        period = last + max(gap, 1.0)
    else:
        period = float(repeat or 0.0)
    return Schedule(steps, period)


@dataclass(frozen=True, slots=True)
class Ramp(LoadProfile):
    """A sawtooth: linear from ``start_w`` at the start of each period towards ``end_w``.

    ``power_w(t) = start_w + (end_w - start_w) * (t mod period_s) / period_s``; it jumps back to
    ``start_w`` at every multiple of ``period_s``. Energy per period is exactly the mean of the
    two ends times the period.
    """

    name: ClassVar[str] = "ramp"
    start_w: float
    end_w: float
    period_s: float
    pf: float = 1.0

    def __post_init__(self) -> None:
        _check_watts("ramp start power", self.start_w)
        _check_watts("ramp end power", self.end_w)
        _check_positive("ramp period_s", self.period_s)
        _check_pf(self.pf)

    def power_w(self, t: float) -> float:
        return self.start_w + (self.end_w - self.start_w) * ((t % self.period_s) / self.period_s)

    def power_factor(self, t: float) -> float:
        return self.pf


# --------------------------------------------------------------------------------------------
# Appliances


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


# --------------------------------------------------------------------------------------------
# Registry and spec parsing

ProfileBuilder = Callable[[Sequence[float], int, float], LoadProfile]


@dataclass(frozen=True, slots=True)
class ProfileKind:
    """One row of the profile table: how to build a kind from spec numbers, and how to explain it.

    Calling it is the factory: ``PROFILES["square"]([1000, 0, 600, 0.5], seed=1)``.
    """

    name: str
    usage: str
    summary: str
    arg_counts: tuple[int, ...]
    build: ProfileBuilder

    def __call__(self, args: Sequence[float], seed: int, epoch: float = 0.0) -> LoadProfile:
        if len(args) not in self.arg_counts:
            if self.arg_counts == (0,):
                want = "no numbers"
            else:
                *most, last = map(str, self.arg_counts)
                want = (f"{', '.join(most)} or {last}" if most else last) + " numbers"
            raise ValueError(f"{self.name} takes {want} ({self.usage}), got {len(args)}")
        return self.build(args, seed, epoch)


def _opt(args: Sequence[float], i: int, default: float) -> float:
    return args[i] if len(args) > i else default


PROFILES: Final[dict[str, ProfileKind]] = {
    kind.name: kind
    for kind in (
        ProfileKind(
            "constant",
            "constant:WATTS[:PF]",
            "a fixed draw",
            (1, 2),
            lambda a, s, e: Constant(a[0], _opt(a, 1, 1.0)),
        ),
        ProfileKind(
            "square",
            "square:ON_W:OFF_W:PERIOD_S:DUTY[:PF]",
            "ON_W for DUTY of each period, then OFF_W (exact)",
            (4, 5),
            lambda a, s, e: Square(a[0], a[1], a[2], a[3], _opt(a, 4, 1.0)),
        ),
        ProfileKind(
            "ramp",
            "ramp:FROM_W:TO_W:PERIOD_S[:PF]",
            "linear from FROM_W to TO_W over each period, repeating (exact)",
            (3, 4),
            lambda a, s, e: Ramp(a[0], a[1], a[2], _opt(a, 3, 1.0)),
        ),
        ProfileKind(
            "schedule",
            "schedule:REPEAT_S:T0:W0[:T1:W1...]",
            "piecewise constant: W0 from T0 s, W1 from T1 s...; loops every REPEAT_S (0: once)",
            tuple(range(3, 2 * MAX_SCHEDULE_STEPS + 2, 2)),
            lambda a, s, e: Schedule(tuple(zip(a[1::2], a[2::2], strict=True)), a[0]),
        ),
        ProfileKind(
            "fridge",
            "fridge",
            "compressor ~15 min on at 90-120 W, ~30 min off at 1-2 W",
            (0,),
            lambda a, s, e: Fridge(s),
        ),
        ProfileKind(
            "washer",
            "washer[:EVERY_H[:START_H]]",
            "wash programme (2 kW heating, wash, spin) every EVERY_H hours (0: once; default 24)",
            (0, 1, 2),
            lambda a, s, e: Washer(
                s, every_s=_opt(a, 0, 24.0) * HOUR_S, start_s=_opt(a, 1, 0.0) * HOUR_S
            ),
        ),
        ProfileKind(
            "kettle",
            "kettle",
            "2200 W for ~3 min, 3-6 times a day (follows the epoch)",
            (0,),
            lambda a, s, e: Kettle(s, e),
        ),
        ProfileKind(
            "tv",
            "tv",
            "0.5 W standby, 80-120 W in the evening (follows the epoch)",
            (0,),
            lambda a, s, e: TV(s, e),
        ),
        ProfileKind(
            "pc",
            "pc",
            "desktop PC: idle ~60 W, bursts of 150-300 W",
            (0,),
            lambda a, s, e: PC(s),
        ),
        ProfileKind(
            "lamp",
            "lamp",
            "a 9-60 W lamp on in the evening (follows the epoch)",
            (0,),
            lambda a, s, e: Lamp(s, e),
        ),
        ProfileKind(
            "random",
            "random[:LOW_W:HIGH_W]",
            "bounded random walk (default 10-1000 W)",
            (0, 2),
            lambda a, s, e: RandomWalk(s, a[0], a[1]) if len(a) == 2 else RandomWalk(s),
        ),
    )
}


def make_profile(spec: str, seed: int, *, epoch: float = 0.0) -> LoadProfile:
    """Build a profile from a spec such as ``"square:1000:0:600:0.5"`` or ``"fridge"``.

    ``seed`` makes the noisy profiles reproducible; ``epoch`` is the clock at ``t = 0`` for the
    ones that follow the time of day. Raises ``ValueError`` naming the spec and the usage.
    """
    kind_name, *raw = spec.strip().split(":")
    kind_name = kind_name.strip().lower()
    kind = PROFILES.get(kind_name)
    if kind is None:
        known = ", ".join(PROFILES)
        close = difflib.get_close_matches(kind_name, PROFILES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown load profile {kind_name!r} in {spec!r}{hint}; known: {known}")
    if raw == [""]:
        raw = []  # "random:" is "random"
    args: list[float] = []
    for item in raw:
        try:
            value = float(item)
        except ValueError:
            raise ValueError(
                f"bad load profile {spec!r}: {item.strip()!r} is not a number ({kind.usage})"
            ) from None
        if not math.isfinite(value):
            raise ValueError(f"bad load profile {spec!r}: {item.strip()!r} is not finite")
        args.append(value)
    try:
        return kind(args, seed, epoch)
    except ValueError as exc:
        raise ValueError(f"bad load profile {spec!r}: {exc}") from exc
