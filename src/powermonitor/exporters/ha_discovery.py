"""Home Assistant MQTT discovery and the MQTT payloads: pure functions, no broker, no I/O.

What the bridge (exporters/mqtt.py) publishes, built here so it can be tested alone: the
retained state JSON of a plug, the topic layout, the per-entity discovery configs (sensors
power, voltage, current, power factor, energy ``total_increasing``, and a switch per outlet,
each with a ``device`` block and availability on both the bridge and the plug topic), and the
parsing of ``ON``/``OFF`` commands. See exporters/mqtt.py for the topic list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..models import Reading
from ..timeparse import iso_utc
from .base import topic_id

__all__ = [
    "SENSORS",
    "Topics",
    "discovery_configs",
    "discovery_topics",
    "parse_command",
    "state_payload",
]


# --------------------------------------------------------------------------- payloads


def _on_off(value: bool | None) -> str | None:
    return None if value is None else ("ON" if value else "OFF")


def state_payload(reading: Reading | None, energy_wh: float | None) -> dict[str, Any]:
    """The JSON object published on ``{prefix}/{id}/state``."""
    payload: dict[str, Any] = {
        "power": None, "voltage": None, "current": None, "power_factor": None,
        "switch": None, "switches": {},
        "energy_kwh": None if energy_wh is None else round(energy_wh / 1000.0, 6),
        "timestamp": None,
    }
    if reading is not None:
        payload.update(
            power=reading.power_w,
            voltage=reading.voltage_v,
            current=reading.current_a,
            power_factor=reading.power_factor,
            switch=_on_off(reading.switch),
            switches={str(k): _on_off(v) for k, v in reading.switches.items()},
            timestamp=iso_utc(reading.timestamp),
        )
    return payload


@dataclass(frozen=True, slots=True)
class _SensorKind:
    key: str  # JSON key in the state payload
    name: str
    device_class: str
    unit: str | None
    state_class: str
    precision: int


SENSORS: tuple[_SensorKind, ...] = (
    _SensorKind("power", "Power", "power", "W", "measurement", 1),
    _SensorKind("voltage", "Voltage", "voltage", "V", "measurement", 1),
    _SensorKind("current", "Current", "current", "A", "measurement", 3),
    _SensorKind("power_factor", "Power factor", "power_factor", None, "measurement", 2),
    _SensorKind("energy_kwh", "Energy", "energy", "kWh", "total_increasing", 3),
)


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str
    discovery_prefix: str

    @property
    def bridge(self) -> str:
        return f"{self.prefix}/bridge/availability"

    @property
    def devices(self) -> str:
        return f"{self.prefix}/bridge/devices"

    @property
    def birth(self) -> str:
        return f"{self.discovery_prefix}/status"

    def state(self, device_id: str) -> str:
        return f"{self.prefix}/{device_id}/state"

    def availability(self, device_id: str) -> str:
        return f"{self.prefix}/{device_id}/availability"

    def command(self, device_id: str, outlet: str | None = None) -> str:
        if outlet is None:
            return f"{self.prefix}/{device_id}/set"
        return f"{self.prefix}/{device_id}/outlet_{topic_id(outlet)}/set"


def _unique_id(device_id: str, what: str) -> str:
    return topic_id(f"powermonitor_{device_id}_{what}")


def discovery_topics(discovery_prefix: str, device_id: str, outlets: tuple[str, ...]
                     ) -> list[str]:
    """Every discovery config topic of one plug (what removal must clear)."""
    topics = [f"{discovery_prefix}/sensor/{_unique_id(device_id, s.key)}/config"
              for s in SENSORS]
    for what in _switch_ids(outlets):
        topics.append(f"{discovery_prefix}/switch/{_unique_id(device_id, what)}/config")
    return topics


def _switch_ids(outlets: tuple[str, ...]) -> list[str]:
    if len(outlets) <= 1:
        return ["switch"]
    return [f"switch_{topic_id(o)}" for o in outlets]


def discovery_configs(
    topics: Topics, device_id: str, name: str, model: str, outlets: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """config topic → Home Assistant discovery payload, for one plug's entities."""
    device = {
        "identifiers": [f"powermonitor_{device_id}"],
        "name": name,
        "manufacturer": "Tuya",
        "model": model,
    }
    origin = {"name": "powermonitor", "sw_version": __version__}
    common: dict[str, Any] = {
        "availability": [{"topic": topics.bridge}, {"topic": topics.availability(device_id)}],
        "availability_mode": "all",
        "device": device,
        "origin": origin,
        "state_topic": topics.state(device_id),
    }
    out: dict[str, dict[str, Any]] = {}
    for sensor in SENSORS:
        unique_id = _unique_id(device_id, sensor.key)
        config: dict[str, Any] = {
            **common,
            "name": sensor.name,
            "unique_id": unique_id,
            "device_class": sensor.device_class,
            "state_class": sensor.state_class,
            "value_template": f"{{{{ value_json.{sensor.key} }}}}",
            "suggested_display_precision": sensor.precision,
        }
        if sensor.unit is not None:
            config["unit_of_measurement"] = sensor.unit
        out[f"{topics.discovery_prefix}/sensor/{unique_id}/config"] = config
    single = len(outlets) <= 1
    for what, outlet in zip(_switch_ids(outlets), outlets or ("1",), strict=True):
        unique_id = _unique_id(device_id, what)
        template = ("{{ value_json.switch }}" if single
                    else f"{{{{ value_json.switches['{outlet}'] }}}}")
        out[f"{topics.discovery_prefix}/switch/{unique_id}/config"] = {
            **common,
            "name": None if single else f"Outlet {outlet}",
            "unique_id": unique_id,
            "device_class": "outlet",
            "command_topic": topics.command(device_id, None if single else outlet),
            "value_template": template,
            "payload_on": "ON",
            "payload_off": "OFF",
            "state_on": "ON",
            "state_off": "OFF",
        }
    return out


def parse_command(payload: bytes) -> bool | None:
    text = payload.decode("utf-8", "replace").strip().lower()
    if text in ("on", "1", "true"):
        return True
    if text in ("off", "0", "false"):
        return False
    return None
