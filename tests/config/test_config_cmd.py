"""``powermonitor config check`` and ``config show``: what would run, the effective config
with secrets masked, and errors as one ``file:line`` line with the config-error exit code."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from powermonitor.cli.main import cli

KEY = "Zq7!xY2#pL9$wR4&"
CONFIG = f"""\
[defaults]
poll_interval = 5

[[plugs]]
name = "fridge"
id = "bf1f6d1e0f8c3a2b4d5e"
host = "192.168.1.50"
key = "{KEY}"
version = "3.3"
product_id = "keyjup78v54myhan"

[storage]
db = "postgresql://pm:db-secret@db.lan/power"

[tariff]
currency = "EUR"
timezone = "Europe/Berlin"
price = 0.3

[web]
listen = "0.0.0.0:8080"
allowed_hosts = ["power.lan"]

[mqtt]
url = "mqtt://user:mqtt-secret@broker.lan"

[influx]
url = "http://influx.lan:8086"
org = "home"
bucket = "power"
token = "influx-secret"
"""
SECRETS = (KEY, "db-secret", "mqtt-secret", "influx-secret")


@pytest.fixture(autouse=True)
def _clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in ("CONFIG", "DB", "LISTEN", "METRICS_LISTEN", "MQTT_URL", "MQTT_PASSWORD",
                 "INFLUX_URL", "INFLUX_TOKEN", "INFLUX_PASSWORD"):
        monkeypatch.delenv(f"POWERMONITOR_{name}", raising=False)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    path.chmod(0o600)
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    for secret in SECRETS:
        assert secret not in result.stdout and secret not in result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_check_says_what_run_would_do(config_file: Path) -> None:
    code, out, _ = invoke("config", "check", "--config", str(config_file))
    assert code == 0
    assert out.splitlines() == [
        f"config: {config_file} (1 plug)",
        ("  plug fridge: id bf1f6d1e0f8c3a2b4d5e, 192.168.1.50:6668, version 3.3, key "
        "Zq************4&, every 5 s, DPs auto, product keyjup78v54myhan"),
        ("storage: postgresql://pm:***@db.lan/power; keep raw 14 d, minutes 90 d, hours forever, "
        "days forever"),
        "tariff: 0.3 EUR/kWh, days in Europe/Berlin",
        "energy: trapezoid integration, gaps over 3 poll intervals (at least 60 s) are offline",
        "web: 0.0.0.0:8080 (also answers to: power.lan)",
        "prometheus: /metrics on the web server",
        "mqtt: mqtt://broker.lan:1883, topics powermonitor/…",
        "influx: http://influx.lan:8086 (v2, bucket 'power')",
        "ok",
    ]


def test_show_prints_the_effective_config_masked(config_file: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERMONITOR_LISTEN", "127.0.0.1:9000")
    code, out, _ = invoke("config", "show", "--config", str(config_file))
    assert code == 0
    shown = tomllib.loads(out)  # valid TOML
    assert shown["plugs"][0]["key"] == "Zq************4&"
    assert shown["plugs"][0]["product_id"] == "keyjup78v54myhan"
    assert shown["defaults"] == {"poll_interval": 5, "timeout": 5, "heartbeat_interval": 10}
    assert shown["storage"]["db"] == "postgresql://pm:***@db.lan/power"
    assert shown["web"] == {"listen": "127.0.0.1:9000", "allowed_hosts": ["power.lan"]}
    assert shown["mqtt"]["password"] == "***" and shown["mqtt"]["username"] == "user"
    assert shown["mqtt"]["qos"] == 1  # defaults filled in
    assert shown["influx"]["token"] == "***" and shown["influx"]["api"] == "v2"
    assert shown["tariff"]["price"] == 0.3 and shown["energy"]["method"] == "trapezoid"


@pytest.mark.parametrize("command", ["check", "show"])
def test_errors_are_one_line_with_file_line_and_exit_2(tmp_path: Path, command: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[energy]\nmax_gap = nan\n")
    code, out, err = invoke("config", command, "--config", str(path))
    assert code == 2 and out == ""
    assert err == f"error: {path}:2: [energy] 'max_gap' must be a finite number (got nan)\n"
    code, _, err = invoke("config", command, "--config", str(tmp_path / "missing.toml"))
    assert code == 2 and "missing.toml does not exist" in err


def test_check_as_a_process_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[web]\nlisten = \"0.0.0.0:8000\"\nport = 8000\n")
    result = subprocess.run(
        [sys.executable, "-m", "powermonitor", "config", "check", "--config", str(path)],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr == (f"error: {path}:3: unknown key 'port' in [web] (did you mean "
                             "'listen'?)\n")


@pytest.mark.parametrize("text", [None, "[defaults]\npoll_interval = 10\n"])
def test_check_refuses_what_run_refuses_no_plugs(tmp_path: Path, text: str | None) -> None:
    """No file (defaults only) or a file without plugs: `run` would not start, so the check
    fails with run's message and exit code, before printing anything."""
    args = []
    if text is not None:
        path = tmp_path / "c.toml"
        path.write_text(text)
        args = ["--config", str(path)]
    code, out, err = invoke("config", "check", *args)
    run_code, _, run_err = invoke("run", *args, "--db", str(tmp_path / "pm.db"))
    refused = ("error: no plugs configured: add one with 'powermonitor devices add' or "
               "'powermonitor devices import FILE'\n")
    assert (code, err) == (run_code, run_err) == (2, refused)
    assert out == ""
    assert not (tmp_path / "pm.db").exists()


def test_run_listens_where_the_flag_then_the_config_then_the_default_says() -> None:
    from powermonitor.cli.run import listen_address
    from powermonitor.config import Config, parse_config

    configured = parse_config('[web]\nlisten = "0.0.0.0:8080"\n', env={})
    assert listen_address(Config(), None) == ("127.0.0.1", 8000)
    assert listen_address(configured, None) == ("0.0.0.0", 8080)
    assert listen_address(configured, "127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert listen_address(configured, "off") is None
    env = parse_config('[web]\nlisten = "0.0.0.0:8080"\n', env={"POWERMONITOR_LISTEN": ":7000"})
    assert listen_address(env, None) == ("0.0.0.0", 7000)
