"""Pure parts of the cloud code: hostile replies, the merge rules, regions, QR polling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from powermonitor.cloud.apply import apply_to_config, devices_json_entries, fill_from_beacons
from powermonitor.cloud.devices import (
    CloudDevice,
    device_from_cloud,
    mapping_from_specifications,
    valid_local_key,
)
from powermonitor.cloud.errors import CLOUD_MESSAGES, CloudError, cloud_error
from powermonitor.cloud.openapi import region_url
from powermonitor.cloud.qr import LoginInfo, QrLogin, wait_for_confirmation
from powermonitor.config import Config, PlugConfig, import_devices
from powermonitor.dps import mapping_from_tinytuya
from powermonitor.errors import UsageError
from powermonitor.protocol.discovery import Beacon

from .fakes import plug_status


def test_keys_with_punctuation_are_kept_verbatim() -> None:
    # The cloud JSON-escapes '<' as \u003c; after decoding it is an ordinary character.
    entry = json.loads('{"id": "bf01", "local_key": "\\u003cab+c`d^e$f(g)hi", "name": "x"}')
    dev = device_from_cloud(entry)
    assert dev is not None and dev.local_key == "<ab+c`d^e$f(g)hi"
    assert "<ab+c" not in repr(dev)


@pytest.mark.parametrize("key", ["short", "0123456789abcdef0", "0123456789abcde\n",
                                 "0123456789abcdé_", 1234567890123456, None])
def test_invalid_keys_are_dropped(key: object) -> None:
    dev = device_from_cloud({"id": "bf01", "local_key": key})
    assert dev is not None and dev.local_key == ""
    if isinstance(key, str):
        assert not valid_local_key(key)


@pytest.mark.parametrize("entry", [None, [], "bf01", {"id": ""}, {"id": "a b"},
                                   {"id": "x" * 65}, {"id": True}, {"name": "no id"}])
def test_entries_without_a_usable_id_are_dropped(entry: Any) -> None:
    assert device_from_cloud(entry) is None


def test_specifications_become_a_mapping_with_scales() -> None:
    mapping = mapping_from_specifications({"status": plug_status(scale=2), "functions": []})
    assert mapping is not None
    dp = mapping_from_tinytuya(mapping)
    assert dp.power is not None and (dp.power.dp, dp.power.scale) == ("19", 2)
    assert dp.current is not None and dp.current.unit.lower() == "ma"
    assert dp.switches == ("1",)


@pytest.mark.parametrize("result", [
    None, [], {}, {"status": "x"}, {"status": [None, 1, "a"]},
    {"status": [{"dp_id": 0, "code": "cur_power"}]},
    {"status": [{"dp_id": 256, "code": "cur_power"}]},
    {"status": [{"dp_id": True, "code": "cur_power"}]},
    {"status": [{"dp_id": 19}]},
])
def test_hostile_specifications_give_no_mapping(result: Any) -> None:
    assert mapping_from_specifications(result) is None


def test_hostile_values_are_dropped_not_raised() -> None:
    entries = [
        {"dp_id": 19, "code": "cur_power", "type": "Integer", "values": "{not json"},
        {"dp_id": 20, "code": "cur_voltage", "type": "Integer", "values": "[" * 100_000},
        {"dp_id": 18, "code": "cur_current", "type": "Integer",
         "values": '{"scale": NaN, "unit": "mA", "max": 1e400}'},
        {"dp_id": 17, "code": "add_ele", "type": "Integer", "values": {"scale": True}},
    ]
    mapping = mapping_from_specifications({"status": entries})
    assert mapping is not None
    assert mapping["19"]["values"] == {} and mapping["20"]["values"] == {}
    assert mapping["18"]["values"] == {"unit": "mA"} and mapping["17"]["values"] == {}


def test_every_table_code_has_a_message() -> None:
    for code in ("1004", "1010", "1011", "1013", "1106", "2007", "2009", "28841001",
                 "28841002", "28841105", "28841107"):
        assert code in CLOUD_MESSAGES
        error = cloud_error(int(code), "raw text")
        assert isinstance(error, CloudError) and error.code == code and error.exit_code == 11
        assert "raw text" not in str(error) and "\n" not in str(error)
    unknown = cloud_error(99, "line\nbreak " + "x" * 500)
    assert "\n" not in str(unknown) and len(str(unknown)) < 260


def test_regions_and_aliases() -> None:
    assert region_url("EU") == "https://openapi.tuyaeu.com"
    assert region_url("az") == region_url("us")
    assert region_url("we") == "https://openapi-weaz.tuyaeu.com"
    with pytest.raises(UsageError, match="eu-w"):
        region_url("uk")


def dev(device_id: str, name: str, key: str = "0123456789abcdef", **kw: Any) -> CloudDevice:
    return CloudDevice(device_id=device_id, name=name, local_key=key, **kw)


def test_merge_never_removes_and_reports_renames() -> None:
    config = Config(plugs=(
        PlugConfig("lamp", "bf00000000000000aaaa", "10.0.0.2", "aaaaaaaaaaaaaaaa", "3.3"),
        PlugConfig("kettle", "bf00000000000000cccc", "10.0.0.4", "cccccccccccccccc", "3.3"),
    ))
    merged, changes = apply_to_config(config, [
        dev("bf00000000000000bbbb", "lamp", ip="10.0.0.3", version="3.4"),
        dev("bf00000000000000cccc", "kettle", "cccccccccccccccc"),
    ])
    assert [p.device_id for p in merged.plugs] == [
        "bf00000000000000aaaa", "bf00000000000000cccc", "bf00000000000000bbbb"]
    added = next(c for c in changes if c.kind == "add")
    assert added.name == "lamp-bbbb" and "renamed from 'lamp'" in added.detail
    assert any(c.kind == "same" and c.name == "kettle" for c in changes)


def test_known_plug_keeps_user_mapping_and_gets_scan_address() -> None:
    user_mapping = mapping_from_tinytuya({"5": {"code": "cur_power"}})
    config = Config(plugs=(PlugConfig("p", "bf00000000000000aaaa", "10.0.0.2",
                                      "aaaaaaaaaaaaaaaa", "3.3", mapping=user_mapping),))
    spec = mapping_from_specifications({"status": plug_status()})
    merged, changes = apply_to_config(config, [
        dev("bf00000000000000aaaa", "p", "aaaaaaaaaaaaaaaa", ip="10.0.0.9", version="3.4",
            mapping=spec)])
    plug = merged.plugs[0]
    assert (plug.host, plug.version, plug.mapping) == ("10.0.0.9", "3.4", user_mapping)
    assert changes[0].kind == "update" and "host 10.0.0.2 → 10.0.0.9" in changes[0].detail


def test_beacons_fill_address_version_and_product() -> None:
    devices = [dev("bf00000000000000aaaa", "a"), dev("bf00000000000000bbbb", "b")]
    beacon = Beacon(device_id="bf00000000000000aaaa", ip="10.0.0.7", version="3.5",
                    product_key="keyabc", port=7001)
    filled = fill_from_beacons(devices, [beacon])
    assert (filled[0].ip, filled[0].version, filled[0].port, filled[0].product_id) == (
        "10.0.0.7", "3.5", 7001, "keyabc")
    assert filled[1] == devices[1]


def test_devices_json_round_trips_through_import(tmp_path: Path) -> None:
    devices = [dev("bf00000000000000aaaa", "a", "<ab+c`d^e$f(g)hi", ip="10.0.0.7",
                   version="3.3", product_id="keyjup78v54myhan",
                   mapping=mapping_from_specifications({"status": plug_status()}))]
    path = tmp_path / "devices.json"
    path.write_text(json.dumps(devices_json_entries(devices)))
    [plug] = import_devices(path).plugs
    assert plug.local_key == "<ab+c`d^e$f(g)hi" and plug.mapping is not None
    assert plug.product_id == "keyjup78v54myhan"


class ScriptedLogin(QrLogin):
    """The login poll answered from a script; no network (the HTTP side is tested e2e)."""

    def __init__(self, answers: list[LoginInfo | None]) -> None:
        self.answers = answers
        self.polls = 0

    def poll(self, token: str, user_code: str) -> LoginInfo | None:
        self.polls += 1
        return self.answers.pop(0) if self.answers else None


INFO = LoginInfo("at", "rt", 7200, "uid", "term", "https://x", 0)


def test_polling_stops_on_confirmation_and_on_timeout() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    login = ScriptedLogin([None, None, INFO])
    assert wait_for_confirmation(login, "t", "u", interval=3, timeout=240, sleep=sleep,
                                 clock=lambda: now[0]) is INFO
    assert login.polls == 3 and waits == [3, 3]
    never = ScriptedLogin([])
    with pytest.raises(CloudError, match="not confirmed"):
        wait_for_confirmation(never, "t", "u", interval=3, timeout=10, sleep=sleep,
                              clock=lambda: now[0])
    assert never.polls == 4  # at 0, 3, 6 and 9 s of the 10 s allowed
