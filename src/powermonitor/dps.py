"""Turn a plug's raw data points (dps) into a :class:`~powermonitor.models.Reading`.

Design rules for this module:

* **Pure.** No I/O, no clock: the caller passes the timestamp. Same input, same Reading.
* **Tables, not if-chains.** A DP *layout* is data (:data:`LAYOUTS`); auto-detection is an
  ordered table of presence rules (:data:`DETECTION_RULES`); units are a table per role. Adding
  a layout is adding a row.
* **Never guess a number.** A missing or unreadable DP leaves its field ``None`` (never 0): the
  energy integrator must be able to tell "0 W" from "no data". Garbage never raises.
* **Explicit beats guessed.** A :class:`DpMapping` (from the user or from tinytuya's
  ``devices.json``) wins over presence-based detection, because presence-guessing cannot tell
  the "cz" layout (DP 20 = voltage) from the "switch20" layout (DP 20 = add_ele).

Scales follow Tuya's cloud schema: ``value = raw / 10**scale`` in the DP's unit, then converted
to SI (A, W, V, Wh). DP 17/``add_ele`` is an *increment* since the plug's last report, not a
meter; it lands in ``energy_increment_wh`` and must never be treated as a cumulative total.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Literal

from .models import Reading

__all__ = [
    "DETECTION_RULES",
    "LAYOUTS",
    "MEASUREMENT_ROLES",
    "DetectionRule",
    "DpField",
    "DpMapping",
    "MeasurementRole",
    "detect_layout",
    "detect_switches",
    "interpret",
    "mapping_from_tinytuya",
    "merge_dps",
    "scaled_value",
]

MeasurementRole = Literal["current", "power", "voltage", "energy_increment"]
MEASUREMENT_ROLES: Final[tuple[MeasurementRole, ...]] = (
    "current",
    "power",
    "voltage",
    "energy_increment",
)

# Per role: the units a DP may report, as the power of ten that takes a value in that unit to
# the SI unit of the Reading field (A, W, V, Wh). The first entry is the role's default unit.
_ROLE_UNITS: Final[Mapping[MeasurementRole, Mapping[str, int]]] = MappingProxyType(
    {
        "current": MappingProxyType({"ma": -3, "a": 0}),
        "power": MappingProxyType({"w": 0, "kw": 3}),
        "voltage": MappingProxyType({"v": 0, "mv": -3}),
        "energy_increment": MappingProxyType({"kwh": 3, "wh": 0}),
    }
)
_DEFAULT_UNIT: Final[Mapping[MeasurementRole, str]] = MappingProxyType(
    {"current": "mA", "power": "W", "voltage": "V", "energy_increment": "kWh"}
)
_DEFAULT_SCALE: Final[Mapping[MeasurementRole, int]] = MappingProxyType(
    {"current": 0, "power": 1, "voltage": 1, "energy_increment": 3}
)
# Tuya scales are small decimal shifts; anything outside this range is a broken schema.
_MAX_SCALE: Final = 9

# Outlets of a strip live on boolean DPs 1..7 (switch_1..switch_6, often switch_usb1 at 7).
_OUTLET_DPS: Final[tuple[str, ...]] = tuple(str(n) for n in range(1, 8))
# An apparent power below this (VA) is "no load": a power factor there is noise, not data.
_MIN_APPARENT_VA: Final = 1e-3


@dataclass(frozen=True, slots=True)
class DpField:
    """Where one quantity lives: DP id, decimal scale and the unit of ``raw / 10**scale``."""

    dp: str
    scale: int = 0
    unit: str = ""


@dataclass(frozen=True, slots=True)
class DpMapping:
    """Which DP plays which role. A layout row, a user override or a tinytuya cloud mapping.

    ``switches`` lists outlet DP ids in order (outlet 1 first); empty means "detect the boolean
    outlet DPs", which is right for every known layout, single plug or strip.
    """

    current: DpField | None = None
    power: DpField | None = None
    voltage: DpField | None = None
    energy_increment: DpField | None = None
    switches: tuple[str, ...] = ()
    name: str = "custom"

    def field_for(self, role: MeasurementRole) -> DpField | None:
        """The DP for ``role`` (a lookup by name, so callers can loop over roles)."""
        field: DpField | None = getattr(self, role)
        return field

    @property
    def has_measurements(self) -> bool:
        """True when at least one power-related role is mapped."""
        return any(self.field_for(role) is not None for role in MEASUREMENT_ROLES)


def _layout(name: str, energy: str | None, current: str, power: str, voltage: str) -> DpMapping:
    return DpMapping(
        current=DpField(current, 0, "mA"),
        power=DpField(power, 1, "W"),
        voltage=DpField(voltage, 1, "V"),
        energy_increment=None if energy is None else DpField(energy, 3, "kWh"),
        name=name,
    )


#: The known DP layouts (tuya-protocol.md §6, peers.md §7).
LAYOUTS: Final[Mapping[str, DpMapping]] = MappingProxyType(
    {
        # 3.1-era plugs: 4 mA, 5 W×10, 6 V×10 (DP 2 is a countdown, not a switch).
        "legacy": _layout("legacy", None, "4", "5", "6"),
        # Tuya standard "cz" socket: 17 add_ele, 18 mA, 19 W×10, 20 V×10; 22-25 calibration.
        "cz": _layout("cz", "17", "18", "19", "20"),
        # Some switches: 20 add_ele, 21 mA, 22 W×10, 23 V×10 (tuya-local #5258, localtuya #1521).
        "switch20": _layout("switch20", "20", "21", "22", "23"),
    }
)


@dataclass(frozen=True, slots=True)
class DetectionRule:
    """Pick ``layout`` when every DP in ``requires`` carries a number and none of ``forbids`` does."""

    layout: str
    requires: frozenset[str]
    forbids: frozenset[str] = frozenset()


#: Tried in order; first match wins. Mirrors tuyapower (19 before 5) and adds switch20, which is
#: only safe when DP 19 is absent: in "cz" DPs 21-25 exist too (test bit and calibration).
DETECTION_RULES: Final[tuple[DetectionRule, ...]] = (
    DetectionRule("cz", frozenset({"19"})),
    DetectionRule("legacy", frozenset({"5"})),
    DetectionRule("switch20", frozenset({"21", "22", "23"}), forbids=frozenset({"19"})),
)


def _normalize(dps: Mapping[Any, Any]) -> dict[str, Any]:
    """String DP ids: JSON gives strings, but tuyapi-style callers and tests use ints."""
    if type(dps) is not dict and not isinstance(dps, Mapping):  # (an ABC check is slow)
        return {}
    return {str(key): value for key, value in dps.items()}


def _is_number(value: object) -> bool:
    # bool is an int subclass; a boolean DP is a switch, never a measurement.
    kind = type(value)
    if kind is int or kind is float:  # what JSON gives: answered without isinstance
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def merge_dps(old: Mapping[Any, Any], new: Mapping[Any, Any]) -> dict[str, Any]:
    """Overlay a push on the last known dps: status pushes carry only the DPs that changed.

    Returns a new dict (neither argument is modified) with string DP ids.
    """
    merged = _normalize(old)
    merged.update(_normalize(new))
    return merged


def detect_layout(dps: Mapping[Any, Any]) -> str | None:
    """Name of the layout (a key of :data:`LAYOUTS`) the dps match, or None (no power DPs).

    A DP only counts when it holds a number, so a 5-outlet strip (DP 5 = boolean switch_5) is
    not mistaken for a legacy power plug.
    """
    return _detect_layout(_normalize(dps))


def _detect_layout(norm: Mapping[str, Any]) -> str | None:
    """:func:`detect_layout` of normalised dps: looks up only the DPs the rules name."""
    for rule in DETECTION_RULES:
        if all(_is_number(norm.get(dp)) for dp in rule.requires) and not any(
            _is_number(norm.get(dp)) for dp in rule.forbids
        ):
            return rule.layout
    return None


def detect_switches(dps: Mapping[Any, Any]) -> tuple[str, ...]:
    """Outlet DP ids: DP 1 for a single plug; every boolean DP in 1..7 for a strip.

    A strip is recognised by a *boolean* DP 2 (tuyapower's "2 and 10 present" heuristic, made
    safe: on legacy plugs DP 2 is an integer countdown and DP 10 a calibration value).
    """
    return _detect_switches(_normalize(dps))


def _detect_switches(norm: Mapping[str, Any]) -> tuple[str, ...]:
    booleans = tuple(dp for dp in _OUTLET_DPS if isinstance(norm.get(dp), bool))
    if isinstance(norm.get("2"), bool):
        return booleans
    return tuple(dp for dp in booleans if dp == "1")


def _unit_exponent(role: MeasurementRole, unit: str) -> int:
    units = _ROLE_UNITS[role]
    exponent = units.get(unit.strip().lower())
    if exponent is None:
        exponent = units[_DEFAULT_UNIT[role].lower()]
    return exponent


_SHIFTS: dict[tuple[str, str, int], int] = {}
"""Memo of ``scaled_value``'s decimal shift per (role, unit, scale): parsing the unit every
time cost more than the arithmetic."""


def scaled_value(raw: object, field: DpField, role: MeasurementRole) -> float | None:
    """``raw / 10**scale`` in the field's unit, converted to SI; None for anything not a number.

    One exact int division per value (``69 / 10**3``), so 69 mA is exactly ``0.069`` A rather
    than the float noise of two steps.
    """
    kind = type(raw)
    if kind is not int and kind is not float and (
        isinstance(raw, bool) or not isinstance(raw, (int, float))
    ):
        return None
    key = (role, field.unit, field.scale)
    shift = _SHIFTS.get(key)
    if shift is None:
        shift = _SHIFTS[key] = _unit_exponent(role, field.unit) - field.scale
    try:
        result = float(raw * 10**shift if shift >= 0 else raw / 10 ** (-shift))
    except (OverflowError, ValueError, ArithmeticError):
        return None
    return result if math.isfinite(result) else None


def _derive(
    power_w: float | None, voltage_v: float | None, current_a: float | None
) -> tuple[float | None, float | None]:
    """Apparent power (V·A) and power factor (P / V·A, clamped to [0, 1]).

    W != V·A on real loads (tuyapower #12); PF explains the gap. No PF at ~zero VA: it is noise.
    """
    if voltage_v is None or current_a is None:
        return None, None
    apparent = voltage_v * current_a
    if not math.isfinite(apparent):
        return None, None
    apparent_va = round(apparent, 4)
    if power_w is None or abs(apparent) < _MIN_APPARENT_VA:
        return apparent_va, None
    pf = power_w / apparent
    if not math.isfinite(pf):
        return apparent_va, None
    return apparent_va, round(min(1.0, max(0.0, pf)), 3)


def interpret(
    dps: Mapping[Any, Any],
    *,
    device_id: str,
    timestamp: datetime,
    protocol: str = "",
    mapping: DpMapping | None = None,
) -> Reading:
    """Interpret raw dps as a Reading, using ``mapping`` if given, else the detected layout.

    Never raises on odd input: unknown or unreadable DPs leave their fields None.
    """
    norm = _normalize(dps)  # the one copy (it becomes Reading.dps); helpers reuse it
    if mapping is None:
        layout = _detect_layout(norm)
        mapping = LAYOUTS[layout] if layout is not None else _NO_MAPPING

    def value(field: DpField | None, role: MeasurementRole) -> float | None:
        return None if field is None else scaled_value(norm.get(field.dp), field, role)

    current = value(mapping.current, "current")
    power = value(mapping.power, "power")
    voltage = value(mapping.voltage, "voltage")
    energy = value(mapping.energy_increment, "energy_increment")

    outlet_dps = mapping.switches or _detect_switches(norm)
    switches = {dp: norm[dp] for dp in outlet_dps if isinstance(norm.get(dp), bool)}
    main_switch = next(iter(switches.values()), None)  # outlet 1, or the first one reported

    apparent_va, power_factor = _derive(power, voltage, current)
    return Reading(
        device_id=device_id,
        timestamp=timestamp,
        switch=main_switch,
        switches=switches,
        power_w=power,
        voltage_v=voltage,
        current_a=current,
        apparent_power_va=apparent_va,
        power_factor=power_factor,
        energy_increment_wh=energy,
        dps=norm,
        protocol=protocol,
    )


_NO_MAPPING: Final = DpMapping(name="none")


# tinytuya devices.json `mapping` codes (Tuya standard instruction set) → roles.
_CODE_ROLES: Final[Mapping[str, MeasurementRole]] = MappingProxyType(
    {
        "cur_current": "current",
        "cur_power": "power",
        "cur_voltage": "voltage",
        "add_ele": "energy_increment",
    }
)
_SWITCH_CODE: Final = re.compile(r"switch(_\d+|_usb\d+)?")


def _dp_sort_key(dp: str) -> tuple[int, int | str]:
    return (0, int(dp)) if dp.isascii() and dp.isdigit() else (1, dp)


def _entry_values(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``values`` schema of one mapping entry; older dumps store it as a JSON string."""
    values = entry.get("values")
    if isinstance(values, str):
        try:
            values = json.loads(values)
        except ValueError:
            return {}
    return values if isinstance(values, Mapping) else {}


def _entry_field(dp: str, role: MeasurementRole, values: Mapping[str, Any]) -> DpField:
    scale = values.get("scale")
    if not (isinstance(scale, int) and not isinstance(scale, bool) and 0 <= scale <= _MAX_SCALE):
        scale = _DEFAULT_SCALE[role]
    unit = values.get("unit")
    if not (isinstance(unit, str) and unit.strip().lower() in _ROLE_UNITS[role]):
        unit = _DEFAULT_UNIT[role]
    return DpField(dp, scale, unit)


def mapping_from_tinytuya(mapping: Mapping[Any, Any]) -> DpMapping:
    """Build a DpMapping from a tinytuya ``devices.json`` ``mapping`` (the cloud DP schema).

    Input shape: ``{"19": {"code": "cur_power", "type": "Integer", "values": {"unit": "W",
    "scale": 1, ...}}, ...}``. Codes ``cur_current``/``cur_power``/``cur_voltage``/``add_ele``
    give the measurement roles (lowest DP wins a duplicate), ``switch``/``switch_N``/
    ``switch_usbN`` the outlets. Missing or invalid scale/unit fall back to the usual Tuya
    defaults; entries that are not dicts are ignored.
    """
    fields: dict[MeasurementRole, DpField] = {}
    switches: list[str] = []
    entries = _normalize(mapping)
    for dp in sorted(entries, key=_dp_sort_key):
        entry = entries[dp]
        if not isinstance(entry, Mapping):
            continue
        code = entry.get("code")
        if not isinstance(code, str):
            continue
        role = _CODE_ROLES.get(code)
        if role is not None:
            fields.setdefault(role, _entry_field(dp, role, _entry_values(entry)))
        elif _SWITCH_CODE.fullmatch(code):
            switches.append(dp)
    return DpMapping(
        current=fields.get("current"),
        power=fields.get("power"),
        voltage=fields.get("voltage"),
        energy_increment=fields.get("energy_increment"),
        switches=tuple(switches),
        name="tinytuya",
    )
