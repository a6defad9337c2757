"""Plausibility: what a plug's numbers may be before anyone is shown them.

Two levels, both pure (values in, values and notes out):

* **Bounds, for every reading.** Non-finite values, negative power and absurd magnitudes
  (1e300 W would poison the persisted kWh counter forever) are rejected: the field becomes None
  and a note says which DP and why. Nothing downstream integrates, stores or exports them.
* **Settling a guess.** When the DPs were recognised by position only (no mapping, no known
  profile) the decimal scales are Tuya's usual ones, but families differ (V/10 or V/100, W/10 or
  W/1, mA or 10 mA). Physics settles what it can: mains voltage lies in 90-265 V, a span under
  one decade, so exactly one scale fits; power and current must agree with that voltage
  (0.11 ≤ P / V·I ≤ 1.05 within the readings' resolution) at the layout's usual scale. Where
  they do not, nothing is shown: None with a note that names the DP, never a number off by a
  factor of ten.

For a trusted source (a cloud/devices.json mapping or a profile) the same checks only add
notes: the doctor shows them, and a wrong mapping is visible instead of silently believed.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from .fields import DpMapping, MeasurementRole

__all__ = [
    "BOUNDS",
    "MAINS_V",
    "PF_RANGE",
    "check_guess",
    "counter_step_note",
    "cross_check",
    "is_mains",
    "plausible",
    "reject_absurd",
    "settle_guess",
]

#: Per role, the SI values a real plug, meter or breaker can report (inclusive). Beyond them a
#: value is broken, whatever the scale: 100 kW covers a 3-phase 125 A meter.
BOUNDS: Final[Mapping[MeasurementRole, tuple[float, float]]] = MappingProxyType(
    {
        "power": (0.0, 100_000.0),
        "voltage": (0.0, 1_000.0),
        "current": (0.0, 500.0),
        "energy_increment": (0.0, 100_000.0),
        "energy_total": (0.0, 1e11),
    }
)
_SI_UNIT: Final[Mapping[MeasurementRole, str]] = MappingProxyType(
    {"power": "W", "voltage": "V", "current": "A", "energy_increment": "Wh",
     "energy_total": "Wh"}
)
#: Mains voltage anywhere (100 V Japan to 240 V +10 %); narrower than one decade on purpose.
MAINS_V: Final = (90.0, 265.0)
#: Power factor of real loads, with room for metering error; narrower than one decade too.
PF_RANGE: Final = (0.11, 1.05)
# A plug (the only kind a guess can recognise) carries at most 16 A; 20 A leaves a margin.
_PLUG_MAX_A: Final = 20.0
# Energy a plug can count in one add_ele window (30 min at 20 A and 265 V is 2.65 kWh).
_PLUG_MAX_INCREMENT_WH: Final = 3_000.0
_DECADES: Final = (-2, -1, 0, 1, 2)
_HALF_MA: Final = 0.0005
_POWER_CURRENT: Final[tuple[MeasurementRole, ...]] = ("power", "current")


def _label(role: MeasurementRole) -> str:
    return role.replace("_", " ")


def reject_absurd(
    values: dict[MeasurementRole, float | None], mapping: DpMapping,
    skip: tuple[MeasurementRole, ...] = (),
) -> list[str]:
    """Set out-of-bounds values to None in place; return one note per rejected value."""
    notes = []
    for role, value in values.items():
        if value is None or role in skip:
            continue
        low, high = BOUNDS[role]
        if not low <= value <= high:  # (NaN compares False: caught here too)
            field = mapping.field_for(role)
            dp = field.dp if field is not None else "?"
            notes.append(f"DP {dp}: {_label(role)} {value:g} {_SI_UNIT[role]} is impossible "
                         f"(allowed {low:g} to {high:g}); ignored")
            values[role] = None
    return notes


def _dp_of(mapping: DpMapping, role: MeasurementRole) -> str:
    field = mapping.field_for(role)
    return field.dp if field is not None else "?"


def _settle_voltage(voltage: float) -> tuple[float | None, int]:
    """The one decade shift that puts ``voltage`` in mains range, or (None, 0)."""
    if MAINS_V[0] <= voltage <= MAINS_V[1]:  # the usual reading: MAINS_V spans < 1 decade,
        return round(voltage, 6), 0  # so no other decade can fit too
    fits = [d for d in _DECADES if MAINS_V[0] <= voltage * 10.0**d <= MAINS_V[1]]
    if len(fits) != 1:
        return None, 0
    return round(voltage * 10.0 ** fits[0], 6), fits[0]


def _pf_fits(power: float, voltage: float, current: float, decade: int) -> bool:
    """Could ``power × 10**decade`` be real with this voltage and current?

    Within the readings' resolution: half a step of power (0.05 W at W×10, scaled with the
    decade) and of current (0.5 mA), so a 0.5 W standby load still settles.
    """
    p = power * 10.0**decade
    step = 0.05 * 10.0**decade
    low = PF_RANGE[0] * voltage * max(0.0, current - _HALF_MA)
    high = PF_RANGE[1] * voltage * (current + _HALF_MA)
    return p + step >= low and p - step <= high


def settle_guess(
    values: dict[MeasurementRole, float | None], mapping: DpMapping
) -> list[str]:
    """Keep only the values of a position-guessed layout whose scale physics can settle.

    Changes ``values`` in place (a settled voltage scale, None for what stays unknown) and
    returns the notes.
    """
    notes: list[str] = []
    voltage, power, current = values.get("voltage"), values.get("power"), values.get("current")
    if voltage is not None:
        settled, decade = _settle_voltage(voltage)
        vdp = _dp_of(mapping, "voltage")
        if settled is None:
            notes.append(f"DP {vdp}: voltage {voltage:g} V is outside mains range at every "
                         "decimal scale; scale unknown")
        elif decade:
            notes.append(f"DP {vdp}: voltage is {settled:g} V (the only decimal scale that "
                         "gives mains voltage)")
        values["voltage"] = voltage = settled
    pdp, idp = _dp_of(mapping, "power"), _dp_of(mapping, "current")
    nonzero = [role for role in _POWER_CURRENT if values.get(role)]  # 0 is 0 at any scale
    if nonzero and voltage is None:
        _unknown(values, notes, f"no mains voltage to check them against (DP {pdp} power, "
                                f"DP {idp} current): scales unknown", roles=tuple(nonzero))
    elif nonzero == ["power"] and current is None:
        _unknown(values, notes, f"DP {pdp} power: scale unknown without a current DP to check "
                                "it against", roles=("power",))
    elif nonzero == ["current"]:
        _unknown(values, notes, f"DP {idp} current: scale unknown without power to check it "
                                "against", roles=("current",))
    elif power and current is not None and voltage:
        apparent = voltage * current
        # The layout's own scale stands when physics allows it, even if another decade would
        # too (a 1 W standby load at 4 mA fits W and W/10): that is how the common layouts
        # are read. Only when the layout's scale is impossible is nothing shown.
        if not _pf_fits(power, voltage, current, 0):  # the layout itself is in doubt
            why = ("power exceeds voltage × current" if power > PF_RANGE[1] * apparent
                   else "no single decimal scale fits power and current")
            _unknown(values, notes, f"DP {pdp} power and DP {idp} current: {why} "
                                    f"({power:g} W vs {apparent:.1f} VA at DP "
                                    f"{_dp_of(mapping, 'voltage')}); layout or scales unknown",
                     roles=tuple(values))
        elif current > _PLUG_MAX_A:
            _unknown(values, notes, f"DP {idp} current {current:g} A is more than a plug "
                                    "carries; scales unknown")
    increment = values.get("energy_increment")
    if increment is not None and increment > _PLUG_MAX_INCREMENT_WH:
        notes.append(f"DP {_dp_of(mapping, 'energy_increment')}: energy increment "
                     f"{increment:g} Wh is more than a plug counts between reports; scale unknown")
        values["energy_increment"] = None
    return notes


def check_guess(values: dict[MeasurementRole, float | None], mapping: DpMapping) -> list[str]:
    """Every check of a position-guessed layout, in order: bounds (voltage after settling),
    :func:`settle_guess`, bounds again. Changes ``values`` in place; returns the notes.

    The usual reading (mains voltage, power and current that fit it, everything in bounds)
    is recognised in one pass: the full sequence would only round the voltage.
    """
    voltage, power, current = values.get("voltage"), values.get("power"), values.get("current")
    increment = values.get("energy_increment")
    total = values.get("energy_total")
    if (
        voltage is not None and _MAINS_LOW <= voltage <= _MAINS_HIGH
        and (settled := round(voltage, 6)) is not None  # settling rounds a mains voltage
        and (power is None or 0.0 <= power <= _MAX_POWER)
        and (current is None or 0.0 <= current <= _PLUG_MAX_A)
        and (increment is None or 0.0 <= increment <= _PLUG_MAX_INCREMENT_WH)
        and (total is None or 0.0 <= total <= _MAX_TOTAL)
        and (
            (not power and not current)
            or (power and current and _pf_fits(power, settled, current, 0))
        )
    ):
        values["voltage"] = settled
        return []
    notes = reject_absurd(values, mapping, skip=("voltage",))
    notes += settle_guess(values, mapping)
    notes += reject_absurd(values, mapping)
    return notes


_MAINS_LOW, _MAINS_HIGH = MAINS_V
_MAX_POWER: Final = BOUNDS["power"][1]
_MAX_TOTAL: Final = BOUNDS["energy_total"][1]


def _unknown(
    values: dict[MeasurementRole, float | None], notes: list[str], note: str,
    roles: tuple[MeasurementRole, ...] = ("power", "current"),
) -> None:
    for role in roles:
        values[role] = None
    notes.append(note)


def is_mains(voltage: float | None) -> bool:
    """True for a voltage in :data:`MAINS_V`."""
    return voltage is not None and MAINS_V[0] <= voltage <= MAINS_V[1]


def plausible(values: Mapping[MeasurementRole, float | None]) -> bool:
    """True when voltage is mains and power and current fit it, at the scales as read."""
    voltage, power, current = values.get("voltage"), values.get("power"), values.get("current")
    if voltage is None or power is None or current is None:
        return False
    if not is_mains(voltage) or power < 0 or current < 0:
        return False
    return (power == 0 and current == 0) or (
        current <= _PLUG_MAX_A and _pf_fits(power, voltage, current, 0)
        and not any(_pf_fits(power, voltage, current, d) for d in _DECADES if d)
    )


def cross_check(
    values: Mapping[MeasurementRole, float | None], mapping: DpMapping
) -> list[str]:
    """Notes (no changes) when a trusted mapping's values break physics: its scales may be off."""
    notes = []
    voltage, power, current = values.get("voltage"), values.get("power"), values.get("current")
    if voltage is not None and voltage != 0 and not MAINS_V[0] <= voltage <= MAINS_V[1]:
        notes.append(f"physics: DP {_dp_of(mapping, 'voltage')} voltage {voltage:g} V is "
                     "outside mains range; check the voltage scale")
    if voltage and power is not None and current is not None and power > 0:
        apparent = voltage * current
        if not _pf_fits(power, voltage, current, 0):
            notes.append(f"physics: power {power:g} W does not fit voltage × current "
                         f"({apparent:.1f} VA); check the scales of DP "
                         f"{_dp_of(mapping, 'power')} and DP {_dp_of(mapping, 'current')}")
    return notes


def counter_step_note(
    before_wh: float, before_ts: float, after_wh: float, after_ts: float,
    max_power_w: float = BOUNDS["power"][1],
) -> str:
    """A note when a cumulative energy counter steps backwards or faster than any load could."""
    if after_wh < before_wh:
        return f"energy counter went backwards ({before_wh:g} → {after_wh:g} Wh)"
    hours = max(after_ts - before_ts, 1.0) / 3600.0
    if after_wh - before_wh > max_power_w * hours:
        return (f"energy counter jumped {after_wh - before_wh:g} Wh in "
                f"{after_ts - before_ts:.0f} s, more than {max_power_w:g} W could use")
    return ""
