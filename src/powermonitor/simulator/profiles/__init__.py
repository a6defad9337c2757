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

The kinds live in three modules: ``base`` (LoadProfile, units, the seeded generator), ``shapes``
(exact shapes) and ``appliances``; this module is the table of kinds and the spec parser, and
re-exports the public names so ``from powermonitor.simulator.profiles import Fridge`` works.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from .appliances import PC, TV, Fridge, Kettle, Lamp, RandomWalk, Washer
from .base import (
    DAY_S,
    HOUR_S,
    MAX_SCHEDULE_STEPS,
    MINUTE_S,
    LoadProfile,
)
from .shapes import Constant, Ramp, Schedule, Square, schedule_from, schedule_spec

__all__ = [
    "DAY_S",
    "HOUR_S",
    "MAX_SCHEDULE_STEPS",
    "MINUTE_S",
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
    "schedule_from",
    "schedule_spec",
]


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

