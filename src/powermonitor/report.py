"""Render the one-shot poll report (``powermonitor poll``, ``plugpower``, ``plugjson``).

Rendering only: these functions take a :class:`~powermonitor.models.Reading` and return a
string or a JSON-ready dict; printing is the CLI's job.

Design rules:

* The text report keeps the shape of the original powermonitor output (seed README) so old
  users recognise it, but says "estimate" where the original implied a measurement.
* JSON is typed: numbers as numbers, booleans as booleans, ISO-8601 UTC timestamps with ``Z``.
  The original tools quoted every value (``"power": "1.2"``); we do not.
* A plug without power DPs shows ``null`` and a note, never zeros: 0 W is a measurement.
  The reading's ``source`` (mapping, profile or guess) and its ``notes`` (what was rejected or
  left unknown) are always shown.
* Raw dps are hostile: non-finite numbers (NaN, Infinity) are shown as strings, so the JSON
  stays valid (``allow_nan=False``) whatever a plug sends.
* The local key is only ever shown masked (:func:`~powermonitor.models.mask_key`).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, Final

from .models import DeviceInfo, Reading, mask_key
from .timeparse import iso_utc

__all__ = [
    "NO_POWER_DATA_NOTE",
    "format_datetime",
    "json_safe",
    "poll_json",
    "poll_text",
    "projected_kwh",
]

NO_POWER_DATA_NOTE: Final = "this plug reports no power data"
_PROJECTION_DECIMALS: Final = 6
_HOURS_PER_DAY: Final = 24
_DAYS_PER_WEEK: Final = 7
_WEEKS_PER_MONTH: Final = 52 / 12  # the seed tool's month: 52 weeks / 12


def projected_kwh(power_w: float) -> dict[str, float]:
    """Day/week/month kWh if ``power_w`` were drawn constantly: an estimate, not a meter.

    Same arithmetic as the original tool (month = week x 52 / 12), so its numbers reproduce.
    """
    day = power_w * _HOURS_PER_DAY / 1000
    week = day * _DAYS_PER_WEEK
    month = week * _WEEKS_PER_MONTH
    return {
        "day": round(day, _PROJECTION_DECIMALS),
        "week": round(week, _PROJECTION_DECIMALS),
        "month": round(month, _PROJECTION_DECIMALS),
    }


def _projection(power_w: float | None) -> dict[str, float] | None:
    """Projection for the report, or None without power (or for an absurd, overflowing value)."""
    if power_w is None:
        return None
    projection = projected_kwh(power_w)
    return projection if all(math.isfinite(v) for v in projection.values()) else None


def format_datetime(moment: datetime) -> str:
    """ISO-8601 UTC to the second with a ``Z`` (``2019-08-31T07:20:59Z``); naive means UTC."""
    return iso_utc(moment, "seconds")


def _is_strip(reading: Reading) -> bool:
    return len(reading.switches) > 1


def _protocol(reading: Reading, device_info: DeviceInfo | None) -> str:
    """The version actually spoken, else the configured one (``auto`` says nothing: omit it)."""
    if reading.protocol:
        return reading.protocol
    if device_info is not None and device_info.version != "auto":
        return device_info.version
    return ""


def _dp_list(reading: Reading) -> str:
    keys = sorted(reading.dps, key=lambda dp: (0, int(dp)) if dp.isascii() and dp.isdigit() else (1, 0))
    return ", ".join(keys) if keys else "none"


_MAX_JSON_DEPTH: Final = 32


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` with every non-finite float as a string ("nan", "inf"): valid strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if depth >= _MAX_JSON_DEPTH:
        return repr(value)[:200]
    if isinstance(value, dict):
        return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, depth + 1) for v in value]
    return repr(value)[:200]


def poll_json(reading: Reading, device_info: DeviceInfo | None = None) -> dict[str, Any]:
    """One JSON object per poll; keys stay present (null when unknown) so consumers can rely on them.

    ``current`` is in mA and ``power``/``voltage`` in W/V, as in the original tool's JSON.
    ``switches`` appears only for multi-outlet strips. ``note`` explains a plug without power DPs.
    """
    has_power = reading.has_power_data
    result: dict[str, Any] = {
        "datetime": format_datetime(reading.timestamp),
        "id": reading.device_id,
        "name": device_info.name if device_info is not None and device_info.name else None,
        "host": device_info.host if device_info is not None else None,
        "switch": reading.switch,
    }
    if _is_strip(reading):
        result["switches"] = dict(reading.switches)
    result.update(
        {
            "power": reading.power_w,
            "current": reading.current_ma,
            "voltage": reading.voltage_v,
            "apparent_power": reading.apparent_power_va,
            "power_factor": reading.power_factor,
            "energy_increment_wh": reading.energy_increment_wh,
            "energy_total_kwh": _kwh(reading.energy_total_wh),
            "projected_kwh": _projection(reading.power_w),
            "protocol": _protocol(reading, device_info),
            "source": reading.source,
            "notes": list(reading.notes),
            "dps": json_safe(dict(reading.dps)),
        }
    )
    if not has_power:
        result["note"] = NO_POWER_DATA_NOTE
    return result


def _kwh(wh: float | None) -> float | None:
    return None if wh is None else round(wh / 1000.0, 6)


def _num(value: float) -> str:
    """Short decimal: ``1.2``, ``69.0``, ``118.1`` (not the seed's ``1.200000``)."""
    return str(round(value, 3))


def _switch_lines(reading: Reading) -> list[str]:
    if _is_strip(reading):
        return [
            f"Switch {dp}: {'On' if state else 'Off'}" for dp, state in reading.switches.items()
        ]
    state = "unknown" if reading.switch is None else str(reading.switch)
    return [f"Switch On: {state}"]


def _measurement_lines(reading: Reading) -> list[str]:
    fields = (
        ("Power (W)", reading.power_w),
        ("Current (mA)", reading.current_ma),
        ("Voltage (V)", reading.voltage_v),
    )
    lines = [f"{label}: {'n/a' if value is None else _num(value)}" for label, value in fields]
    if reading.power_factor is not None and reading.apparent_power_va is not None:
        lines.append(
            f"Power factor: {reading.power_factor:.3f} "
            f"(apparent power {_num(reading.apparent_power_va)} VA)"
        )
    if reading.energy_increment_wh is not None:
        lines.append(
            f"Energy since the plug's last report (Wh): {_num(reading.energy_increment_wh)}"
            " (an increment, not a meter)"
        )
    if reading.energy_total_wh is not None:
        lines.append(f"Energy meter total (kWh): {_num(reading.energy_total_wh / 1000.0)}")
    p = _projection(reading.power_w)
    if p is not None:
        lines.append(
            "Projected usage (kWh), estimate from current power: "
            f" Day: {p['day']:.6f}  Week: {p['week']:.6f}  Month: {p['month']:.6f}"
        )
    return lines


def poll_text(reading: Reading, device_info: DeviceInfo | None) -> str:
    """Human report in the seed tool's shape; the key is masked, missing data is said, not zeroed."""
    header = f"Polling Device {reading.device_id}"
    if device_info is not None:
        header += f" at {device_info.host} with key {mask_key(device_info.local_key)}"
    protocol = _protocol(reading, device_info)
    if protocol:
        header += f" (protocol {protocol})"
    lines = [header]
    if device_info is not None and device_info.name:
        lines.append(f"Name: {device_info.name}")
    lines.append(f"Raw DPS: {json.dumps(json_safe(dict(reading.dps)), sort_keys=False)}")
    if reading.source:
        lines.append(f"Read as: {reading.source}")
    lines.extend(_switch_lines(reading))
    if reading.has_power_data:
        lines.extend(_measurement_lines(reading))
    else:
        lines.append(f"This plug reports no power data (DPs: {_dp_list(reading)})")
    lines.extend(f"Note: {note}" for note in reading.notes)
    return "\n".join(lines)
