"""Raw plug data from ``simulate --spec`` through ``poll`` and ``watch``: hostile values (NaN,
Infinity, 1e300 W, -5000 W) never break the JSON output and are never shown as readings."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

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
