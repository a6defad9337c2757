"""``simulate --spec``: plugs replayed from raw dps; every known family read exactly right."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from dps.families import TRUTHS, encode, families, family_id

from powermonitor.client.plug import Plug
from powermonitor.errors import UsageError
from powermonitor.simulator.beacons import BeaconSender
from powermonitor.simulator.server import Fleet
from powermonitor.simulator.spec import load_spec, parse_spec

KEY = "0123456789abcdef"


def entry(**overrides: Any) -> dict[str, Any]:
    return {"id": "bf0000000000000000aa", "key": KEY, "version": "3.3",
            "product_key": "keyjup78v54myhan", "dps": {"1": True, "19": 890}, **overrides}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "non-empty JSON list"),
        ([], "non-empty JSON list"),
        (["x"], "plug 1: each entry must be an object"),
        ([entry(key="short")], "plug 1: 'key' must be 16 characters"),
        ([entry(key="0123456789abcde€")], "plug 1: 'key' must be 16 characters"),
        ([entry(version="auto")], "plug 1: 'version' must be a protocol version"),
        ([entry(version="9.9")], "plug 1: 'version' must be a protocol version"),
        ([entry(dps={})], "plug 1: 'dps' must be a non-empty object"),
        ([entry(dps={"x": 1})], "DP ids are numbers from 1 to 255"),
        ([entry(dps={"300": 1})], "DP ids are numbers from 1 to 255"),
        ([entry(colour="red")], "unknown field 'colour'"),
        ([{"id": "a", "key": KEY}], "plug 1: missing 'dps'"),
        ([entry(), entry()], "plug 2: id 'bf0000000000000000aa' appears twice"),
        ([entry(name="\x1b[31mred")], "'name' must be printable"),
    ],
)
def test_bad_specs_are_one_clear_line(data: object, message: str) -> None:
    with pytest.raises(UsageError, match="^spec.json: ") as info:
        parse_spec(data, "spec.json")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_spec_file_with_nan_is_read_like_plug_json(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(f'[{{"id": "a1", "key": "{KEY}", "dps": {{"1": true, "19": NaN}}}}]')
    (spec,) = load_spec(path)
    assert spec.version == "3.3" and spec.product_key == ""
    assert spec.raw_dps is not None and math.isnan(dict(spec.raw_dps)["19"])
    with pytest.raises(UsageError, match="not valid JSON"):
        (tmp_path / "bad.json").write_text("[{")
        load_spec(tmp_path / "bad.json")
    with pytest.raises(UsageError, match="cannot read the spec file"):
        load_spec(tmp_path / "missing.json")


def family_specs(truth: dict[str, float]) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    entries, rows = [], {}
    for i, row in enumerate(families()):
        device_id = f"bf{i:018d}"
        rows[device_id] = row
        entries.append({"id": device_id, "key": KEY, "version": ("3.3", "3.4", "3.5")[i % 3],
                        "product_key": row["product_ids"][0] if row["product_ids"] else "",
                        "name": family_id(row), "dps": encode(row, truth)})
    return entries, rows


async def test_every_family_served_and_read_exactly_by_product_id() -> None:
    truth = TRUTHS[0]
    entries, rows = family_specs(truth)
    fleet = Fleet(parse_spec(json.loads(json.dumps(entries))))
    await fleet.start()
    try:
        for server in fleet.servers:
            row = rows[server.plug.device_id]
            if not row["product_ids"]:
                continue
            entry_ = server.device_entry()
            assert entry_["product_id"] == row["product_ids"][0]
            async with Plug(entry_["id"], entry_["ip"], KEY, entry_["version"],
                            port=entry_["port"], product_id=entry_["product_id"]) as plug:
                reading = await plug.status()
            assert reading.source == f"profile {family_id(row)}"
            assert reading.power_w == truth["power"] and reading.notes == ()
            if "current" in row:
                assert reading.current_a == truth["current"]
            assert reading.voltage_v == truth["voltage"]
            if "energy" in row:
                assert truth["energy"] in (reading.energy_total_wh, reading.energy_increment_wh)
    finally:
        await fleet.stop()


async def test_spec_switches_stay_switchable_and_beacons_carry_the_product_key() -> None:
    fleet = Fleet(parse_spec([entry(dps={"1": True, "2": False, "19": 890, "38": "memory"})]))
    await fleet.start()
    try:
        server = fleet.servers[0]
        async with Plug(server.plug.device_id, server.host, KEY, "3.3", port=server.port) as plug:
            assert (await plug.set_switch(True, 2)).switches["2"] is True
            assert (await plug.status()).switches == {"1": True, "2": True}
            await plug.set_switch(False, 1)
            assert (await plug.status()).switches == {"1": False, "2": True}
            assert (await plug.status()).dps["19"] == 890  # the raw values stay as given
        info = BeaconSender(fleet).beacon_info(server)
        assert info["productKey"] == "keyjup78v54myhan"
    finally:
        await fleet.stop()


def test_power_schedule_drives_power_voltage_and_current() -> None:
    from powermonitor.simulator.plug import SimulatedPlug

    now = [1000.0]
    (spec,) = parse_spec([{"id": "abc", "key": "0123456789abcdef",
                           "dps": {"1": True, "18": 0, "19": 0, "20": 2300},
                           "power_schedule": [[0, 1000], [5, 2], [8, 0]], "repeat": True}])
    plug = SimulatedPlug(spec, clock=lambda: now[0])
    seen = []
    for t in (0, 5, 8, 13):  # period: 8 s + the last step's 3 s
        now[0] = 1000.0 + t
        dps = plug.dps()
        seen.append(dps["19"])
        assert 2200 <= dps["20"] <= 2400  # voltage follows the mains model
        assert dps["18"] == pytest.approx(dps["19"] / 10 / (dps["20"] / 10) * 1000, rel=0.05)
    assert seen == [10000, 20, 0, 10000]
    with pytest.raises(UsageError, match="power_schedule"):
        parse_spec([{"id": "abc", "key": "0123456789abcdef", "dps": {"1": True},
                     "power_schedule": [[5, 1], [2, 3]]}])
