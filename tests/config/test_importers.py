"""Imports of tinytuya devices.json / snapshot.json and the simulator's devices file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from powermonitor.config import (
    Config,
    ImportResult,
    import_devices,
    load_config,
    merge_plugs,
    save_config,
)
from powermonitor.dps import DpField, DpMapping
from powermonitor.errors import ConfigError
from powermonitor.simulator.server import Fleet

from .helpers import ALL_KEYS, KEY_A, KEY_B, KEY_C, _isolated_home, assert_no_key, write  # noqa: F401

# ----------------------------------------------------------------------------- imports

TINYTUYA_PLUG_MAPPING = {
    "1": {"code": "switch_1", "type": "Boolean", "values": {}},
    "9": {"code": "countdown_1", "type": "Integer",
          "values": {"unit": "s", "min": 0, "max": 86400, "scale": 0, "step": 1}},
    "17": {"code": "add_ele", "type": "Integer",
           "values": {"min": 0, "max": 50000, "scale": 3, "step": 100}},
    "18": {"code": "cur_current", "type": "Integer",
           "values": {"unit": "mA", "min": 0, "max": 30000, "scale": 0, "step": 1}},
    "19": {"code": "cur_power", "type": "Integer",
           "values": {"unit": "W", "min": 0, "max": 50000, "scale": 1, "step": 1}},
    "20": {"code": "cur_voltage", "type": "Integer",
           "values": {"unit": "V", "min": 0, "max": 5000, "scale": 1, "step": 1}},
    "38": {"code": "relay_status", "type": "Enum", "values": {"range": ["off", "on", "memory"]}},
}


def tinytuya_devices() -> list[dict[str, Any]]:
    """A devices.json as tinytuya's wizard writes it (after its LAN poll added ip/version)."""
    base = {"mac": "10:d5:61:00:00:01", "uuid": "u", "sn": "", "category": "cz",
            "product_name": "Smart Plug", "product_id": "p1", "biz_type": 18, "model": "",
            "sub": False, "icon": "https://images.example/x.png"}
    return [
        {**base, "name": "Kitchen Plug", "id": "bf1f6d1e0f8c3a2b4d5e", "key": KEY_A,
         "ip": "192.168.1.50", "version": "3.3", "mapping": TINYTUYA_PLUG_MAPPING},
        {**base, "name": "Smart Plug", "id": "bf2222222222222222aa", "key": KEY_B,
         "ip": "192.168.1.51", "version": 3.4,
         "mapping": {**TINYTUYA_PLUG_MAPPING,
                     "19": {"code": "cur_power", "type": "Integer",
                            "values": {"unit": "W", "scale": 1, "step": None}}}},
        {**base, "name": "Smart Plug", "id": "bf3333333333333333bb", "key": KEY_C,
         "ip": "192.168.1.52", "version": "", "mapping": TINYTUYA_PLUG_MAPPING},
        {**base, "name": "Garage", "id": "bf4444444444444444cc", "key": KEY_A, "ip": "",
         "version": "3.3", "mapping": TINYTUYA_PLUG_MAPPING},
        {**base, "name": "Porch", "id": "bf5555555555555555dd", "key": KEY_A,
         "mapping": TINYTUYA_PLUG_MAPPING},
        {**base, "name": "Desk Lamp", "id": "bf6666666666666666ee", "key": KEY_B,
         "ip": "192.168.1.60", "version": "3.3", "category": "dj",
         "mapping": {"20": {"code": "switch_led", "type": "Boolean", "values": {}},
                     "22": {"code": "bright_value_v2", "type": "Integer",
                            "values": {"min": 10, "max": 1000, "scale": 0, "step": 1}}}},
        {**base, "name": "Zigbee Plug", "id": "bf7777777777777777ff", "key": KEY_B,
         "sub": True, "parent": "bf0000000000000000gw", "node_id": "a4c1",
         "mapping": TINYTUYA_PLUG_MAPPING},
        {**base, "name": "Broken Key", "id": "bf8888888888888888aa", "key": "short",
         "ip": "192.168.1.61", "version": "3.3"},
        {**base, "name": "Future", "id": "bf9999999999999999aa", "key": KEY_A,
         "ip": "192.168.1.62", "version": "4.0"},
        {**base, "name": "Kitchen Plug copy", "id": "bf1f6d1e0f8c3a2b4d5e", "key": KEY_A,
         "ip": "192.168.1.50", "version": "3.3"},
    ]


def test_import_tinytuya_devices_json(tmp_path: Path) -> None:
    path = tmp_path / "devices.json"
    path.write_text(json.dumps(tinytuya_devices(), indent=4))
    result = import_devices(path)
    assert isinstance(result, ImportResult)
    assert result.source_format == "tinytuya devices.json"
    assert [p.name for p in result.plugs] == ["Kitchen Plug", "Smart Plug", "Smart Plug-33bb"]
    assert result.renamed == (("Smart Plug", "Smart Plug-33bb"),)
    kitchen, smart, smart2 = result.plugs
    assert (kitchen.device_id, kitchen.host, kitchen.port, kitchen.version, kitchen.local_key) == (
        "bf1f6d1e0f8c3a2b4d5e", "192.168.1.50", 6668, "3.3", KEY_A)
    assert smart.version == "3.4" and smart2.version == "auto"
    assert kitchen.mapping == DpMapping(
        current=DpField("18", 0, "mA"), power=DpField("19", 1, "W"),
        voltage=DpField("20", 1, "V"), energy_increment=DpField("17", 3, "kWh"),
        switches=("1",), name="tinytuya",
    )
    assert kitchen.mapping_source == TINYTUYA_PLUG_MAPPING
    assert smart.mapping_source is not None
    assert "step" not in smart.mapping_source["19"]["values"]  # JSON null: TOML has none
    reasons = dict(result.skipped)
    assert set(reasons) == {"Garage", "Porch", "Desk Lamp", "Zigbee Plug", "Broken Key",
                            "Future", "Kitchen Plug copy"}
    assert "no IP address" in reasons["Garage"] and "no IP address" in reasons["Porch"]
    assert "snapshot.json" in reasons["Garage"]
    assert "not an energy-monitoring plug" in reasons["Desk Lamp"]
    assert "sub-device" in reasons["Zigbee Plug"]
    assert "exactly 16 characters (got 5" in reasons["Broken Key"]
    assert "unknown protocol version" in reasons["Future"]
    assert "duplicate id" in reasons["Kitchen Plug copy"]
    assert_no_key(repr(result))
    # The imported mapping survives a save and a load, as tinytuya wrote it.
    config, _ = merge_plugs(Config(), result.plugs)
    save_config(config, tmp_path / "config.toml")
    loaded = load_config(tmp_path / "config.toml")
    assert loaded.plugs == config.plugs
    assert loaded.plug("Kitchen Plug").mapping_source == TINYTUYA_PLUG_MAPPING


def test_import_tinytuya_snapshot_json(tmp_path: Path) -> None:
    snapshot = {
        "timestamp": 1700000000.123,
        "devices": [
            {"id": "bf1f6d1e0f8c3a2b4d5e", "ip": "192.168.1.50", "ver": "3.3",
             "origin": "broadcast", "name": "Kitchen Plug", "key": KEY_A,
             "mac": "10:d5:61:00:00:01"},
            {"id": "bfaaaaaaaaaaaaaaaa01", "ip": "192.168.1.70", "ver": "3.5",
             "origin": "forcescan", "name": "", "key": KEY_B, "mac": ""},
            {"id": "bfaaaaaaaaaaaaaaaa02", "ip": "192.168.1.71", "ver": "", "origin": "broadcast",
             "name": "Unknown v3.1", "key": "", "mac": ""},
            {"id": "bfaaaaaaaaaaaaaaaa03", "ip": "", "ver": "3.3", "origin": "cloud",
             "name": "Offline", "key": KEY_C, "mac": ""},
            {"gwId": "bfaaaaaaaaaaaaaaaa04", "ip": "192.168.1.72", "version": 3.4,
             "name": "Gw-style", "key": KEY_C},
        ],
    }
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(snapshot, indent=4))
    result = import_devices(path)
    assert result.source_format == "tinytuya snapshot.json"
    assert [(p.name, p.device_id, p.host, p.version, p.local_key) for p in result.plugs] == [
        ("Kitchen Plug", "bf1f6d1e0f8c3a2b4d5e", "192.168.1.50", "3.3", KEY_A),
        ("bfaaaaaaaaaaaaaaaa01", "bfaaaaaaaaaaaaaaaa01", "192.168.1.70", "3.5", KEY_B),
        ("Unknown v3.1", "bfaaaaaaaaaaaaaaaa02", "192.168.1.71", "auto", ""),
        ("Gw-style", "bfaaaaaaaaaaaaaaaa04", "192.168.1.72", "3.4", KEY_C),
    ]
    assert [name for name, _ in result.skipped] == ["Offline"]
    assert all(p.mapping is None for p in result.plugs)


async def test_import_simulator_devices_file_and_poll_every_plug(
    fleet: Fleet, tmp_path: Path
) -> None:
    """The simulator's file imports as-is, and every imported plug answers a real poll."""
    from powermonitor.client.plug import Plug

    path = fleet.write_devices_file(tmp_path / "simulated.json")
    result = import_devices(path)
    assert result.source_format == "simulator devices file"
    assert result.skipped == ()
    entries = fleet.devices()
    assert [(p.name, p.device_id, p.host, p.port, p.version, p.local_key)
            for p in result.plugs] == [
        (e["name"], e["id"], e["ip"], e["port"], e["version"], e["key"]) for e in entries]
    for plug in result.plugs:
        async with Plug.from_info(plug.device_info(), timeout=3, retries=1) as client:
            reading = await client.status()
        assert reading.device_id == plug.device_id


@pytest.mark.parametrize(("content", "expected"), [
    ('[{"name": "a",\n "id": }]', r":2:\d+: not valid JSON"),
    ('{"devicez": []}', "not a devices file"),
    ('"hello"', "not a devices file"),
])
def test_import_rejects_bad_files(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "devices.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        import_devices(path)
    assert str(info.value).startswith(str(path))
    assert re.search(expected, str(info.value))
    with pytest.raises(ConfigError, match="cannot read the devices file"):
        import_devices(tmp_path / "missing.json")


def test_import_skips_non_objects_and_missing_ids(tmp_path: Path) -> None:
    path = tmp_path / "devices.json"
    path.write_text(json.dumps([1, {"name": "no id", "ip": "1.2.3.4"}]))
    assert import_devices(path).skipped == (("#1", "not a JSON object"), ("no id", "no device id"))

