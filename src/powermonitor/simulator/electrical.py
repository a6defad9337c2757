"""Mains and metering physics for the simulator: from a load's real power to what a plug reports.

Why this exists: real plugs report W, V and mA separately, and W is not V x A because of the
power factor (users notice: tuyapower #12). The simulator must reproduce ``I = P / (V * PF)`` so
the client's derived apparent power and PF can be tested against known truths.

Rules: no clock and no I/O; the mains voltage is a pure function of ``(seed, t)``. It wanders
within ``±jitter`` of nominal: a slow drift (knots every 5 minutes) plus a little flicker (knots
every 7 seconds), interpolated linearly so consecutive polls look like a real grid. Plugs on one
supply should share one ``Mains`` so they see the same voltage, as they would on a real circuit.
A switched-off plug still measures the voltage but no power and no current.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Final

__all__ = ["COMMON_NOMINAL_V", "Electrical", "Mains", "current_a", "measure"]

COMMON_NOMINAL_V: Final = (230.0, 120.0)
_SLOW_KNOT_S: Final = 300.0
_FAST_KNOT_S: Final = 7.0
_SLOW_SHARE: Final = 0.75
_MEMO_CAP: Final = 64  # knots are shared by every plug on the supply; the cache only saves work


@dataclass(frozen=True, slots=True)
class Electrical:
    """What a metering chip sees at one instant, in SI units."""

    power_w: float
    voltage_v: float
    current_a: float
    power_factor: float

    @property
    def apparent_power_va(self) -> float:
        return self.voltage_v * self.current_a


def current_a(power_w: float, voltage_v: float, power_factor: float) -> float:
    """``I = P / (V * PF)``: the current a load of ``power_w`` real watts draws."""
    if not (math.isfinite(power_w) and power_w >= 0.0):
        raise ValueError(f"power must be a finite number of watts >= 0, got {power_w!r}")
    if not (math.isfinite(voltage_v) and voltage_v > 0.0):
        raise ValueError(f"voltage must be a finite number of volts > 0, got {voltage_v!r}")
    if not (0.0 < power_factor <= 1.0):
        raise ValueError(f"power factor must be in (0, 1], got {power_factor!r}")
    return power_w / (voltage_v * power_factor)


def measure(*, on: bool, power_w: float, power_factor: float, voltage_v: float) -> Electrical:
    """The reading of a plug whose relay is ``on``; off means 0 W and 0 A, voltage still there."""
    amps = current_a(power_w, voltage_v, power_factor)  # validates even when off
    if not on:
        return Electrical(0.0, voltage_v, 0.0, power_factor)
    return Electrical(power_w, voltage_v, amps, power_factor)


class Mains:
    """A mains supply: ``nominal_v`` (230 or 120 typically) with seeded, bounded jitter."""

    __slots__ = ("_jitter", "_memo", "_nominal_v", "_seed")

    def __init__(self, nominal_v: float = 230.0, *, seed: int = 0, jitter: float = 0.015) -> None:
        if not (math.isfinite(nominal_v) and nominal_v > 0.0):
            raise ValueError(
                f"nominal voltage must be a finite number of volts > 0, got {nominal_v!r}"
            )
        if not (0.0 <= jitter < 0.2):
            raise ValueError(f"voltage jitter is a fraction in [0, 0.2), got {jitter!r}")
        self._nominal_v = nominal_v
        self._seed = seed
        self._jitter = jitter
        self._memo: dict[tuple[float, int], float] = {}

    @property
    def nominal_v(self) -> float:
        return self._nominal_v

    @property
    def jitter(self) -> float:
        return self._jitter

    def __repr__(self) -> str:
        return f"Mains(nominal_v={self._nominal_v!r}, seed={self._seed!r}, jitter={self._jitter!r})"

    def _knot(self, spacing_s: float, k: int) -> float:
        key = (spacing_s, k)
        hit = self._memo.get(key)
        if hit is None:
            hit = random.Random(f"mains:{self._seed!r}:{spacing_s!r}:{k!r}").uniform(-1.0, 1.0)
            if len(self._memo) >= _MEMO_CAP:
                self._memo.clear()
            self._memo[key] = hit
        return hit

    def _noise(self, spacing_s: float, t: float) -> float:
        """Value noise in [-1, 1]: seeded knots every ``spacing_s``, linear in between."""
        k_f, into = divmod(t, spacing_s)
        k = int(k_f)
        a, b = self._knot(spacing_s, k), self._knot(spacing_s, k + 1)
        return a + (b - a) * (into / spacing_s)

    def voltage_v(self, t: float) -> float:
        """The supply voltage at ``t`` seconds; exactly nominal when ``jitter`` is 0."""
        if self._jitter == 0.0:
            return self._nominal_v
        wobble = _SLOW_SHARE * self._noise(_SLOW_KNOT_S, t) + (1.0 - _SLOW_SHARE) * self._noise(
            _FAST_KNOT_S, t
        )
        return self._nominal_v * (1.0 + self._jitter * wobble)

    def measure(self, t: float, *, on: bool, power_w: float, power_factor: float) -> Electrical:
        """What a plug on this supply reads at ``t`` for a load of ``power_w`` at ``power_factor``."""
        return measure(
            on=on, power_w=power_w, power_factor=power_factor, voltage_v=self.voltage_v(t)
        )
