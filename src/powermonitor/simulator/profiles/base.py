"""The base of every load profile: the clock units, the seeded per-slot generator and the
argument checks that every kind shares (see the package docstring for the design rules)."""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from typing import ClassVar, Final

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
