"""Home Assistant discovery and the state payload, tested alone: pure functions, no broker."""

from __future__ import annotations

from datetime import UTC, datetime

from powermonitor.exporters.ha_discovery import (
    SENSORS,
    Topics,
    discovery_configs,
    discovery_topics,
    parse_command,
    state_payload,
)
from powermonitor.models import Reading


def test_discovery_payloads_follow_the_ha_schema() -> None:
    topics = Topics("powermonitor", "homeassistant")
    configs = discovery_configs(topics, "bf01", "fridge", "Smart plug (cz layout)", ("1",))
    assert set(configs) == set(discovery_topics("homeassistant", "bf01", ("1",)))
    assert len(configs) == len(SENSORS) + 1
    unique_ids = [c["unique_id"] for c in configs.values()]
    assert len(set(unique_ids)) == len(unique_ids)
    for topic, cfg in configs.items():
        object_id = topic.split("/")[2]
        assert object_id == cfg["unique_id"] and topic.endswith("/config")
        assert cfg["device"] == {"identifiers": ["powermonitor_bf01"], "name": "fridge",
                                 "manufacturer": "Tuya", "model": "Smart plug (cz layout)"}
        assert cfg["origin"]["name"] == "powermonitor"
        assert cfg["availability"] == [{"topic": "powermonitor/bridge/availability"},
                                       {"topic": "powermonitor/bf01/availability"}]
        assert cfg["availability_mode"] == "all"
        assert cfg["state_topic"] == "powermonitor/bf01/state"
        assert "object_id" not in cfg  # deprecated since HA 2025.10
    power = configs["homeassistant/sensor/powermonitor_bf01_power/config"]
    assert (power["device_class"], power["unit_of_measurement"], power["state_class"]) == (
        "power", "W", "measurement")
    energy = configs["homeassistant/sensor/powermonitor_bf01_energy_kwh/config"]
    assert (energy["device_class"], energy["unit_of_measurement"], energy["state_class"]) == (
        "energy", "kWh", "total_increasing")
    assert energy["value_template"] == "{{ value_json.energy_kwh }}"
    switch = configs["homeassistant/switch/powermonitor_bf01_switch/config"]
    assert switch["command_topic"] == "powermonitor/bf01/set"
    assert (switch["payload_on"], switch["payload_off"]) == ("ON", "OFF")
    assert switch["name"] is None  # the entity takes the device's name
    strip = discovery_configs(topics, "bf02", "strip", "x", ("1", "2"))
    outlet2 = strip["homeassistant/switch/powermonitor_bf02_switch_2/config"]
    assert outlet2["command_topic"] == "powermonitor/bf02/outlet_2/set"
    assert outlet2["value_template"] == "{{ value_json.switches['2'] }}"


def test_state_payload_units_and_nulls() -> None:
    r = Reading("bf01", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), True, {"1": True}, 81.5,
                229.8, 0.372, power_factor=0.95)
    p = state_payload(r, 1234.5678)
    assert p == {"power": 81.5, "voltage": 229.8, "current": 0.372, "power_factor": 0.95,
                 "switch": "ON", "switches": {"1": "ON"}, "energy_kwh": 1.234568,
                 "timestamp": "2026-01-02T03:04:05Z"}
    assert state_payload(None, None)["energy_kwh"] is None


def test_commands_are_on_or_off() -> None:
    words = [b"ON", b"off", b" On ", b"1", b"true", b"0", b"FALSE", b"", b"toggle", b"\xff"]
    assert [parse_command(w) for w in words] == [
        True, False, True, True, True, False, False, None, None, None]
