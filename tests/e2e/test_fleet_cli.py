"""devices import → watch (table and JSONL) → scan, as a user runs them, against ``simulate``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from portpick import free_udp_ports

from .conftest import Simulator, command, run


@pytest.mark.slow
def test_import_then_watch_json_then_ctrl_c(tmp_path: Path) -> None:
    sim = Simulator(tmp_path, "--count", "4", "--protocol", "3.1,3.3,3.4,3.5",
                    "--profile", "constant:500")
    config = tmp_path / "config.toml"
    env = {"POWERMONITOR_CONFIG": str(config)}
    try:
        imported = run("powermonitor", "devices", "import", str(sim.devices_file), env=env)
        assert imported.returncode == 0, imported.stderr
        assert config.stat().st_mode & 0o077 == 0
        listing = run("powermonitor", "devices", "list", "--json", env=env)
        rows = json.loads(listing.stdout)
        assert len(rows) == 4
        assert all(d["key"] not in listing.stdout for d in sim.devices)

        proc = subprocess.Popen([*command("powermonitor"), "watch", "--json", "--config", str(config)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        lines: list[dict[str, Any]] = []
        for text in proc.stdout:  # until every plug has reported once
            lines.append(json.loads(text))
            if {line["id"] for line in lines} == {d["id"] for d in sim.devices}:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        lines += [json.loads(line) for line in out.splitlines()]
        assert {line["id"] for line in lines} == {d["id"] for d in sim.devices}
        for line in lines:
            assert {"datetime", "id", "name", "switch", "power", "current", "voltage"} <= set(line)
            assert line["power"] == 500.0 and line["switch"] is True
            assert line["datetime"].endswith("Z") and line["host"] == "127.0.0.1"
        assert all(d["key"] not in out + err for d in sim.devices)
    finally:
        assert sim.stop() == 0


@pytest.mark.slow
def test_watch_table_shows_offline_plug(tmp_path: Path) -> None:
    sim = Simulator(tmp_path, "--count", "2", "--protocol", "3.3", "--profile", "constant:42")
    config = tmp_path / "c.toml"
    env = {"POWERMONITOR_CONFIG": str(config)}
    try:
        assert run("powermonitor", "devices", "import", str(sim.devices_file), env=env).returncode == 0
        assert run("powermonitor", "devices", "add", "ghost", "bf00000000000000dead", "127.0.0.1",
                   "0123456789abcdef", "--version", "3.3", "--port", "9", env=env).returncode == 0
        # TTY_COMPATIBLE: rich redraws the live table into the pipe as it would on a terminal
        proc = subprocess.Popen([*command("powermonitor"), "watch", "--config", str(config)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **env, "COLUMNS": "200",
                                     "TTY_COMPATIBLE": "1"})
        assert proc.stdout is not None
        seen = ""
        for line in proc.stdout:  # until a redraw shows both plugs' states
            seen += line
            if "42.0" in seen and "offline" in seen:
                break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        out = seen + out
        assert "42.0" in out and "ghost" in out and "offline" in out
        assert err == ""  # the table shows the offline plug; no log line repeats it
    finally:
        sim.stop()


def test_watch_without_plugs_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("[defaults]\npoll_interval = 10\n")
    result = run("powermonitor", "watch", "--config", str(empty))
    assert result.returncode == 2 and "no plugs configured" in result.stderr


def test_a_named_config_file_that_does_not_exist_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "typo.toml"
    for argv, env in ((["watch", "--config", str(missing)], {}),
                      (["run", "--listen", "off"], {"POWERMONITOR_CONFIG": str(missing)}),
                      (["energy", "--config", str(missing)], {})):
        result = run("powermonitor", *argv, env=env)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert f"config file {missing} does not exist" in result.stderr
    assert not missing.exists()


def test_watch_with_a_malformed_config_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[defaults]\npoll_interval = 10\n[[plugs]]\nname = "x"\nid = \n')
    result = run("powermonitor", "watch", "--config", str(bad))
    assert result.returncode == 2 and f"{bad}:5" in result.stderr
    assert bad.read_text().endswith("id = \n")  # nothing overwritten


@pytest.mark.slow
def test_scan_finds_simulated_beacons(tmp_path: Path) -> None:
    p31, p33, p35 = free_udp_ports(3)
    sim = Simulator(tmp_path, "--count", "3", "--protocol", "3.1,3.3,3.5", "--beacons",
                    "--beacon-interval", "0.3", "--beacon-port-31", str(p31), "--beacon-port-33",
                    str(p33), "--beacon-port-35", str(p35), "--probe-port", "0")
    try:
        result = run("powermonitor", "scan", "--json", "--duration", "2", "--listen-host",
                     "127.0.0.1", "--port-31", str(p31), "--port-33", str(p33), "--port-35",
                     str(p35), env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
        assert result.returncode == 0, result.stderr
        found = {d["id"]: d for d in json.loads(result.stdout)}
        assert set(found) == {d["id"] for d in sim.devices}
        assert {found[d["id"]]["version"] for d in sim.devices} == {"3.1", "3.3", "3.5"}
    finally:
        sim.stop()
