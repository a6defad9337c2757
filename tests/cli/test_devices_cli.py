"""``powermonitor devices``: list/add/remove/import through click's runner and as a real
process, including an import of a running ``powermonitor simulate``'s devices file."""

from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from powermonitor.cli.devices import devices_group
from powermonitor.cli.render import short_id
from powermonitor.config import load_config

KEY_A = "0123456789abcdef"
KEY_B = "fedcba9876543210"
KEY_C = "Zq7!xY2#pL9$wR4&"
ALL_KEYS = [KEY_A, KEY_B, KEY_C]

DEVICES_CALL = "from powermonitor.cli.devices import devices_group; devices_group()"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("POWERMONITOR_CONFIG", raising=False)


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "conf" / "config.toml"
    monkeypatch.setenv("POWERMONITOR_CONFIG", str(path))
    return path


def runner() -> CliRunner:
    # click < 8.2 mixes stderr into output unless told not to; 8.2+ always keeps it apart.
    if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    return CliRunner()


def invoke(*args: str, stdin: str | None = None, secrets: list[str] | None = None) -> Result:
    result = runner().invoke(devices_group, list(args), input=stdin, catch_exceptions=False)
    for key in secrets if secrets is not None else ALL_KEYS:
        assert key not in result.stdout and key not in result.stderr, "a key was printed"
    return result


def add_two() -> None:
    assert invoke("add", "fridge", "bf1f6d1e0f8c3a2b4d5e", "192.168.1.50", KEY_A,
                  "--version", "3.3", "--interval", "5").exit_code == 0
    assert invoke("add", "boiler", "bf00000000000000beef", "192.168.1.51", KEY_B,
                  "--version", "34", "--port", "7000").exit_code == 0


def test_list_empty(config_file: Path) -> None:
    result = invoke("list")
    assert result.exit_code == 0
    assert "no plugs in" in result.stdout and "devices add" in result.stdout
    result = invoke("list", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    assert not config_file.exists()


def test_add_list_remove(config_file: Path) -> None:
    result = invoke("add", "fridge", "bf1f6d1e0f8c3a2b4d5e", "192.168.1.50", KEY_A,
                    "--version", "3.3", "--interval", "5")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (
        "added fridge (id bf1f6d1e0f8c3a2b4d5e, 192.168.1.50:6668, version 3.3, "
        f"key 01************ef) to {config_file}")
    assert config_file.stat().st_mode & 0o777 == 0o600
    invoke("add", "boiler", "bf00000000000000beef", "192.168.1.51", KEY_B, "--version", "34",
           "--port", "7000")

    table = invoke("list").stdout
    assert "bf1f6d1e0f8c3a2b4d5e" not in table  # tables shorten ids in the middle
    for text in ("fridge", "bf1f…4d5e", "192.168.1.50:6668", "3.3", "01…ef",
                 "5 s", "boiler", "192.168.1.51:7000", "3.4", "fe…10", "10 s", "(default)"):
        assert text in table

    rows = json.loads(invoke("list", "--json").stdout)
    assert rows == [
        {"name": "fridge", "id": "bf1f6d1e0f8c3a2b4d5e", "host": "192.168.1.50", "port": 6668,
         "version": "3.3", "key_masked": "01************ef", "poll_interval_s": 5.0,
         "poll_interval_is_default": False, "refresh": None, "mapping": None},
        {"name": "boiler", "id": "bf00000000000000beef", "host": "192.168.1.51", "port": 7000,
         "version": "3.4", "key_masked": "fe************10", "poll_interval_s": 10.0,
         "poll_interval_is_default": True, "refresh": None, "mapping": None},
    ]

    result = invoke("remove", "FRIDGE")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"removed fridge (id bf1f6d1e0f8c3a2b4d5e) from {config_file}"
    assert invoke("remove", "bf00000000000000beef").exit_code == 0
    assert load_config(config_file).plugs == ()


def test_add_reads_the_key_from_stdin(config_file: Path) -> None:
    result = invoke("add", "fridge", "id1", "10.0.0.1", "-", "--version", "3.3",
                    stdin=KEY_C + "\n")
    assert result.exit_code == 0, result.stderr
    assert load_config(config_file).plug("fridge").local_key == KEY_C


def test_add_keyless_31_plug(config_file: Path) -> None:
    assert invoke("add", "old", "id1", "10.0.0.1", "--version", "3.1").exit_code == 0
    assert "(none)" in invoke("list").stdout


@pytest.mark.parametrize(("args", "message"), [
    (["add", "fridge", "other", "10.0.0.9", KEY_C], "duplicate name 'fridge'"),
    (["add", "other", "bf1f6d1e0f8c3a2b4d5e", "10.0.0.9", KEY_C], "duplicate id"),
    (["add", "x", "id9", "10.0.0.9", KEY_C[:-2]], "exactly 16 characters (got 14"),
    (["add", "x", "id9", "10.0.0.9", KEY_C + "!"], "exactly 16 characters (got 17"),
    (["add", "x", "id9", "10.0.0.9", KEY_C, "--version", "9"], "unknown protocol version"),
    (["add", "x", "id9", "10.0.0.9:6668", KEY_C], "'host' must not include a port"),
    (["remove", "toaster"], "no plug named 'toaster'"),
])
def test_errors_are_one_line_with_exit_code_2(
    config_file: Path, args: list[str], message: str
) -> None:
    add_two()
    before = config_file.read_bytes()
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert config_file.read_bytes() == before


def test_click_rejects_too_fast_interval(config_file: Path) -> None:
    result = invoke("add", "x", "id9", "10.0.0.9", KEY_C, "--interval", "0.5")
    assert result.exit_code == 2 and "--interval" in result.stderr
    assert not config_file.exists()


def test_broken_config_file_is_reported_with_its_line(config_file: Path) -> None:
    config_file.parent.mkdir(parents=True)
    config_file.write_text(f'[[plugs]]\nname = "a"\nid = "x"\nhost = "h"\nkey = "{KEY_A}"\n'
                           'poll_interval = 0.2\n')
    result = invoke("list")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {config_file}:6: plug 'a': 'poll_interval' must be "
                                    "at least 1 s")


def test_config_option_beats_the_environment(config_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    assert invoke("add", "a", "id1", "10.0.0.1", KEY_A, "--config", str(other)).exit_code == 0
    assert not config_file.exists()
    assert [p.name for p in load_config(other).plugs] == ["a"]
    assert json.loads(invoke("list", "--json", "--config", str(other)).stdout)[0]["name"] == "a"


def tinytuya_file(tmp_path: Path) -> Path:
    mapping = {
        "1": {"code": "switch_1", "type": "Boolean", "values": {}},
        "18": {"code": "cur_current", "type": "Integer",
               "values": {"unit": "mA", "min": 0, "max": 30000, "scale": 0, "step": 1}},
        "19": {"code": "cur_power", "type": "Integer",
               "values": {"unit": "W", "min": 0, "max": 50000, "scale": 1, "step": 1}},
        "20": {"code": "cur_voltage", "type": "Integer",
               "values": {"unit": "V", "min": 0, "max": 5000, "scale": 1, "step": 1}},
    }
    devices = [
        {"name": "Kitchen", "id": "bf1f6d1e0f8c3a2b4d5e", "key": KEY_A, "ip": "192.168.1.50",
         "version": "3.3", "mapping": mapping, "category": "cz", "sub": False},
        {"name": "TV", "id": "bf2222222222222222aa", "key": KEY_B, "ip": "192.168.1.51",
         "version": 3.4, "mapping": mapping},
        {"name": "Garage", "id": "bf3333333333333333bb", "key": KEY_C, "ip": "",
         "version": "3.3", "mapping": mapping},
    ]
    path = tmp_path / "devices.json"
    path.write_text(json.dumps(devices, indent=4))
    return path


def test_import_merges_and_reports(config_file: Path, tmp_path: Path) -> None:
    invoke("add", "fridge", "bf1f6d1e0f8c3a2b4d5e", "10.0.0.1", KEY_C, "--interval", "30")
    source = tinytuya_file(tmp_path)

    dry = invoke("import", str(source), "--dry-run")
    assert dry.exit_code == 0 and "dry run" in dry.stdout
    assert [p.name for p in load_config(config_file).plugs] == ["fridge"]

    result = invoke("import", str(source))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "tinytuya devices.json, 3 entries" in out
    assert "added      TV" in out
    assert "skipped    fridge: already configured (use --replace-existing" in out
    assert "skipped    Garage: no IP address" in out
    assert f"1 added, 0 updated, 0 unchanged, 2 skipped: saved {config_file}" in out
    config = load_config(config_file)
    assert [p.name for p in config.plugs] == ["fridge", "TV"]
    assert config.plug("TV").mapping is not None and config.plug("TV").version == "3.4"
    assert config.plug("fridge").host == "10.0.0.1"

    again = invoke("import", str(source))
    assert "0 added, 0 updated, 0 unchanged, 3 skipped" in again.stdout
    assert "not changed" in again.stdout

    replaced = invoke("import", str(source), "--replace-existing")
    assert replaced.exit_code == 0
    assert "updated    fridge" in replaced.stdout and "unchanged  TV" in replaced.stdout
    fridge = load_config(config_file).plug("fridge")
    assert (fridge.host, fridge.local_key, fridge.poll_interval) == ("192.168.1.50", KEY_A, 30.0)
    assert fridge.mapping is not None and fridge.mapping.name == "tinytuya"
    assert config_file.stat().st_mode & 0o777 == 0o600


def test_import_bad_file(config_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "devices.json"
    bad.write_text("{not json")
    result = invoke("import", str(bad))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {bad}:1:2: not valid JSON")
    missing = invoke("import", str(tmp_path / "missing.json"))
    assert missing.exit_code == 2 and "cannot read the devices file" in missing.stderr


# ----------------------------------------------------------------------------- real processes


def run_devices(*args: str, env: dict[str, str], stdin: str | None = None
                ) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-c", DEVICES_CALL, *args], input=stdin, check=False,
                          capture_output=True, text=True, timeout=60, env=env)
    for key in ALL_KEYS:
        assert key not in proc.stdout and key not in proc.stderr
    return proc


def process_env(tmp_path: Path, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERMONITOR")}
    env.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "xdg"),
               POWERMONITOR_CONFIG=str(config))
    return env


def test_as_a_process(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    env = process_env(tmp_path, config)
    added = run_devices("add", "fridge", "id1", "10.0.0.1", "-", "--version", "3.5", env=env,
                        stdin=KEY_A + "\n")
    assert added.returncode == 0, added.stderr
    listed = run_devices("list", "--json", env=env)
    assert listed.returncode == 0
    assert json.loads(listed.stdout)[0]["key_masked"] == "01************ef"
    duplicate = run_devices("add", "fridge", "id2", "10.0.0.2", KEY_B, env=env)
    assert duplicate.returncode == 2
    assert duplicate.stderr.strip().startswith("error: ") and "Traceback" not in duplicate.stderr
    assert duplicate.stderr.count("\n") == 1
    unknown = run_devices("remove", "nope", env=env)
    assert unknown.returncode == 2


def wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate(timeout=5)
            raise AssertionError(f"simulator did not start: {out}\n{err}")
        time.sleep(0.05)


def test_import_from_a_running_simulator(tmp_path: Path) -> None:
    devices_file = tmp_path / "sim" / "devices.json"
    sim = subprocess.Popen(
        [sys.executable, "-m", "powermonitor", "simulate", "--count", "3",
         "--protocol", "3.3,3.4,3.5", "--devices-file", str(devices_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for(devices_file, sim)
        entries: list[dict[str, Any]] = json.loads(devices_file.read_text())
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.communicate(timeout=15)
    assert sim.returncode == 0
    keys = [e["key"] for e in entries]

    config = tmp_path / "config.toml"
    env = process_env(tmp_path, config)
    imported = run_devices("import", str(devices_file), env=env)
    for key in keys:
        assert key not in imported.stdout and key not in imported.stderr
    assert imported.returncode == 0, imported.stderr
    assert "simulator devices file, 3 entries" in imported.stdout
    assert "3 added, 0 updated, 0 unchanged, 0 skipped" in imported.stdout
    listed = run_devices("list", "--json", env=env)
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["id"], r["host"], r["port"], r["version"]) for r in rows] == [
        (e["name"], e["id"], e["ip"], e["port"], e["version"]) for e in entries]
    for key in keys:
        assert key not in listed.stdout
    assert [p.local_key for p in load_config(config).plugs] == keys
    table = run_devices("list", env=env)
    assert all(short_id(e["id"]) in table.stdout for e in entries)
