"""Exact shapes with no noise (constant, square, schedule, ramp), so energy tests can integrate
them analytically."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from .base import (
    MAX_SCHEDULE_STEPS,
    LoadProfile,
    _check_pf,
    _check_positive,
    _check_watts,
)


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
