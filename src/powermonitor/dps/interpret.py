"""Turn a plug's raw data points (dps) into a :class:`~powermonitor.models.Reading`.

Design rules for this module:

* **Pure.** No I/O, no clock: the caller passes the timestamp. Same input, same Reading.
* **Tables, not if-chains.** A DP *layout* is data (:data:`LAYOUTS`); auto-detection is an
  ordered table of presence rules (:data:`DETECTION_RULES`); units are a table per role. Adding
  a layout is adding a row.
* **Never guess a number.** A missing or unreadable DP leaves its field ``None`` (never 0): the
  energy integrator must be able to tell "0 W" from "no data". Garbage never raises.
* **Explicit beats guessed.** A :class:`DpMapping` (from the user, the cloud or tinytuya's
  ``devices.json``) wins over the model profile of the plug's product id (``profiles.py``),
  which wins over presence-based detection: presence-guessing cannot tell the "cz" layout
  (DP 20 = voltage) from the "switch20" layout (DP 20 = add_ele), nor a plug's scales.
* **Physics before numbers** (``physics.py``): absurd values are rejected for every source;
  a guessed layout shows only the values whose scale physics settles, the rest is None with a
  note. ``Reading.source`` says which of mapping, profile or guess the numbers came from.

Scales follow Tuya's cloud schema: ``value = raw / 10**scale`` in the DP's unit, then converted
to SI (A, W, V, Wh). DP 17/``add_ele`` is an *increment* since the plug's last report, not a
meter; it lands in ``energy_increment_wh`` and must never be treated as a cumulative total.

Longer than ~500 lines because the per-shape plan cache (:func:`_plan`, the hot path of every
reading) is built from this module's layout tables, detection and rival models, and reads
them directly; apart, the two halves would import each other.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from ..models import Reading, new_reading
from . import physics
from .fields import (
    _DEFAULT_SCALE,
    _DEFAULT_UNIT,
    _MAX_SCALE,
    _ROLE_UNITS,
    MEASUREMENT_ROLES,
    DpField,
    DpMapping,
    MeasurementRole,
    field_value,
    shifted,
    si_shift,
)
from .profiles import Profile, profile_for, same_dps

__all__ = [
    "DETECTION_RULES",
    "LAYOUTS",
    "DetectionRule",
    "detect_layout",
    "detect_switches",
    "interpret",
    "mapping_from_tinytuya",
    "merge_dps",
    "resolve_mapping",
]

# Outlets of a strip live on boolean DPs 1..7 (switch_1..switch_6, often switch_usb1 at 7).
_OUTLET_DPS: Final[tuple[str, ...]] = tuple(str(n) for n in range(1, 8))
# An apparent power below this (VA) is "no load": a power factor there is noise, not data.
_MIN_APPARENT_VA: Final = 1e-3


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
    if type(dps) is dict:
        norm = dict(dps)  # what JSON gives (string ids): one C-level copy, then a check
        for key in norm:
            if type(key) is not str:
                break
        else:
            return norm
    elif not isinstance(dps, Mapping):  # (an ABC check is slow: asked only when not a dict)
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


def resolve_mapping(
    norm: Mapping[str, Any], mapping: DpMapping | None, product_id: str | None
) -> tuple[DpMapping, str]:
    """The mapping to read ``norm`` with, and where it came from (``Reading.source``)."""
    if mapping is not None:
        return mapping, f"mapping {mapping.name}"
    profile = profile_for(product_id)
    if profile is not None:
        return profile.mapping, f"profile {profile.id}"
    layout = _detect_layout(norm)
    if layout is not None:
        return LAYOUTS[layout], f"guess {layout}"
    return _NO_MAPPING, "none"


def _read_values(
    norm: Mapping[str, Any], mapping: DpMapping
) -> dict[MeasurementRole, float | None]:
    values: dict[MeasurementRole, float | None] = {}
    for role in MEASUREMENT_ROLES:
        field = mapping.field_for(role)
        if field is not None:
            values[role] = field_value(norm.get(field.dp), field, role)[0]
    return values


_PIV: Final[tuple[MeasurementRole, ...]] = ("power", "current", "voltage")


def _piv_fields(mapping: DpMapping) -> list[DpField]:
    return [f for f in (mapping.field_for(role) for role in _PIV) if f is not None]


def _shift(field: DpField, role: MeasurementRole) -> tuple[str, int]:
    """A field as (DP, decimal shift to SI): mA at scale 0 and A at scale 3 are the same."""
    return field.dp, _ROLE_UNITS[role].get(field.unit.lower(), 0) - field.scale


@functools.cache
def _rivals(mapping: DpMapping) -> tuple[Profile, ...]:
    """Known models on the same power/current/voltage DPs that read them differently."""
    mine = {role: _shift(f, role) for role in _PIV if (f := mapping.field_for(role))}
    rivals: dict[tuple[tuple[str, int], ...], Profile] = {}
    for profile in same_dps(frozenset(dp for dp, _ in mine.values())):
        theirs = {role: _shift(f, role) for role in _PIV if (f := profile.mapping.field_for(role))}
        if theirs != mine:
            rivals.setdefault(tuple(theirs[role] for role in _PIV), profile)
    return tuple(rivals.values())


def _rival_models(
    norm: Mapping[str, Any], mapping: DpMapping, values: dict[MeasurementRole, float | None],
    rivals: tuple[Profile, ...] | None = None,
) -> list[str]:
    """A guess stands only if no known model on the same DPs reads them differently and
    plausibly (e.g. a breaker with voltage and power swapped): otherwise nothing is shown."""
    if not any(values.get(role) is not None for role in _PIV):
        return []
    for profile in _rivals(mapping) if rivals is None else rivals:
        voltage = profile.mapping.voltage
        if voltage is not None and not physics.is_mains(
            field_value(norm.get(voltage.dp), voltage, "voltage")[0]
        ):
            continue  # the usual case: the rival's voltage scale gives no mains voltage
        rival = _read_values(norm, profile.mapping)
        if physics.plausible(rival) and any(rival.get(r) != values.get(r) for r in _PIV):
            for role in values:
                values[role] = None
            dps = ", ".join(sorted({f.dp for f in _piv_fields(mapping)}, key=int))
            note = (f"DPs {dps} also fit the known model {profile.id} read differently; "
                    "set the plug's product id or a mapping")
            return [note]
    return []


# DPs whose *type* decides the layout guess (numbers on 5, 19, 21-23) and the outlets (booleans
# on 1-7): a plug's readings share them, so the decision is made once per shape (_plan).
_SHAPE_DPS: Final[tuple[str, ...]] = tuple(
    sorted(set(_OUTLET_DPS) | {dp for rule in DETECTION_RULES for dp in rule.requires | rule.forbids},
           key=int)
)
_PLAN_CACHE_MAX: Final = 512


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a reading of one shape is read with: decided once, reused for every reading."""

    given: DpMapping | None  # the caller's mapping (identity-checked: the cache key is its id)
    mapping: DpMapping
    source: str
    guess: bool
    fields: tuple[tuple[MeasurementRole, DpField, str, int], ...]  # role, field, DP, _divisor
    outlets: tuple[str, ...]
    rivals: tuple[Profile, ...]
    rival_volts: tuple[tuple[str, int], ...] | None  # each rival's voltage (DP, shift), if plain


_PLANS: dict[tuple[int, str | None, tuple[type, ...]], _Plan] = {}


def _plan(norm: Mapping[str, Any], mapping: DpMapping | None, product_id: str | None) -> _Plan:
    """The cached :class:`_Plan` for these dps' shape (which of the deciding DPs are numbers,
    booleans or absent), mapping and product id; bounded (a plug that keeps changing shape
    only costs a fresh decision)."""
    get = norm.get
    shape = tuple([type(get(dp)) for dp in _SHAPE_DPS])
    key = (id(mapping), product_id, shape)
    plan = _PLANS.get(key)
    if plan is not None and plan.given is mapping:
        return plan
    resolved, source = resolve_mapping(norm, mapping, product_id)
    guess = source.startswith("guess")
    rivals = _rivals(resolved) if guess else ()
    fields = tuple(
        (role, field, field.dp, _divisor(field, role))
        for role in MEASUREMENT_ROLES if (field := resolved.field_for(role)) is not None
    )
    plan = _Plan(
        given=mapping, mapping=resolved, source=source, guess=guess, fields=fields,
        outlets=resolved.switches or _detect_switches(norm),
        rivals=rivals, rival_volts=_rival_volts(rivals),
    )
    if len(_PLANS) >= _PLAN_CACHE_MAX:
        _PLANS.clear()
    _PLANS[key] = plan
    return plan


def _fast_shift(field: DpField, role: MeasurementRole) -> int | None:
    """The decimal shift to SI that :func:`_value` may apply itself, or None (use field_value)."""
    if field.mask:
        return None
    shift = si_shift(field, role)
    return shift if -_MAX_FAST_SHIFT <= shift <= _MAX_FAST_SHIFT else None


def _divisor(field: DpField, role: MeasurementRole) -> int:
    """``10**-shift`` when :func:`interpret` may scale a plain integer of this field itself
    (``raw / divisor`` is :func:`shifted`'s one exact step), else 0 (use field_value)."""
    shift = _fast_shift(field, role)
    return 10**-shift if shift is not None and shift <= 0 else 0


def _rival_volts(rivals: tuple[Profile, ...]) -> tuple[tuple[str, int], ...] | None:
    """Where each rival model reads its voltage, as (DP, shift) for :func:`_rivals_off_mains`;
    None when one of them reads it otherwise (no voltage, a blob): _rival_models decides."""
    volts = []
    for profile in rivals:
        voltage = profile.mapping.voltage
        shift = None if voltage is None else _fast_shift(voltage, "voltage")
        if voltage is None or shift is None:
            return None
        volts.append((voltage.dp, shift))
    return tuple(volts)


def _rivals_off_mains(get: Any, volts: tuple[tuple[str, int], ...]) -> bool:
    """True when no rival model reads a mains voltage from these dps (the usual case, in
    which :func:`_rival_models` finds nothing), by plain integer arithmetic."""
    low, high = physics.MAINS_V
    for dp, shift in volts:
        raw = get(dp)
        if raw is None:
            continue  # field_value(None) is None: not mains
        if type(raw) is not int or not -_EXACT < raw < _EXACT:
            return False  # not the plain case: let _rival_models decide
        if low <= shifted(raw, shift) <= high:
            return False
    return True


_EXACT: Final = 1 << 53
_MAX_FAST_SHIFT: Final = 30


def interpret(
    dps: Mapping[Any, Any],
    *,
    device_id: str,
    timestamp: datetime,
    protocol: str = "",
    mapping: DpMapping | None = None,
    product_id: str | None = None,
) -> Reading:
    """Interpret raw dps as a Reading: ``mapping`` if given, else the profile of ``product_id``,
    else the detected layout, checked against physics.

    Never raises on odd input: unknown, unreadable or implausible DPs leave their fields None,
    with a note in ``Reading.notes``.
    """
    norm = _normalize(dps)  # the one copy (it becomes Reading.dps); helpers reuse it
    plan = _plan(norm, mapping, product_id)
    mapping, source = plan.mapping, plan.source
    notes: list[str] = []
    values: dict[MeasurementRole, float | None] = {}
    get = norm.get
    for role, field, dp, divisor in plan.fields:
        raw = get(dp)
        if divisor and type(raw) is int and -_EXACT < raw < _EXACT:
            # field_value's result for the plain integer a plug sends (shifted()'s one exact
            # step, its power of ten made once per plan), always finite in these bounds
            values[role] = raw / divisor
            continue
        value, note = field_value(raw, field, role)
        values[role] = value
        if note:
            notes.append(note)
    if values:
        if plan.guess:  # settling may rescale the voltage: its bounds after
            notes += physics.check_guess(values, mapping)
            volts = plan.rival_volts
            if plan.rivals and (volts is None or not _rivals_off_mains(get, volts)):
                notes += _rival_models(norm, mapping, values, plan.rivals)
        else:
            notes += physics.reject_absurd(values, mapping)
            notes += physics.cross_check(values, mapping)
    current, power, voltage = values.get("current"), values.get("power"), values.get("voltage")

    switches: dict[str, bool] = {}
    main_switch = None  # outlet 1, or the first one reported
    for dp in plan.outlets:  # (a loop: a comprehension is one more frame per reading)
        state = get(dp)
        if type(state) is bool:
            switches[dp] = state
            if main_switch is None:
                main_switch = state

    apparent_va, power_factor = _derive(power, voltage, current)
    return new_reading(  # Reading's fields, in order
        device_id, timestamp, main_switch, switches, power, voltage, current, apparent_va,
        power_factor, values.get("energy_increment"), norm, protocol,
        values.get("energy_total"), source, tuple(notes),
    )


_NO_MAPPING: Final = DpMapping(name="none")


# tinytuya devices.json `mapping` codes (Tuya standard instruction set) → roles.
_CODE_ROLES: Final[Mapping[str, MeasurementRole]] = MappingProxyType(
    {
        "cur_current": "current",
        "cur_power": "power",
        "cur_voltage": "voltage",
        "add_ele": "energy_increment",
        "total_forward_energy": "energy_total",
        "forward_energy_total": "energy_total",
    }
)
# The standard base64 "phase_a" blob of meters and breakers (8 bytes: V×10 in 2, A×1000 in 3,
# kW×1000 in 3), as most families in profiles.json send it.
_PHASE_CODE: Final = "phase_a"
_PHASE_FIELDS: Final[tuple[tuple[MeasurementRole, int, str, str], ...]] = (
    ("voltage", 1, "V", "FFFF000000000000"),
    ("current", 3, "A", "0000FFFFFF000000"),
    ("power", 3, "kW", "0000000000FFFFFF"),
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
    "scale": 1, ...}}, ...}``. Codes ``cur_current``/``cur_power``/``cur_voltage``/``add_ele``/
    ``total_forward_energy`` give the measurement roles (lowest DP wins a duplicate), a meter's
    ``phase_a`` blob gives voltage, current and power, ``switch``/``switch_N``/
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
        elif code == _PHASE_CODE:
            for phase_role, scale, unit, mask in _PHASE_FIELDS:
                fields.setdefault(phase_role, DpField(dp, scale, unit, mask))
        elif _SWITCH_CODE.fullmatch(code):
            switches.append(dp)
    return DpMapping(
        current=fields.get("current"),
        power=fields.get("power"),
        voltage=fields.get("voltage"),
        energy_increment=fields.get("energy_increment"),
        energy_total=fields.get("energy_total"),
        switches=tuple(switches),
        name="tinytuya",
    )
