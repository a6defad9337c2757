"""``powermonitor scan`` against simulated plugs beaconing on loopback.

The command runs its own event loop, so it runs in a thread (CliRunner) or a subprocess while
this test's loop serves the plugs and sends their beacons. Every socket is on 127.0.0.1; the
scan listens on ports the OS picked, never on 6666/6667/7000, and never broadcasts.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from beaconing import beaconing_fleet
from click.testing import CliRunner, Result
from portpick import free_udp_ports

from powermonitor.cli.main import cli
from powermonitor.cli.render import short_id
from powermonitor.config import Config, PlugConfig, load_config, save_config
from powermonitor.simulator.beacons import BeaconSender
from powermonitor.simulator.server import Fleet, PlugServer, fleet_specs

LOOP = "127.0.0.1"
VERSIONS = ["3.1", "3.3", "3.4", "3.5"]
SCAN_CODE = "import sys; from powermonitor.cli.main import main; sys.argv[1:1] = ['scan']; main()"


class Lan:
    """Simulated plugs beaconing to the ports a scan will listen on."""

    def __init__(self, fleet: Fleet, ports: list[int]) -> None:
        self.fleet = fleet
        self.ports = ports

    def args(self, duration: float = 1.0) -> list[str]:
        p31, p33, p35 = self.ports
        return ["--duration", str(duration), "--listen-host", LOOP, "--port-31", str(p31),
                "--port-33", str(p33), "--port-35", str(p35)]

    def server(self, version: str) -> PlugServer:
        return next(s for s in self.fleet.servers if s.plug.spec.version == version)

    @property
    def ids(self) -> list[str]:
        return sorted(s.plug.device_id for s in self.fleet.servers)


@pytest.fixture
async def lan() -> AsyncIterator[Lan]:
    specs = fleet_specs(len(VERSIONS), VERSIONS, ["cz"], ["constant:500"])
    async with beaconing_fleet(specs, 3) as (fleet, ports):
        yield Lan(fleet, ports)


async def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, cli, ["scan", *args],
                                   env={"COLUMNS": "250", **(env or {})})


def no_config(tmp_path: Path) -> dict[str, str]:
    """Environment where the default config file is absent (and none is named)."""
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "POWERMONITOR_CONFIG": ""}


def plug_config(server: PlugServer, name: str, key: str | None = None) -> PlugConfig:
    spec = server.plug.spec
    return PlugConfig(name=name, device_id=spec.device_id, host=LOOP,
                      local_key=spec.local_key if key is None else key,
                      version=spec.version if (key is None or key) else "auto",
                      port=server.port)


async def test_json_lists_every_plug_as_unknown(lan: Lan, tmp_path: Path) -> None:
    result = await invoke([*lan.args(), "--json"], no_config(tmp_path))
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    assert sorted(r["id"] for r in rows) == lan.ids
    for row in rows:
        server = lan.fleet.server_for(row["id"])
        assert row["ip"] == LOOP and row["port"] == server.port
        assert row["version"] == server.plug.spec.version
        assert row["product_key"].startswith("key")
        assert row["known"] is False and row["power_w"] is None and row["added"] is False
    assert not (tmp_path / "xdg").exists()


async def test_known_plugs_are_marked_and_polled(lan: Lan, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    save_config(Config(plugs=(
        plug_config(lan.server("3.3"), "kettle"),  # right key: live power
        plug_config(lan.server("3.5"), "fridge"),  # right key, 3.5 session
        plug_config(lan.server("3.4"), "tv", key="0000000000000000"),  # wrong key
        plug_config(lan.server("3.1"), "lamp", key=""),  # no key
    )), path)
    result = await invoke([*lan.args(), "--json", "--config", str(path)])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"kettle", "fridge", "tv", "lamp"}
    assert all(r["known"] for r in rows.values())
    for name in ("kettle", "fridge"):
        assert rows[name]["power_w"] == pytest.approx(500, rel=0.1)
        assert rows[name]["error"] is None
    assert rows["tv"]["power_w"] is None and rows["tv"]["error"]
    assert rows["lamp"]["power_w"] is None and rows["lamp"]["error"] is None


async def test_table_output(lan: Lan, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    save_config(Config(plugs=(
        plug_config(lan.server("3.3"), "kettle"),
        plug_config(lan.server("3.4"), "tv", key="0000000000000000"),
    )), path)
    result = await invoke([*lan.args(), "--config", str(path)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for device_id in lan.ids:
        assert short_id(device_id) in out and device_id not in out  # shortened in the middle
    assert f"{LOOP}:{lan.server('3.3').port}" in out  # the port is never hidden
    assert "yes (kettle)" in out and "yes (tv)" in out
    assert "Power (W)" in out and re.search(r" 5\d\d\.\d\s", out)  # the kettle's live power
    assert "wrong key or version" in out
    assert out.count(" no ") >= 2  # the two plugs the config does not know
    assert "Listening for Tuya broadcasts" in result.stderr


async def test_add_writes_new_plugs_to_the_config(lan: Lan, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    known = lan.server("3.3")
    save_config(Config(plugs=(plug_config(known, "kettle"),)), path)
    result = await invoke([*lan.args(), "--json", "--add", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "no local key" in result.stderr
    rows = {r["id"]: r for r in json.loads(result.stdout)}
    assert [r["added"] for r in rows.values()].count(True) == len(VERSIONS) - 1
    assert rows[known.plug.device_id]["added"] is False

    config = load_config(path)
    assert len(config.plugs) == len(VERSIONS)
    for plug in config.plugs:
        server = lan.fleet.server_for(plug.device_id)
        assert (plug.host, plug.port) == (LOOP, server.port)
        if plug.device_id == known.plug.device_id:
            assert plug.name == "kettle" and plug.local_key
            continue
        assert plug.name == f"plug-{plug.device_id[-6:]}"
        assert plug.local_key == ""
        # the version the plug announced is kept (the key comes later: devices set / wizard)
        assert plug.version == server.plug.spec.version
        assert rows[plug.device_id]["name"] == plug.name
        # the product id the plug broadcasts is kept: it picks the model profile
        assert plug.product_id == rows[plug.device_id]["product_key"] != ""

    again = await invoke([*lan.args(0.6), "--json", "--add", "--config", str(path)])
    assert again.exit_code == 0, again.output
    assert "no new plugs" in again.stderr
    assert all(r["known"] for r in json.loads(again.stdout))
    assert len(load_config(path).plugs) == len(VERSIONS)


async def test_bad_config_fails_before_listening(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[[plugs]\nname = 'x'\n")
    result = await invoke(["--duration", "30", "--listen-host", LOOP, "--port-31", "0",
                           "--port-33", "0", "--port-35", "0", "--config", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and str(path) in result.stderr
    assert "Traceback" not in result.output


async def test_taken_ports_are_a_usage_error(tmp_path: Path) -> None:
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # exclusive: no reuse flags
    try:
        blocker.bind((LOOP, 0))
        port = str(blocker.getsockname()[1])
        result = await invoke(["--duration", "0.2", "--listen-host", LOOP, "--port-31", port,
                               "--port-33", port, "--port-35", port, "--json"],
                              no_config(tmp_path))
    finally:
        blocker.close()
    assert result.exit_code == 2
    assert "cannot listen on UDP" in result.stderr


async def test_probe_option_against_the_simulator(tmp_path: Path) -> None:
    fleet = Fleet(fleet_specs(2, ["3.3", "3.5"], ["cz"], ["constant:100"]))
    await fleet.start()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind((LOOP, 0))  # periodic beacons go here, unread: only probe answers reach the scan
    sink_port = sink.getsockname()[1]
    sender = BeaconSender(fleet, interval=3600, port_31=sink_port, port_33=sink_port,
                          port_35=sink_port, answer_probes=True, probe_port=0)
    await sender.start()
    try:
        p31, p33, p35 = free_udp_ports(3)
        result = await invoke([
            "--duration", "1", "--listen-host", LOOP, "--port-31", str(p31), "--port-33",
            str(p33), "--port-35", str(p35), "--probe", "--probe-address", LOOP,
            "--probe-port", str(sender.probe_port), "--json",
        ], no_config(tmp_path))
    finally:
        await sender.stop()
        await fleet.stop()
        sink.close()
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    v35 = next(s for s in fleet.servers if s.plug.spec.version == "3.5")
    assert [r["id"] for r in rows] == [v35.plug.device_id]
    assert sender.probes_answered >= 1


async def test_subprocess_scan(lan: Lan, tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SCAN_CODE, *lan.args(1.0), "--json",
        env={**os.environ, **no_config(tmp_path)}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert sorted(r["id"] for r in json.loads(out)) == lan.ids


async def test_subprocess_help() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SCAN_CODE, "--help",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0
    text = out.decode()
    for option in ("--duration", "--probe", "--probe-address", "--add", "--config", "--json",
                   "--port-31", "--port-33", "--port-35", "--listen-host"):
        assert option in text
