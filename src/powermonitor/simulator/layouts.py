"""Tuya DP layouts: how a simulated plug's state becomes the raw ``dps`` a real plug would send.

Real plugs put the same quantities under different DP ids depending on the firmware family
(tuya-protocol.md §6, peers.md §7), and presence-guessing readers get some of them wrong. The
simulator offers each family so the client's DP mapping can be tested against all of them.

The layouts are a table keyed by name (``LAYOUTS``); adding a family is adding a row. Raw units
are what the plugs use: current in mA (scale 0), power in 0.1 W (scale 1), voltage in 0.1 V
(scale 1), ``add_ele`` in Wh (kWh at scale 3). Values are rounded half up to integers, as a
plug's firmware reports them.

``add_ele`` is not a lifetime counter: the plug counts energy over a ~30-minute window, then
publishes that window's total and starts again (tinytuya #282). ``AddEleWindow`` keeps that
state for the caller, who passes ``reported_wh`` into ``encode_dps``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "ADD_ELE_WINDOW_S",
    "LAYOUTS",
    "AddEleWindow",
    "Layout",
    "Metering",
    "encode_dps",
    "get_layout",
    "switch_dps",
]

ADD_ELE_WINDOW_S: Final = 1800.0


@dataclass(frozen=True, slots=True)
class Metering:
    """Which DP ids carry the measured quantities (``add_ele_wh`` is None where absent)."""

    current_ma: str
    power_dw: str
    voltage_dv: str
    add_ele_wh: str | None = None


@dataclass(frozen=True, slots=True)
class Layout:
    """One firmware family: its outlet switch DPs, its metering DPs and its constant DPs."""

    name: str
    summary: str
    switches: tuple[str, ...]
    metering: Metering | None
    fixed: tuple[tuple[str, Any], ...] = ()


_CZ_METERING: Final = Metering(current_ma="18", power_dw="19", voltage_dv="20", add_ele_wh="17")

LAYOUTS: Final[Mapping[str, Layout]] = MappingProxyType(
    {
        layout.name: layout
        for layout in (
            Layout(
                "legacy",
                "3.1-era plug: 1 switch, 2 countdown, 4 mA, 5 W x10, 6 V x10",
                switches=("1",),
                metering=Metering(current_ma="4", power_dw="5", voltage_dv="6"),
                fixed=(("2", 0),),
            ),
            Layout(
                "cz",
                "standard 'cz' socket: 1 switch, 9 countdown, 17 add_ele, 18 mA, 19 W x10, "
                "20 V x10, 21 test bit, 22-25 calibration, 26 fault",
                switches=("1",),
                metering=_CZ_METERING,
                fixed=(
                    ("9", 0),
                    ("21", 1),
                    ("22", 640),
                    ("23", 30000),
                    ("24", 17000),
                    ("25", 2000),
                    ("26", 0),
                ),
            ),
            Layout(
                "switch20",
                "switch family: 1 switch, 20 add_ele, 21 mA, 22 W x10, 23 V x10",
                switches=("1",),
                metering=Metering(current_ma="21", power_dw="22", voltage_dv="23", add_ele_wh="20"),
            ),
            Layout(
                "strip4",
                "power strip: outlets 1-4, USB 7, whole-strip 17 add_ele, 18 mA, 19 W x10, 20 V x10",
                switches=("1", "2", "3", "4", "7"),
                metering=_CZ_METERING,
            ),
            Layout(
                "nopower",
                "plain smart plug without metering: 1 switch, 9 countdown",
                switches=("1",),
                metering=None,
                fixed=(("9", 0),),
            ),
        )
    }
)


def get_layout(layout: str) -> Layout:
    """The table row for ``layout``; ``ValueError`` naming the known layouts otherwise."""
    try:
        return LAYOUTS[layout]
    except KeyError:
        known = ", ".join(LAYOUTS)
        raise ValueError(f"unknown DP layout {layout!r}; known layouts: {known}") from None


def switch_dps(layout: str) -> list[str]:
    """The DP ids that are outlet switches in ``layout``, in outlet order."""
    return list(get_layout(layout).switches)


def _raw(label: str, value: float, scale: float) -> int:
    """``value * scale`` rounded half up, as plug firmware reports it."""
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{label} must be a finite number >= 0, got {value!r}")
    return math.floor(value * scale + 0.5)


def encode_dps(
    layout: str,
    *,
    switches: Mapping[int, bool],
    power_w: float,
    voltage_v: float,
    current_a: float,
    add_ele_wh: int = 0,
) -> dict[str, Any]:
    """The raw dps a plug of ``layout`` sends for this state, keys in numeric order.

    ``switches`` maps switch DP number to state; missing outlets are off. When every outlet is
    off the plug reports 0 W and 0 mA whatever is passed (its relay cuts the load), but still the
    voltage. For a strip, ``power_w``/``current_a`` are for the whole strip. Metering values are
    ignored by layouts without metering.
    """
    spec = get_layout(layout)
    states = {str(dp): bool(on) for dp, on in switches.items()}
    if not states.keys() <= set(spec.switches):
        unknown = sorted((dp for dp in states if dp not in spec.switches), key=int)
        raise ValueError(
            f"DP layout {layout!r} has no switch DP {unknown}; its switches are "
            f"{', '.join(spec.switches)}"
        )
    dps: dict[str, Any] = dict(spec.fixed)
    any_on = False
    for dp in spec.switches:
        state = states.get(dp, False)
        dps[dp] = state
        any_on = any_on or state
    metering = spec.metering
    if metering is not None:
        raw_current = _raw("current_a", current_a, 1000.0)
        raw_power = _raw("power_w", power_w, 10.0)
        dps[metering.current_ma] = raw_current if any_on else 0
        dps[metering.power_dw] = raw_power if any_on else 0
        dps[metering.voltage_dv] = _raw("voltage_v", voltage_v, 10.0)
        if metering.add_ele_wh is not None:
            if isinstance(add_ele_wh, bool) or not isinstance(add_ele_wh, int) or add_ele_wh < 0:
                raise ValueError(f"add_ele_wh must be an int >= 0, got {add_ele_wh!r}")
            dps[metering.add_ele_wh] = add_ele_wh
    order = _DP_ORDER.get(spec.name)
    if order is None or len(order) != len(dps):
        order = _DP_ORDER[spec.name] = tuple(sorted(dps, key=int))
    return {dp: dps[dp] for dp in order}


_DP_ORDER: dict[str, tuple[str, ...]] = {}
"""Per layout, its DP ids in numeric order (the same set every call): sorted once."""


@dataclass(frozen=True, slots=True)
class AddEleWindow:
    """The plug's ``add_ele`` bookkeeping: energy counted per window, last total published.

    Power is held from one ``advance`` to the next (each sample's power counts until the next
    sample). At each window boundary the window's energy, rounded half up to whole Wh, becomes
    ``reported_wh`` and the rounding remainder carries into the next window, so the published
    values add up to the true energy within 0.5 Wh. Open a new one (``opened_at``) when the plug
    is switched on if you want the real plugs' "window starts at switch-on" behaviour.
    """

    window_s: float = ADD_ELE_WINDOW_S
    start_s: float = 0.0
    last_t: float = 0.0
    last_power_w: float = 0.0
    pending_wh: float = 0.0
    reported_wh: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.window_s) and self.window_s > 0.0):
            raise ValueError(
                f"add_ele window must be a finite number of seconds > 0, got {self.window_s!r}"
            )

    @classmethod
    def opened_at(cls, t: float, window_s: float = ADD_ELE_WINDOW_S) -> AddEleWindow:
        """A fresh window starting at ``t`` with nothing counted or published yet."""
        return cls(window_s=window_s, start_s=t, last_t=t)

    def advance(self, t: float, power_w: float) -> AddEleWindow:
        """The state at ``t``, where ``power_w`` is the power sampled at ``t``."""
        if t < self.last_t:
            raise ValueError(f"time went backwards: {t!r} s < {self.last_t!r} s")
        if not (math.isfinite(power_w) and power_w >= 0.0):
            raise ValueError(f"power must be a finite number of watts >= 0, got {power_w!r}")
        held_w = self.last_power_w
        pending = self.pending_wh
        reported = self.reported_wh
        start = self.start_s
        cursor = self.last_t
        completed = math.floor((t - start) / self.window_s)
        if completed >= 1:
            last_start = start + (completed - 1) * self.window_s
            if completed >= 2:
                # Windows before the last completed one were published and overwritten unseen:
                # only their rounding remainder survives.
                pending += held_w * (last_start - cursor) / 3600.0
                pending -= math.floor(pending + 0.5)
                cursor = last_start
            start = last_start + self.window_s
            pending += held_w * (start - cursor) / 3600.0
            reported = math.floor(pending + 0.5)
            pending -= reported
            cursor = start
        pending += held_w * (t - cursor) / 3600.0
        return AddEleWindow(self.window_s, start, t, power_w, pending, reported)
