"""Every section is typed and validated at load: ranges, finite numbers, did-you-mean, and
the file and line of the offending key; environment overrides applied in one place."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from powermonitor.config import Config, load_config, parse_config
from powermonitor.errors import ConfigError


def error_for(text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), "c.toml", env or {})
    assert info.value.exit_code == 2
    return info.value


# (file text, line of the error, words in the message)
NUMBERS = [
    ("[energy]\nmax_gap = -5\n", 2, "'max_gap' must be at least 1 s (got -5)"),
    ("[energy]\nmax_gap = nan\n", 2, "'max_gap' must be a finite number (got nan)"),
    ("[energy]\nmax_gap = inf\n", 2, "'max_gap' must be a finite number"),
    ("[energy]\nmax_gap = \"60\"\n", 2, "'max_gap' must be a number of seconds, not a string"),
    ("[energy]\nmethod = \"simpson\"\n", 2, "'method' must be one of trapezoid, left"),
    ("[storage]\n\nraw_days = -1\n", 3, "'raw_days' must be at least"),
    ("[storage]\nminute_days = nan\n", 2, "'minute_days' must be a finite number"),
    ("[storage]\nhour_days = 1e9\n", 2, "'hour_days' must be at most 36500 days"),
    ("[storage]\ncommit_interval = 0\n", 2, "'commit_interval' must be at least 0.1 s"),
    ("[storage]\ncommit_interval = inf\n", 2, "'commit_interval' must be a finite number"),
    ("[defaults]\ntimeout = nan\n", 2, "'timeout' must be a finite number"),
    ("[defaults]\npoll_interval = inf\n", 2, "'poll_interval' must be a finite number"),
    ("[defaults]\nheartbeat_interval = -1\n", 2, "'heartbeat_interval' must be at least 1 s"),
    ("[mqtt]\nurl = \"mqtt://h\"\nbirth_delay = nan\n", 3, "'birth_delay' must be a finite"),
    ("[mqtt]\nurl = \"mqtt://h\"\nqos = 3\n", 3, "'qos' must be an integer from 0 to 2"),
    ("[influx]\nurl = \"http://h\"\ndatabase = \"d\"\nflush_interval = inf\n", 4,
     "'flush_interval' must be a finite number"),
    ("[influx]\nurl = \"http://h\"\ndatabase = \"d\"\ntimeout = 0\n", 4,
     "'timeout' must be at least 0.1 s"),
    ("[tariff]\nprice = nan\n", 2, "price must be a number >= 0"),
    ("[tariff]\nprice = 0.3\ndaily_charge = -1\n", 3, "daily_charge must be a number >= 0"),
    ("[prometheus]\nlisten = \"127.0.0.1:99999\"\n", 2, "'listen' must be HOST:PORT"),
    ("[web]\nlisten = \"8000\"\n", 2, "'listen' must be HOST:PORT"),
    ("[web]\nallowed_hosts = \"power.lan\"\n", 2, "'allowed_hosts' must be an array of strings"),
    ("[web]\nallowed_hosts = [\"http://power.lan\"]\n", 2, "takes host names"),
    ("[web]\nallowed_hosts = [\"power.lan:8000\"]\n", 2, "no scheme, path or port"),
]


@pytest.mark.parametrize(("text", "line", "expected"), NUMBERS,
                         ids=[t.replace("\n", " ") for t, _, _ in NUMBERS])
def test_bad_values_are_refused_at_load_with_file_and_line(
    text: str, line: int, expected: str
) -> None:
    error = error_for(text)
    assert str(error).startswith(f"c.toml:{line}: "), str(error)
    assert expected in str(error)


SPELLING = [
    ("[storage]\npath = \"/data/pm.db\"\n", 2, "unknown key 'path' in [storage] (did you mean 'db'?)"),
    ("[energy]\nmaxgap = 60\n", 2, "unknown key 'maxgap' in [energy] (did you mean 'max_gap'?)"),
    ("[tariff]\nprise = 0.3\n", 2, "unknown key 'prise' in [tariff] (did you mean 'price'?)"),
    ("[tariff]\nprice = 0.3\n[[tariff.windows]]\ndays = \"all\"\nstrat = \"22:00\"\n", 5,
     "(did you mean 'start'?)"),
    ("[web]\nport = 8000\n", 2, "unknown key 'port' in [web] (did you mean 'listen'?)"),
    ("[mqtt]\nurl = \"mqtt://h\"\ntopicprefix = \"x\"\n", 3, "(did you mean 'topic_prefix'?)"),
    ("[influx]\nurl = \"http://h\"\ndb = \"x\"\n", 3, ("unknown key 'db' in [influx] (did you mean "
     "'database'?)")),
    ("[prometheus]\nweb = true\n[mqqt]\nurl = \"mqtt://h\"\n", 3,
     "unknown section 'mqqt' (did you mean 'mqtt'?)"),
]


@pytest.mark.parametrize(("text", "line", "expected"), SPELLING,
                         ids=[t.split("\n")[1] for t, _, _ in SPELLING])
def test_misspelt_keys_get_a_did_you_mean_and_a_line(text: str, line: int, expected: str) -> None:
    error = error_for(text)
    assert str(error).startswith(f"c.toml:{line}: "), str(error)
    assert expected in str(error)


def test_valid_sections_are_typed() -> None:
    config = parse_config(textwrap.dedent("""\
        [storage]
        db = "postgresql://pm:secret@db.lan/power"
        raw_days = 7
        minute_days = 0
        [energy]
        method = "left"
        max_gap = 90
        [web]
        listen = "off"
        [prometheus]
        listen = ":9108"
        web = false
        [influx]
        url = "http://influx.lan:8086"
        org = "home"
        bucket = "power"
        token = "tok"
        """), "c.toml", {})
    assert config.storage.db == "postgresql://pm:secret@db.lan/power"
    assert "secret" not in repr(config)
    assert (config.storage.retention.raw_days, config.storage.retention.minute_days) == (7, None)
    assert (config.energy.method, config.energy.max_gap_s) == ("left", 90.0)
    assert config.web.listen is None
    assert config.prometheus.listen == ("0.0.0.0", 9108) and config.prometheus.web is False
    assert config.influx is not None and config.influx.api == "v2" and config.mqtt is None
    assert config.tariff is None and Config().web.listen == ("127.0.0.1", 8000)


def test_environment_overrides_apply_at_load_and_name_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[storage]\ndb = "/file.db"\n[web]\nlisten = "127.0.0.1:1"\n')
    env = {"POWERMONITOR_DB": "/env.db", "POWERMONITOR_LISTEN": "[::1]:2",
           "POWERMONITOR_METRICS_LISTEN": "127.0.0.1:3",
           "POWERMONITOR_INFLUX_URL": "http://i:8086", "POWERMONITOR_INFLUX_TOKEN": "t"}
    with pytest.raises(ConfigError) as info:  # influx needs a database (or org/bucket)
        load_config(path, env)
    assert "[influx] 'database' is required" in str(info.value)
    env["POWERMONITOR_INFLUX_URL"] = ""
    config = load_config(path, env)
    assert config.storage.db == "/env.db" and config.web.listen == ("::1", 2)
    assert config.prometheus.listen == ("127.0.0.1", 3) and config.influx is None
    with pytest.raises(ConfigError) as info:
        load_config(path, {"POWERMONITOR_MQTT_URL": "http://user:pw@h"})
    assert str(info.value) == (f"{path}: environment variable POWERMONITOR_MQTT_URL: must start "
                               "with mqtt:// or mqtts:// (got 'http://user:***@h')")
    with pytest.raises(ConfigError, match="POWERMONITOR_LISTEN: 'POWERMONITOR_LISTEN' must be"):
        load_config(path, {"POWERMONITOR_LISTEN": "nonsense"})
    assert load_config(path, {"POWERMONITOR_LISTEN": "off"}).web.listen is None
