"""``scan`` against a hostile LAN (issue 10 #10): escape sequences, floods, beacons that the
config refuses. Every datagram goes to 127.0.0.1, on ports the OS picked."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from powermonitor import discovery as disc_mod
from powermonitor.cli.scan import ScanRow, add_new
from powermonitor.config import Config, PlugConfig, load_config, save_config
from powermonitor.discovery import Discovery, clean_beacon
from powermonitor.protocol.discovery import Beacon, encode_beacon
from powermonitor.transport.udp import send_datagram

from .test_scan_cli import LOOP, Lan, invoke, lan  # noqa: F401  (the fixture)

ESC = "\x1b"
EVIL = f"{ESC}]0;pwned{chr(7)}{ESC}[2J{ESC}[31mred\u202egnp.exe"


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.02)


async def keep_sending(port: int, datagrams: list[bytes], stop: asyncio.Event) -> None:
    """Like a misbehaving host: the same datagrams again and again until told to stop."""
    while not stop.is_set():
        for data in datagrams:
            await send_datagram(LOOP, port, data)
        await asyncio.sleep(0.1)


def beacon(device_id: str, **fields: Any) -> bytes:
    return encode_beacon({"ip": LOOP, "gwId": device_id, "version": "3.3", **fields}, "3.3")


@pytest.fixture
async def hostile(lan: Lan) -> AsyncIterator[Lan]:  # noqa: F811
    """The simulated LAN plus a host sending escape sequences in every text field."""
    stop = asyncio.Event()
    datagrams = [
        beacon("bfhostile00000000001", productKey=EVIL, ip=EVIL, version=EVIL),
        beacon(f"bf{ESC}[2Jinvalid"),  # not an id: dropped
    ]
    task = asyncio.create_task(keep_sending(lan.ports[1], datagrams, stop))
    try:
        yield lan
    finally:
        stop.set()
        await task


def assert_no_control(text: str) -> None:
    assert ESC not in text and "\x07" not in text and "\u202e" not in text


async def test_table_and_json_never_carry_escape_sequences(hostile: Lan, tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    table = await invoke(hostile.args(1.5), env)
    assert table.exit_code == 0, table.output
    assert_no_control(table.stdout)
    assert_no_control(table.stderr)
    assert "bfho…0001" in table.stdout and "red" in table.stdout
    assert "invalid" not in table.stdout
    as_json = await invoke([*hostile.args(1.5), "--json"], env)
    assert as_json.exit_code == 0, as_json.output
    rows = {r["id"]: r for r in json.loads(as_json.stdout)}
    evil = rows["bfhostile00000000001"]
    assert evil["ip"] == LOOP  # not an address: the sender's is used
    assert_no_control(evil["product_key"])
    assert "pwned" in evil["product_key"]
    assert len(evil["version"]) <= 8
    assert set(hostile.ids) <= set(rows)
    assert "beacons ignored: their device id is not valid" in as_json.stderr


async def test_add_skips_a_beacon_the_config_refuses(hostile: Lan, tmp_path: Path) -> None:
    """A beacon whose id is a configured plug's name would make the config ambiguous: that one
    plug is skipped with its reason, the others are added."""
    path = tmp_path / "config.toml"
    save_config(Config(plugs=(PlugConfig(name="kettle", device_id="bfkettle000000000001",
                                         host="10.0.0.9", local_key="", version="3.1"),)), path)
    stop = asyncio.Event()
    task = asyncio.create_task(keep_sending(hostile.ports[1], [beacon("kettle")], stop))
    try:
        result = await invoke([*hostile.args(1.5), "--json", "--add", "--config", str(path)])
    finally:
        stop.set()
        await task
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in json.loads(result.stdout)}
    assert rows["kettle"]["added"] is False and "not added" in rows["kettle"]["error"]
    assert "skipped kettle" in result.stderr
    saved = {p.device_id for p in load_config(path).plugs}
    assert set(hostile.ids) <= saved and "kettle" not in saved


def test_add_new_keeps_going_after_a_refusal() -> None:
    config = Config(plugs=(PlugConfig(name="kettle", device_id="bfkettle000000000001",
                                      host="10.0.0.9", local_key="", version="3.1"),))
    rows = [ScanRow(Beacon("kettle", "10.0.0.1", "3.3")),
            ScanRow(Beacon("bfgood00000000000001", "10.0.0.2", "3.1"))]
    updated, out = add_new(config, rows)
    assert [r.added for r in out] == [False, True]
    assert out[0].not_added and "kettle" in out[0].not_added
    assert [p.device_id for p in updated.plugs] == ["bfkettle000000000001",
                                                     "bfgood00000000000001"]


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("device_id", "bf\x1b[2J", None),
    ("device_id", "x" * 65, None),
    ("device_id", "", None),
    ("ip", "not an ip", "9.9.9.9"),
    ("ip", "10.0.0.7", "10.0.0.7"),
    ("port", 70000, None),
])
def test_clean_beacon(field: str, value: object, expected: object) -> None:
    raw = Beacon("bf00000000000000beef", "10.0.0.1", "3.3", port=6668)
    b = Beacon(**{**{s: getattr(raw, s) for s in ("device_id", "ip", "version", "port")},
                  field: value})
    cleaned = clean_beacon(b, "9.9.9.9")
    if field == "device_id":
        assert cleaned is None
    else:
        assert cleaned is not None and getattr(cleaned, field) == expected


async def test_one_source_cannot_fill_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(disc_mod, "MAX_PER_SOURCE", 20)
    monkeypatch.setattr(disc_mod, "SOURCE_BURST", 10_000.0)
    async with Discovery(listen_host=LOOP, ports=(0,)) as disc:
        for i in range(50):
            await send_datagram(LOOP, disc.ports[0], beacon(f"bf{i:018d}"))
        await until(lambda: disc.datagrams == 50)
    assert len(disc.beacons) == 20 and disc.over_cap == 30


async def test_total_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(disc_mod, "MAX_PLUGS", 5)
    async with Discovery(listen_host=LOOP, ports=(0,)) as disc:
        for i in range(8):
            await send_datagram(LOOP, disc.ports[0], beacon(f"bf{i:018d}"))
        await until(lambda: disc.datagrams == 8)
    assert len(disc.beacons) == 5 and disc.over_cap == 3


async def test_rate_per_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(disc_mod, "SOURCE_BURST", 10.0)
    monkeypatch.setattr(disc_mod, "SOURCE_RATE", 0.001)  # no refill during the test
    async with Discovery(listen_host=LOOP, ports=(0,)) as disc:
        for i in range(25):
            await send_datagram(LOOP, disc.ports[0], beacon(f"bf{i:018d}"))
        await until(lambda: disc.datagrams == 25)
    assert len(disc.beacons) == 10 and disc.rate_limited == 15
