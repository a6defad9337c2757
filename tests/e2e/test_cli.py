"""The CLI end to end against the simulator: text, JSON, env vars, old script names, errors."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Simulator, run


def args_for(dev: dict[str, object], *extra: str) -> list[str]:
    return [str(dev["id"]), "127.0.0.1", str(dev["key"]), *extra, "--port", str(dev["port"])]


def assert_key_masked(output: str, key: str) -> None:
    assert key not in output
    assert f"{key[:2]}" in output or "key" not in output


@pytest.mark.parametrize("index", [0, 1, 2, 3, 4])
def test_poll_text_every_version(sim: Simulator, index: int) -> None:
    dev = sim.devices[index]
    result = run("powermonitor", "poll", *args_for(dev))  # VERSION omitted: auto
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"Polling Device {dev['id']} at 127.0.0.1" in out
    assert str(dev["key"]) not in out + result.stderr
    assert re.search(r"key \w\w\*+\w\w", out)
    if dev["layout"] == "nopower":
        assert "reports no power data" in out and "Power (W)" not in out
    else:
        assert "Power (W): 1210.0" in out
        assert "Projected usage (kWh), estimate" in out and "Day: 29.040000" in out
    if dev["layout"] == "strip4":
        assert "Switch 4: On" in out


@pytest.mark.parametrize("index", [0, 1, 2, 3, 4])
def test_poll_json_every_version(sim: Simulator, index: int) -> None:
    dev = sim.devices[index]
    result = run("powermonitor", "poll", *args_for(dev, str(dev["version"])), "--json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["id"] == dev["id"] and data["switch"] is True
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["datetime"])
    assert data["protocol"].startswith(str(dev["version"])) or dev["version"] == "3.2"
    assert isinstance(data["dps"], dict)
    if dev["layout"] == "nopower":
        assert data["power"] is None and data["projected_kwh"] is None and data["note"]
    else:
        assert data["power"] == 1210.0
        assert isinstance(data["current"], float) and 5000 < data["current"] < 6000
        assert isinstance(data["voltage"], float)
        assert data["projected_kwh"] == {"day": 29.04, "week": 203.28, "month": 880.88}
    assert str(dev["key"]) not in result.stdout


def test_old_script_names(sim: Simulator) -> None:
    dev = sim.devices[2]
    text = run("plugpower", *args_for(dev, "3.3"))
    assert text.returncode == 0 and "Switch 1: On" in text.stdout
    line = run("plugjson", *args_for(dev, "3.3"))
    assert line.returncode == 0 and json.loads(line.stdout)["power"] == 1210.0


@pytest.mark.slow
@pytest.mark.parametrize("version_var", ["PLUGINVERS", "PLUGVERS"])
def test_env_vars_like_the_original_container(sim: Simulator, version_var: str) -> None:
    dev = sim.devices[3]
    env = {"PLUGID": str(dev["id"]), "PLUGIP": "127.0.0.1", "PLUGKEY": str(dev["key"]),
           version_var: str(dev["version"]), "PLUGPORT": str(dev["port"])}
    result = run("powermonitor", "poll", env=env)
    assert result.returncode == 0, result.stderr
    assert "(protocol 3.4)" in result.stdout
    result = run("plugjson", env=env)
    assert json.loads(result.stdout)["protocol"] == "3.4"
    result = run("powermonitor", "poll", env={**env, "PLUGJSON": "yes"})
    assert json.loads(result.stdout)["id"] == dev["id"]


# ----------------------------------------------------------------- errors and exit codes


def test_wrong_key_exit_5(sim: Simulator) -> None:
    dev = sim.devices[3]
    result = run("powermonitor", "poll", str(dev["id"]), "127.0.0.1", "wrongwrongwrong0", "3.4",
                 "--port", str(dev["port"]))
    assert result.returncode == 5
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "local key" in result.stderr and "wrongwrongwrong0" not in result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_version_exit_5(sim: Simulator) -> None:
    dev = sim.devices[4]  # a 3.5 plug
    result = run("powermonitor", "poll", *args_for(dev, "3.3"))
    assert result.returncode == 5 and "version" in result.stderr


def test_device_reported_error_exit_6(sim: Simulator) -> None:
    dev = sim.devices[5]  # 3.5 plug with device22 firmware: rejects DP_QUERY
    result = run("powermonitor", "poll", *args_for(dev, "3.5"))
    assert result.returncode == 6 and "data unvalid" in result.stderr


def test_refused_exit_3(unused_tcp_port: int) -> None:
    result = run("powermonitor", "poll", "x" * 20, "127.0.0.1", "0123456789abcdef", "3.3",
                 "--port", str(unused_tcp_port), "--retries", "0")
    assert result.returncode == 3 and "Connection refused" in result.stderr


@pytest.mark.parametrize("argv", [
    ["poll"],
    ["poll", "abc", "127.0.0.1", "shortkey"],
    ["poll", "abc", "127.0.0.1", "0123456789abcdef", "9.9"],
    ["poll", "abc", "127.0.0.1", "", "3.3"],
    ["poll", "abc", "127.0.0.1", "--port", "0"],
])
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    result = run("powermonitor", *argv)
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr


@pytest.fixture
def junk_port() -> Iterator[int]:
    """A TCP server that answers anything with bytes that are not a Tuya frame."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(1024)
                    conn.sendall(b"\x00\x00\x55\xaa" + b"\xff" * 12 + b"<html>not a plug</html>")
                    conn.recv(1024)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    stop.set()
    thread.join(2)
    srv.close()


def test_garbage_exit_7(junk_port: int) -> None:
    result = run("powermonitor", "poll", "x" * 20, "127.0.0.1", "0123456789abcdef", "3.3",
                 "--port", str(junk_port), "--retries", "0")
    assert result.returncode == 7 and "corrupt" in result.stderr


@pytest.mark.slow
def test_silent_plug_exit_4(tmp_path: Path) -> None:
    """Ctrl-C on a waiting poll (exit 130) is tests/e2e/test_cli_style.py's job."""
    silent = Simulator(tmp_path, "--count", "1", "--protocol", "3.3", "--silent")
    try:
        dev = silent.devices[0]
        result = run("powermonitor", "poll", *args_for(dev, "3.3"), "--timeout", "0.3",
                     "--retries", "1")
        assert result.returncode == 4 and "no answer" in result.stderr
    finally:
        assert silent.stop(signal.SIGINT) == 0


def test_demo_once_shows_the_household() -> None:
    result = run("powermonitor", "demo", "--once", timeout=60)
    assert result.returncode == 0, result.stderr
    for name in ("Fridge", "TV", "Washing machine", "Kettle", "PC", "Lamp"):
        assert name in result.stdout


def test_simulate_lists_each_key_masked_on_one_line(tmp_path: Path) -> None:
    s = Simulator(tmp_path, "--count", "2")
    assert s.stop() == 0
    lines = s.out.splitlines()
    for device in s.devices:
        key = device["key"]
        assert key not in s.out
        row = next(line for line in lines if device["name"] in line)
        assert f"{key[:2]}…{key[-2:]}" in row  # the whole mask on the plug's own line
        assert len(row) <= 80


def test_simulate_rejects_a_non_loopback_host(tmp_path: Path) -> None:
    result = run("powermonitor", "simulate", "--host", "192.168.1.10", "--devices-file",
                 str(tmp_path / "d.json"))
    assert result.returncode == 2 and "loopback" in result.stderr
    assert not (tmp_path / "d.json").exists()


def test_devices_file_is_private_and_tinytuya_shaped(sim: Simulator) -> None:
    assert sim.devices_file.stat().st_mode & 0o077 == 0
    for dev in sim.devices:
        assert {"name", "id", "key", "ip", "version", "port"} <= set(dev)
        assert len(str(dev["key"])) == 16


def test_container_entrypoint_polls_from_plug_env_vars(sim: Simulator) -> None:
    """The Dockerfile's entry point, run with the PLUG* variables the original container took."""
    root = Path(__file__).parents[2]
    dockerfile = (root / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["powermonitor-entrypoint"]' in dockerfile
    entrypoint = str(root / "docker" / "entrypoint.sh")
    dev = sim.devices[2]
    env = {"PLUGID": str(dev["id"]), "PLUGIP": "127.0.0.1", "PLUGKEY": str(dev["key"]),
           "PLUGINVERS": "3.3", "PLUGPORT": str(dev["port"])}
    full = {**{k: v for k, v in os.environ.items() if not k.startswith("PLUG")}, **env}
    result = subprocess.run(["sh", entrypoint], check=False, capture_output=True, text=True, env=full,
                            timeout=30)
    assert result.returncode == 0 and "Power (W): 1210.0" in result.stdout
    result = subprocess.run(["sh", entrypoint], check=False, capture_output=True, text=True,
                            env={**full, "PLUGJSON": "yes"}, timeout=30)
    assert json.loads(result.stdout)["power"] == 1210.0
