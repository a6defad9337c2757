"""Where a quantity lives in a plug's dps and how its raw value becomes an SI number.

A :class:`DpField` names one DP, its decimal scale (``value = raw / 10**scale`` in ``unit``, as
Tuya's cloud schema writes it) and, for the base64 "phase" blobs of meters and breakers, the
hex ``mask`` of the bits that hold the quantity. A :class:`DpMapping` gives each measurement
role its field. Both are data; this module only reads values out of dps (pure, never raises on
odd input: an unreadable value is None and the reason is said, never guessed).

``energy_increment`` is Tuya's ``add_ele`` (DP 17 on sockets): energy since the plug's last
report, an increment that resets. ``energy_total`` is a meter register (``total_forward_energy``
on meters and breakers): it only grows.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, cast

__all__ = [
    "MEASUREMENT_ROLES",
    "DpField",
    "DpMapping",
    "MeasurementRole",
    "field_value",
    "scaled_value",
]

MeasurementRole = Literal["current", "power", "voltage", "energy_increment", "energy_total"]
MEASUREMENT_ROLES: Final[tuple[MeasurementRole, ...]] = (
    "current",
    "power",
    "voltage",
    "energy_increment",
    "energy_total",
)

# Per role: the units a DP may report, as the power of ten that takes a value in that unit to
# the SI unit of the Reading field (A, W, V, Wh). The first entry is the role's default unit.
_ROLE_UNITS: Final[Mapping[MeasurementRole, Mapping[str, int]]] = MappingProxyType(
    {
        "current": MappingProxyType({"ma": -3, "a": 0}),
        "power": MappingProxyType({"w": 0, "kw": 3}),
        "voltage": MappingProxyType({"v": 0, "mv": -3}),
        "energy_increment": MappingProxyType({"kwh": 3, "wh": 0}),
        "energy_total": MappingProxyType({"kwh": 3, "wh": 0}),
    }
)
_DEFAULT_UNIT: Final[Mapping[MeasurementRole, str]] = MappingProxyType(
    {"current": "mA", "power": "W", "voltage": "V", "energy_increment": "kWh",
     "energy_total": "kWh"}
)
_DEFAULT_SCALE: Final[Mapping[MeasurementRole, int]] = MappingProxyType(
    {"current": 0, "power": 1, "voltage": 1, "energy_increment": 3, "energy_total": 2}
)
# Tuya scales are small decimal shifts; anything outside this range is a broken schema.
_MAX_SCALE: Final = 9
# A phase blob is a few bytes per phase; a longer "blob" is garbage, not data to decode.
_MAX_BLOB_BYTES: Final = 64


@dataclass(frozen=True, slots=True)
class DpField:
    """Where one quantity lives: DP id, decimal scale and the unit of ``raw / 10**scale``.

    ``mask`` (hex, empty for a plain integer DP) marks a base64 blob: the quantity is the
    big-endian bits the mask selects, and the blob must be exactly as long as the mask.
    """

    dp: str
    scale: int = 0
    unit: str = ""
    mask: str = ""


@dataclass(frozen=True, slots=True)
class DpMapping:
    """Which DP plays which role. A layout row, a profile, a user override or a cloud mapping.

    ``switches`` lists outlet DP ids in order (outlet 1 first); empty means "detect the boolean
    outlet DPs", which is right for every known layout, single plug or strip.
    """

    current: DpField | None = None
    power: DpField | None = None
    voltage: DpField | None = None
    energy_increment: DpField | None = None
    switches: tuple[str, ...] = ()
    name: str = "custom"
    energy_total: DpField | None = None

    def field_for(self, role: MeasurementRole) -> DpField | None:
        """The DP for ``role`` (a lookup by name, so callers can loop over roles)."""
        field: DpField | None = getattr(self, role)
        return field

    @property
    def has_measurements(self) -> bool:
        """True when at least one power-related role is mapped."""
        return any(self.field_for(role) is not None for role in MEASUREMENT_ROLES)


def _unit_exponent(role: MeasurementRole, unit: str) -> int:
    units = _ROLE_UNITS[role]
    exponent = units.get(unit.strip().lower())
    if exponent is None:
        exponent = units[_DEFAULT_UNIT[role].lower()]
    return exponent


_SHIFTS: dict[tuple[str, str, int], int] = {}
"""Memo of :func:`si_shift` per (role, unit, scale): parsing the unit every time cost more
than the arithmetic."""


def si_shift(field: DpField, role: MeasurementRole) -> int:
    """Decimal places that take the field's raw number to SI: its unit's exponent less its
    scale (``mA`` at scale 0 for current: -3)."""
    key = (role, field.unit, field.scale)
    shift = _SHIFTS.get(key)
    if shift is None:
        shift = _SHIFTS[key] = _unit_exponent(role, field.unit) - field.scale
    return shift


def shifted(raw: float, shift: int) -> float:
    """``raw`` moved ``shift`` decimal places in one exact step (``69 / 10**3``, not
    ``69 * 10**-3``): the one expression behind every scaled reading. May raise on huge input."""
    return float(raw * 10**shift if shift >= 0 else raw / 10 ** (-shift))


def scaled_value(raw: object, field: DpField, role: MeasurementRole) -> float | None:
    """``raw / 10**scale`` in the field's unit, converted to SI; None for anything not a number.

    One exact int division per value (``69 / 10**3``), so 69 mA is exactly ``0.069`` A rather
    than the float noise of two steps. Non-finite input or results are None.
    """
    kind = type(raw)
    if kind is not int and kind is not float and (
        isinstance(raw, bool) or not isinstance(raw, (int, float))
    ):
        return None
    try:
        result = shifted(cast(float, raw), si_shift(field, role))  # an int or float here
    except (OverflowError, ValueError, ArithmeticError):
        return None
    return result if math.isfinite(result) else None


def _blob_value(raw: object, field: DpField) -> tuple[int | None, str]:
    """The integer a mask selects from a base64 blob, or (None, why)."""
    if not isinstance(raw, str) or len(raw) > _MAX_BLOB_BYTES * 2:
        return None, f"DP {field.dp}: expected a base64 phase blob, got {type(raw).__name__}"
    try:
        data = base64.b64decode(raw, validate=True)
        mask_bytes = bytes.fromhex(field.mask)
    except (binascii.Error, ValueError):
        return None, f"DP {field.dp}: not a valid base64 phase blob"
    if len(data) != len(mask_bytes):
        return None, (f"DP {field.dp}: phase blob of {len(data)} bytes where this model sends "
                      f"{len(mask_bytes)}; layout unknown")
    mask = int.from_bytes(mask_bytes, "big")
    if mask == 0:
        return None, f"DP {field.dp}: empty mask"
    shift = (mask & -mask).bit_length() - 1
    return (int.from_bytes(data, "big") & mask) >> shift, ""


def field_value(
    raw: object, field: DpField, role: MeasurementRole
) -> tuple[float | None, str]:
    """The SI value of ``raw`` for ``field``, or (None, a note naming the DP and the problem).

    A DP that is simply absent gives (None, "") (no note: many plugs omit some DPs).
    """
    if raw is None:
        return None, ""
    if field.mask:
        number, why = _blob_value(raw, field)
        if number is None:
            return None, why
        raw = number
    elif isinstance(raw, float) and not math.isfinite(raw):
        return None, f"DP {field.dp}: {role.replace('_', ' ')} is {raw!r}, not a number; ignored"
    value = scaled_value(raw, field, role)
    if value is None:
        return None, f"DP {field.dp}: {role.replace('_', ' ')} is not a number ({raw!r:.40}); ignored"
    return value, ""
