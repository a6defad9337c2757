"""Raw plug data from ``simulate --spec`` through ``poll`` and ``watch``: hostile values (NaN,
Infinity, 1e300 W, -5000 W) never break the JSON output and are never shown as readings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from portpick import free_port as _free_port

from .conftest import Simulator, command, run

KEY = "0123456789abcdef"
BAD = {  # id → the raw power DP (JSON text, as a plug would send it)
    "bf00000000000000nan1": "NaN",
    "bf00000000000000inf1": "Infinity",
    "bf00000000000000huge": "1e301",
    "bf0000000000000negat": "-50000",
}


def spec_file(tmp: Path) -> Path:
    entries = [
        f'{{"id": "{device_id}", "key": "{KEY}", "version": "3.3", '
        f'"dps": {{"1": true, "18": 412, "19": {power}, "20": 2301, "38": [NaN]}}}}'
        for device_id, power in BAD.items()
    ]
    path = tmp / "spec.json"
    path.write_text("[" + ",\n".join(entries) + "]")
    return path


@pytest.mark.slow
def test_poll_json_survives_non_finite_and_absurd_raw_values(tmp_path: Path) -> None:
    sim = Simulator(tmp_path, "--spec", str(spec_file(tmp_path)))
    try:
        assert {d["id"] for d in sim.devices} == set(BAD)
        for device in sim.devices:
            result = run("powermonitor", "poll", device["id"], device["ip"], KEY, "3.3",
                         "--port", str(device["port"]), "--json")
            assert result.returncode == 0, result.stderr
            out: dict[str, Any] = json.loads(result.stdout)  # strict JSON: no NaN literals
            assert "NaN" not in result.stdout and "Infinity" not in result.stdout
            assert out["power"] is None and out["projected_kwh"] is None
            assert any("DP 19" in note for note in out["notes"]), out["notes"]
            assert out["voltage"] == 230.1 and out["dps"]["38"] == ["nan"]
            text = run("powermonitor", "poll", device["id"], device["ip"], KEY, "3.3",
                       "--port", str(device["port"]))
            assert text.returncode == 0 and "Note: DP 19" in text.stdout
    finally:
        assert sim.stop() == 0


def test_watch_json_keeps_going_on_non_finite_raw_values(tmp_path: Path) -> None:
    sim = Simulator(tmp_path, "--spec", str(spec_file(tmp_path)))
    config = tmp_path / "config.toml"
    env = {"POWERMONITOR_CONFIG": str(config)}
    try:
        assert run("powermonitor", "devices", "import", str(sim.devices_file),
                   env=env).returncode == 0
        proc = subprocess.Popen([*command("powermonitor"), "watch", "--json", "--config",
                                 str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        assert proc.stdout is not None
        seen: set[str] = set()
        deadline = time.monotonic() + 30
        while seen != set(BAD) and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            reading = json.loads(line)
            assert reading["power"] is None and reading["notes"]
            seen.add(reading["id"])
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
        assert seen == set(BAD), err
        assert proc.returncode == 0, err
    finally:
        assert sim.stop() == 0


@pytest.mark.slow
def test_doctor_by_name_and_direct_with_json_and_exit_codes(tmp_path: Path) -> None:
    sim = Simulator(tmp_path, "--count", "2", "--fault", "busy", "--fault-plugs", "2")
    config = tmp_path / "config.toml"
    env = {"POWERMONITOR_CONFIG": str(config)}
    try:
        assert run("powermonitor", "devices", "import", str(sim.devices_file),
                   env=env).returncode == 0
        healthy, busy = sim.devices
        text = run("powermonitor", "doctor", healthy["name"], "--listen", "0", "--timeout", "1",
                   env=env)
        assert text.returncode == 0, text.stderr
        assert "[ok  ] protocol 3.3: answers with this key" in text.stdout
        assert healthy["key"] not in text.stdout
        direct = run("powermonitor", "doctor", busy["id"], busy["ip"], busy["key"], "3.3",
                     "--port", str(busy["port"]), "--listen", "0", "--timeout", "1", "--json")
        assert direct.returncode == 8, direct.stderr
        report = json.loads(direct.stdout)
        assert report["exit_code"] == 8
        assert report["findings"][-1]["status"] == "fail"
        assert "another app may be connected" in report["findings"][-1]["message"]
        missing = run("powermonitor", "doctor", "no-such-plug", env=env)
        assert missing.returncode == 2 and "no plug named 'no-such-plug'" in missing.stderr
    finally:
        assert sim.stop() == 0


@pytest.mark.slow
def test_switch_and_poll_by_name_directly(tmp_path: Path) -> None:
    sim = Simulator(tmp_path, "--count", "2", "--layout", "cz,strip4", "--profile", "constant:500",
                    "--fault", "busy", "--fault-plugs", "2")
    config = tmp_path / "config.toml"
    env = {"POWERMONITOR_CONFIG": str(config), "XDG_DATA_HOME": str(tmp_path / "data")}
    try:
        assert run("powermonitor", "devices", "import", str(sim.devices_file),
                   env=env).returncode == 0
        plug, busy = sim.devices
        off = run("powermonitor", "switch", plug["name"], "off", env=env)
        assert off.returncode == 0, off.stderr
        assert off.stdout.strip() == f"{plug['name']}: outlet 1 is off"
        polled = json.loads(run("powermonitor", "poll", plug["name"], "--json", env=env).stdout)
        assert polled["switch"] is False and polled["power"] == 0.0
        toggled = run("powermonitor", "switch", plug["name"], "toggle", "--json", env=env)
        assert json.loads(toggled.stdout) == {"id": plug["id"], "name": plug["name"],
                                              "outlet": 1, "on": True}
        direct = run("powermonitor", "switch", plug["id"], plug["ip"], plug["key"], "3.3", "off",
                     "--port", str(plug["port"]), env=env)
        assert direct.returncode == 0 and direct.stdout.strip().endswith("outlet 1 is off")
        refused = run("powermonitor", "switch", busy["name"], "on", "--timeout", "1",
                      "--retries", "0", env=env)
        assert refused.returncode == 8, refused.stderr
        assert "another app may be connected" in refused.stderr
        bad = run("powermonitor", "switch", plug["name"], "sideways", env=env)
        assert bad.returncode == 2 and "on|off|toggle" in bad.stderr
    finally:
        assert sim.stop() == 0


@pytest.mark.service
def test_poll_and_switch_go_through_a_running_service(tmp_path: Path) -> None:
    sim = Simulator(tmp_path, "--count", "1", "--profile", "constant:500")
    config = tmp_path / "config.toml"
    env = {"POWERMONITOR_CONFIG": str(config), "XDG_DATA_HOME": str(tmp_path / "data"),
           "POWERMONITOR_DB": str(tmp_path / "pm.db")}  # poll and switch find run by its db
    port = _free_port()
    try:
        assert run("powermonitor", "devices", "import", str(sim.devices_file),
                   env=env).returncode == 0
        (plug,) = sim.devices
        service = subprocess.Popen(
            [*command("powermonitor"), "run", "--listen", f"127.0.0.1:{port}"],
            env={**os.environ, **env},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            url = f"http://127.0.0.1:{port}/api/plugs/{plug['id']}"
            deadline = time.monotonic() + 30
            while True:  # the service is ready when it has read the plug
                try:
                    if httpx.get(url, timeout=1).json().get("online"):
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                assert service.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
            polled = run("powermonitor", "poll", plug["name"], "--json", env=env)
            assert polled.returncode == 0, polled.stderr
            assert "through the running service" in polled.stderr
            assert json.loads(polled.stdout)["power"] == 500.0
            switched = run("powermonitor", "switch", plug["name"], "off", env=env)
            assert switched.returncode == 0, switched.stderr
            assert "through the running service" in switched.stderr
            assert switched.stdout.strip() == f"{plug['name']}: outlet 1 is off"
            assert httpx.get(url, timeout=5).json()["reading"]["switch"] is False
            doctor = run("powermonitor", "doctor", plug["name"], "--listen", "0", "--timeout",
                         "1", env=env)
            assert "[info] service: a running `powermonitor run`" in doctor.stdout
            assert doctor.returncode == 8, doctor.stdout  # it holds the plug: busy, not the key
            record = tmp_path / "service.json"  # beside the database and its token
            assert record.stat().st_mode & 0o077 == 0
        finally:
            service.send_signal(signal.SIGTERM)
            service.communicate(timeout=30)
        assert service.returncode == 0
        assert not record.exists()  # removed on a clean stop: later polls go straight again
    finally:
        assert sim.stop() == 0


@pytest.mark.slow
def test_devices_set_edits_one_plug_in_place(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    env = {"POWERMONITOR_CONFIG": str(config)}
    for name, dev, host in (("fridge", "bf00000000000000aa01", "192.168.1.10"),
                            ("tv", "bf00000000000000aa02", "192.168.1.11")):
        assert run("powermonitor", "devices", "add", name, dev, host,
                   "0123456789abcdef", "--version", "3.3", env=env).returncode == 0
    before_tv = [row for row in json.loads(run("powermonitor", "devices", "list", "--json",
                                                env=env).stdout) if row["name"] == "tv"]
    proc = subprocess.run(
        [*command("powermonitor"), "devices", "set", "fridge", "--key", "-", "--host",
         "192.168.1.77", "--version", "3.4", "--interval", "30", "--product-id",
         "keyjup78v54myhan", "--name", "kitchen fridge"],
        input="fedcba9876543210\n", capture_output=True, text=True, check=False,
        env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    assert "fedcba9876543210" not in proc.stdout + proc.stderr and "fe************10" in proc.stdout
    rows = {row["name"]: row for row in json.loads(run("powermonitor", "devices", "list",
                                                       "--json", env=env).stdout)}
    fridge = rows["kitchen fridge"]
    assert (fridge["host"], fridge["version"], fridge["poll_interval_s"]) == (
        "192.168.1.77", "3.4", 30.0)
    assert fridge["key_masked"] == "fe************10"
    assert 'product_id = "keyjup78v54myhan"' in config.read_text()
    assert [rows["tv"]] == before_tv  # the other plug is untouched
    nothing = run("powermonitor", "devices", "set", "tv", env=env)
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr
    bad = run("powermonitor", "devices", "set", "tv", "--key", "short", env=env)
    assert bad.returncode == 2 and "16 characters" in bad.stderr
    unknown = run("powermonitor", "devices", "set", "ghost", "--host", "1.2.3.4", env=env)
    assert unknown.returncode == 2


def test_every_family_served_by_spec_reads_exactly_through_import(tmp_path: Path) -> None:
    from dps.families import TRUTHS, encode, families, family_id

    truth = TRUTHS[0]
    rows = {f"bf{i:018d}": row for i, row in enumerate(families())}
    spec = [{"id": device_id, "key": KEY, "version": "3.3",
             "product_key": row["product_ids"][0] if row["product_ids"] else "",
             "name": family_id(row), "dps": encode(row, truth)}
            for device_id, row in rows.items() if row["product_ids"]]
    (tmp_path / "families.json").write_text(json.dumps(spec))
    sim = Simulator(tmp_path, "--spec", str(tmp_path / "families.json"))
    config = tmp_path / "config.toml"
    env = {"POWERMONITOR_CONFIG": str(config)}
    try:
        assert all(d["product_id"] for d in sim.devices)
        assert run("powermonitor", "devices", "import", str(sim.devices_file),
                   env=env).returncode == 0
        proc = subprocess.Popen([*command("powermonitor"), "watch", "--json", "--config",
                                 str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        assert proc.stdout is not None
        seen: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 60
        while len(seen) < len(spec) and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            reading = json.loads(line)
            seen[reading["id"]] = reading
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
        assert len(seen) == len(spec), err
        for device_id, reading in seen.items():
            row = rows[device_id]
            assert reading["source"] == f"profile {family_id(row)}", reading
            assert reading["notes"] == []
            assert reading["power"] == truth["power"] and reading["voltage"] == truth["voltage"]
            if "current" in row:
                assert reading["current"] == truth["current"] * 1000  # mA in poll/watch JSON
            if "energy" in row and row["energy"]["dp"] != 17:
                assert reading["energy_total_kwh"] == truth["energy"] / 1000
    finally:
        assert sim.stop() == 0
