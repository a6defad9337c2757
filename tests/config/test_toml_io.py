"""The config file: validation with file:line messages, round trips and 0600 atomic writes
that never lose the old file (edits: test_edit.py, imports: test_importers.py)."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import powermonitor.config as config_module
from powermonitor import errors
from powermonitor.config import (
    MIN_POLL_INTERVAL,
    Config,
    Defaults,
    PlugConfig,
    StorageSettings,
    default_config_path,
    load_config,
    mapping_to_source,
    missing_key_message,
    needs_key,
    parse_config,
    parse_mapping,
    render_config,
    save_config,
)
from powermonitor.dps import LAYOUTS, DpField, DpMapping, mapping_from_tinytuya
from powermonitor.errors import ConfigError, UsageError
from powermonitor.storage.base import Retention

from .helpers import ALL_KEYS, KEY_A, KEY_B, KEY_C, _isolated_home, assert_no_key, write  # noqa: F401

# ----------------------------------------------------------------------------- locations


def test_default_path_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_config_path() == tmp_path / "xdg" / "powermonitor" / "config.toml"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")  # the XDG spec says: ignore it
    assert default_config_path() == tmp_path / "home" / ".config" / "powermonitor" / "config.toml"
    monkeypatch.setenv("XDG_CONFIG_HOME", "")
    assert default_config_path() == tmp_path / "home" / ".config" / "powermonitor" / "config.toml"
    monkeypatch.setenv("POWERMONITOR_CONFIG", str(tmp_path / "explicit.toml"))
    assert default_config_path() == tmp_path / "explicit.toml"


def test_missing_file_is_an_empty_config(tmp_path: Path) -> None:
    config = load_config(tmp_path / "nope.toml")
    assert config == Config(path=tmp_path / "nope.toml")
    assert config.plugs == () and config.defaults == Defaults() and config.sources == {}
    default = load_config()
    assert default.path == tmp_path / "xdg" / "powermonitor" / "config.toml"
    assert not default.path.exists()


def test_module_docstring_example_is_valid(tmp_path: Path) -> None:
    """The example in config.py's docstring is what users copy: it must load."""
    doc = config_module.__doc__ or ""
    example = doc.split("Example::", 1)[1].split("The package, one job", 1)[0]
    config = parse_config(textwrap.dedent(example).strip() + "\n", tmp_path / "example.toml")
    assert [p.name for p in config.plugs] == ["fridge", "boiler", "heater"]
    fridge, boiler, heater = config.plugs
    assert fridge.version == "3.3" and fridge.poll_interval == 5.0
    assert fridge.mapping == DpMapping(
        current=DpField("18", 0, "mA"), power=DpField("19", 1, "W"),
        voltage=DpField("20", 1, "V"), switches=("1",),
    )
    assert boiler.mapping == LAYOUTS["switch20"]
    assert heater.mapping is not None and heater.mapping.power == DpField("19", 1, "W")
    assert config.storage.db == str(Path.home() / "powermonitor.db")
    assert config.storage.retention.raw_days == 14 and config.web.listen == ("127.0.0.1", 8000)
    assert fridge.product_id == "keyjup78v54myhan"
    assert config.defaults == Defaults(10.0, 5.0, 10.0, True)


# ----------------------------------------------------------------------------- validation

GOOD_PLUG = f'''
[[plugs]]
name = "fridge"
id = "bf1f6d1e0f8c3a2b4d5e"
host = "192.168.1.50"
key = "{KEY_A}"
'''

# (case id, file text, expected line, text the message must contain)
INVALID: list[tuple[str, str, int, str]] = [
    ("toml-syntax", '[defaults]\npoll_interval = 10\ntimeout = \n', 3, "invalid TOML"),
    ("toml-duplicate-key", '[[plugs]]\nname = "a"\nname = "b"\n', 3, "invalid TOML"),
    ("toml-unterminated", '[[plugs]]\nname = "a\n', 2, "invalid TOML"),
    ("unknown-section", '[defaults]\n\n[defautls]\npoll_interval = 3\n', 3,
     "unknown section 'defautls' (did you mean 'defaults'?)"),
    ("unknown-section-far", 'colour = "red"\n', 1, "unknown section 'colour'"),
    ("unknown-defaults-key", '[defaults]\ntimeout = 5\npol_interval = 5\n', 3,
     "unknown key 'pol_interval' in [defaults] (did you mean 'poll_interval'?)"),
    ("unknown-plug-key-alias", GOOD_PLUG + 'ip = "10.0.0.1"\n', 7,
     "unknown key 'ip' in a [[plugs]] entry (did you mean 'host'?)"),
    ("unknown-plug-key-typo", GOOD_PLUG + 'vesrion = "3.3"\n', 7, "did you mean 'version'?"),
    ("short-key", GOOD_PLUG.replace(KEY_A, KEY_A[:15]), 6,
     "plug 'fridge': the local key must be exactly 16 characters (got 15"),
    ("key-with-space", GOOD_PLUG.replace(KEY_A, KEY_A + " "), 6, "(got 17; check for stray"),
    ("key-not-string", GOOD_PLUG.replace(f'"{KEY_A}"', "1234"), 6, "'key' must be a string"),
    ("bad-version", GOOD_PLUG + 'version = "3.9"\n', 7, "unknown protocol version '3.9'"),
    ("bool-version", GOOD_PLUG + 'version = true\n', 7, "'version' must be a string"),
    ("plug-interval-too-fast", GOOD_PLUG + 'poll_interval = 0.5\n', 7,
     "'poll_interval' must be at least 1 s (plugs hang or reset when polled faster)"),
    ("plug-interval-string", GOOD_PLUG + 'poll_interval = "5"\n', 7,
     "'poll_interval' must be a number of seconds, not a string"),
    ("plug-interval-nan", GOOD_PLUG + 'poll_interval = nan\n', 7, "'poll_interval' must be"),
    ("plug-interval-huge", GOOD_PLUG + 'poll_interval = 1e9\n', 7, "must be at most 86400 s"),
    ("defaults-interval-too-fast", '# c\n[defaults]\npoll_interval = 0\n', 3,
     "'poll_interval' must be at least 1 s"),
    ("defaults-timeout-zero", '[defaults]\ntimeout = 0\n', 2, "'timeout' must be at least 0.1"),
    ("defaults-heartbeat", '[defaults]\nheartbeat_interval = -3\n', 2, "'heartbeat_interval'"),
    ("defaults-refresh", '[defaults]\nrefresh = "yes"\n', 2, "'refresh' must be true or false"),
    ("defaults-not-table", 'defaults = 5\n', 1, "'defaults' must be a table"),
    ("plug-refresh", GOOD_PLUG + 'refresh = 1\n', 7, "'refresh' must be true or false"),
    ("port-range", GOOD_PLUG + 'port = 70000\n', 7, "'port' must be a TCP port number"),
    ("port-string", GOOD_PLUG + 'port = "6668"\n', 7, "'port' must be a TCP port number"),
    ("port-bool", GOOD_PLUG + 'port = true\n', 7, "'port' must be a TCP port number"),
    ("host-with-port", GOOD_PLUG.replace('"192.168.1.50"', '"192.168.1.50:6668"'), 5,
     "'host' must not include a port"),
    ("host-empty", GOOD_PLUG.replace('"192.168.1.50"', '" "'), 5, "'host' must not be empty"),
    ("host-missing", GOOD_PLUG.replace('host = "192.168.1.50"\n', ''), 2, "'host' is missing"),
    ("name-missing", GOOD_PLUG.replace('name = "fridge"\n', ''), 2,
     "plug #1: 'name' is missing"),
    ("id-empty", GOOD_PLUG.replace('"bf1f6d1e0f8c3a2b4d5e"', '""'), 4, "'id' must not be empty"),
    ("id-with-space", GOOD_PLUG.replace('"bf1f6d1e0f8c3a2b4d5e"', '"bf1f 6d"'), 4,
     "'id' must not contain spaces"),
    ("duplicate-name", GOOD_PLUG + GOOD_PLUG.replace("bf1f6d1e0f8c3a2b4d5e", "other-id")
     .replace('"fridge"', '"Fridge"'), 9, "duplicate name 'Fridge'"),
    ("duplicate-id", GOOD_PLUG + GOOD_PLUG.replace('"fridge"', '"freezer"'), 10,
     "duplicate id 'bf1f6d1e0f8c3a2b4d5e': plug 'fridge' already has it"),
    ("name-is-other-id", GOOD_PLUG + GOOD_PLUG.replace('"fridge"', '"bf1f6d1e0f8c3a2b4d5e"')
     .replace('id = "bf1f6d1e0f8c3a2b4d5e"', 'id = "zz"').replace(".50", ".51"), 9, "is the id of plug 'fridge'"),
    ("plugs-not-array", '[plugs]\nname = "a"\n', 1, "write [[plugs]] (two brackets)"),
    ("plug-not-table", 'plugs = [1]\n', 1, "plug #1 must be a table"),
    ("mapping-not-table", GOOD_PLUG + 'mapping = "19"\n', 7, "'mapping' must be a table"),
    ("mapping-empty", GOOD_PLUG + 'mapping = {}\n', 7, "'mapping' is empty"),
    ("mapping-unknown-role", GOOD_PLUG + 'mapping = { powr = "19:1" }\n', 7,
     "unknown key 'powr' in mapping (did you mean 'power'?)"),
    ("mapping-bad-dp", GOOD_PLUG + 'mapping = { power = "x:1" }\n', 7,
     "'mapping.power' must be a DP number from 1 to 255"),
    ("mapping-bad-scale", GOOD_PLUG + 'mapping = { power = "19:12" }\n', 7,
     "the scale in 'mapping.power' must be 0 to 9"),
    ("mapping-bad-unit", GOOD_PLUG + 'mapping = { power = "19:1:furlong" }\n', 7,
     "unknown unit 'furlong' for power: use W or kW"),
    ("mapping-too-many-parts", GOOD_PLUG + 'mapping = { power = "19:1:W:x" }\n', 7,
     "must look like"),
    ("mapping-same-dp", GOOD_PLUG + 'mapping = { power = "19", voltage = "19" }\n', 7,
     "DP 19 is mapped to both power and voltage"),
    ("mapping-switch-is-power", GOOD_PLUG + 'mapping = { power = "1", switches = ["1"] }\n', 7,
     "DP 1 is both a switch and power"),
    ("mapping-switches-not-list", GOOD_PLUG + 'mapping = { power = "19", switches = "1" }\n', 7,
     "'mapping.switches' must be an array"),
    ("mapping-switches-twice", GOOD_PLUG + 'mapping = { power = "19", switches = [1, "1"] }\n',
     7, "lists a DP twice"),
    ("mapping-no-power", GOOD_PLUG + 'mapping = { switches = ["1"] }\n', 7,
     "the mapping names no power DP"),
    ("mapping-unknown-layout", GOOD_PLUG + 'mapping = { layout = "cx" }\n', 7,
     "unknown layout 'cx'"),
    ("tinytuya-entry-without-code", GOOD_PLUG + '[plugs.mapping]\n19 = { type = "Integer" }\n',
     8, "mapping entry '19' must be a table with a 'code'"),
    ("tinytuya-no-power-codes", GOOD_PLUG + '[plugs.mapping.1]\ncode = "switch_1"\n', 7,
     "none of the codes cur_power"),
    ("tinytuya-mixed-keys", GOOD_PLUG + '[plugs.mapping]\n19 = { code = "cur_power" }\n'
     'power = "19"\n', 9, "has DP numbers as keys, not 'power'"),
    ("second-plug-line", GOOD_PLUG + '\n[[plugs]]\nname = "b"\nid = "x2"\nhost = "h"\n'
     'key = "short"\n', 12, "plug 'b': the local key must be exactly 16"),
]


@pytest.mark.parametrize(("text", "line", "expected"), [c[1:] for c in INVALID],
                         ids=[c[0] for c in INVALID])
def test_invalid_files_name_the_file_and_line(
    tmp_path: Path, text: str, line: int, expected: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert expected in message, message
    assert info.value.line == line and info.value.path == path
    assert info.value.exit_code == 2 and isinstance(info.value, UsageError)
    assert_no_key(message)


def test_syntax_errors_carry_the_column(tmp_path: Path) -> None:
    path = write(tmp_path, '[defaults]\npoll_interval = 1x\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line == 2 and info.value.column is not None
    assert str(info.value).startswith(f"{path}:2:{info.value.column}: invalid TOML")


def test_duplicate_name_in_an_inline_array_is_located_by_value(tmp_path: Path) -> None:
    text = textwrap.dedent(f"""\
        plugs = [
          {{ name = "a", id = "id1", host = "h1", key = "{KEY_A}" }},
          {{ name = "b", id = "id2", host = "h2", key = "{KEY_A}" }},
          {{ name = "a", id = "id3", host = "h3", key = "{KEY_A}" }},
        ]
        """)
    with pytest.raises(ConfigError) as info:
        parse_config(text, "inline.toml")
    assert str(info.value).startswith("inline.toml:4: duplicate name 'a'")


def test_error_in_a_mapping_sub_table_points_into_it(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PLUG + '\n[plugs.mapping]\npower = "19:1"\nvoltage = "bad"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line == 10 and "'mapping.voltage' must be a DP number" in str(info.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    binary = tmp_path / "latin1.toml"
    binary.write_bytes(b'[defaults]\n# caf\xe9\n')
    with pytest.raises(ConfigError) as info:
        load_config(binary)
    assert str(info.value) == f"{binary}:2: the file is not UTF-8 text"


def test_keyless_plugs_are_kept_and_only_31_and_auto_can_be_read(tmp_path: Path) -> None:
    config = parse_config(
        '[[plugs]]\nname = "old"\nid = "a1"\nhost = "10.0.0.2"\nversion = 3.1\n'
        '[[plugs]]\nname = "any"\nid = "a2"\nhost = "fe80::1"\n'
        '[[plugs]]\nname = "heard"\nid = "a3"\nhost = "10.0.0.3"\nversion = "3.4"\n'
    )
    assert [(p.version, p.local_key) for p in config.plugs] == [
        ("3.1", ""), ("auto", ""), ("3.4", "")]
    assert [needs_key(p.local_key, p.version) for p in config.plugs] == [False, False, True]
    assert "devices set heard --key -" in missing_key_message("heard", "3.4")


def test_versions_are_normalised() -> None:
    versions = ['"3.3"', "3.3", '"v3.4"', '"35"', '"device22"', '"AUTO"']
    text = "".join(
        f'[[plugs]]\nname = "p{i}"\nid = "id{i}"\nhost = "h{i}"\nkey = "{KEY_A}"\nversion = {v}\n'
        for i, v in enumerate(versions)
    )
    assert [p.version for p in parse_config(text).plugs] == ["3.3", "3.3", "3.4", "3.5", "3.2",
                                                             "auto"]


def test_sections_are_typed_and_saved_as_written_without_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, """\
        [mqtt]
        topic_prefix = "home/power"
        [web]
        listen = "0.0.0.0:8080"
        allowed_hosts = ["Power.LAN"]
        [tariff]
        price = 0.25
        [[tariff.windows]]
        days = "all"
        start = "22:00"
        end = "06:00"
        price = 0.15
        [storage]
        db = "/var/lib/pm.db"
        raw_days = "forever"
        [energy]
        max_gap = 120
        """)
    monkeypatch.setenv("POWERMONITOR_MQTT_URL", "mqtt://env-broker:1999")
    monkeypatch.setenv("POWERMONITOR_MQTT_PASSWORD", "env-secret")
    config = load_config(path)
    assert config.mqtt is not None and (config.mqtt.host, config.mqtt.port) == ("env-broker", 1999)
    assert config.mqtt.topic_prefix == "home/power" and config.mqtt.password == "env-secret"
    assert config.web.listen == ("0.0.0.0", 8080) and config.web.allowed_hosts == ("power.lan",)
    assert config.tariff is not None and config.tariff.flat_price == 0.25
    assert len(config.tariff.windows) == 1
    assert config.storage.db == "/var/lib/pm.db" and config.storage.retention.raw_days is None
    assert config.energy.max_gap_s == 120.0 and config.influx is None
    save_config(config)
    saved = path.read_text()
    assert "env-broker" not in saved and "env-secret" not in saved
    assert load_config(path) == config
    monkeypatch.delenv("POWERMONITOR_MQTT_PASSWORD")
    monkeypatch.delenv("POWERMONITOR_MQTT_URL")
    with pytest.raises(ConfigError) as info:  # the section needs a URL from somewhere
        load_config(path)
    line = saved.splitlines().index("[mqtt]") + 1
    assert str(info.value).startswith(f"{path}:{line}: [mqtt] 'url' is missing")


def test_world_readable_file_with_keys_logs_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, GOOD_PLUG)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="powermonitor.config"):
        load_config(path)
    assert "chmod 600" in caplog.text
    assert_no_key(caplog.text)


# ----------------------------------------------------------------------------- model helpers


def full_config(path: Path | None = None) -> Config:
    tinytuya_source = {
        "1": {"code": "switch_1", "type": "Boolean", "values": {}},
        "19": {"code": "cur_power", "type": "Integer",
               "values": {"unit": "W", "min": 0, "max": 50000, "scale": 1, "step": 1}},
        "20": {"code": "cur_voltage", "type": "Integer", "values": '{"unit":"V","scale":1}'},
    }
    compact = {"power": "19:1", "current": "18:0:A", "voltage": "20", "switches": ["1", "2"]}
    return Config(
        path=path,
        defaults=Defaults(poll_interval=7.5, timeout=3.0, heartbeat_interval=12.0, refresh=False),
        plugs=(
            PlugConfig("fridge", "bf1f6d1e0f8c3a2b4d5e", "192.168.1.50", KEY_A, "3.3",
                       poll_interval=5.0, refresh=True,
                       mapping=parse_mapping(compact), mapping_source=compact),
            PlugConfig("boiler", "bf00000000000000beef", "boiler.lan", KEY_B, "3.5", port=7000,
                       mapping=LAYOUTS["switch20"]),
            PlugConfig("heater \"big\" [2]", "bf00000000000000cafe", "fe80::1", KEY_C, "3.4",
                       mapping=mapping_from_tinytuya(tinytuya_source),
                       mapping_source=tinytuya_source),
            PlugConfig("old", "0123abcd", "10.0.0.3", "", "3.1"),
        ),
        sources={"storage": {"db": "/var/lib/pm.db", "raw_days": 30}},
        storage=StorageSettings(db="/var/lib/pm.db", retention=Retention(raw_days=30)),
    )


def test_round_trip_save_and_load(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "config.toml"
    original = full_config()
    written = save_config(original, path)
    assert written == path
    loaded = load_config(path)
    assert loaded.plugs == original.plugs
    assert [p.local_key for p in loaded.plugs] == [KEY_A, KEY_B, KEY_C, ""]
    assert loaded.defaults == original.defaults
    assert loaded.sources == original.sources and loaded.storage == original.storage
    # The mapping as written is what comes back (the tinytuya one stays a tinytuya table).
    assert loaded.plugs[2].mapping_source == original.plugs[2].mapping_source
    assert loaded.plugs[0].mapping_source == original.plugs[0].mapping_source
    assert loaded.plugs[1].mapping_source == {"layout": "switch20"}
    # Saving what was loaded changes nothing: the format is stable.
    text = path.read_text()
    save_config(loaded)
    assert path.read_text() == text
    assert "[plugs.mapping]" in text and 'mapping = { power = "19:1"' in text


def test_a_stale_mapping_source_is_not_written(tmp_path: Path) -> None:
    plug = full_config().plugs[0]
    changed = replace(plug, mapping=LAYOUTS["cz"])  # mapping replaced, old source left behind
    save_config(Config(plugs=(changed,)), tmp_path / "c.toml")
    assert load_config(tmp_path / "c.toml").plugs[0].mapping == LAYOUTS["cz"]


def test_mapping_to_source_round_trips() -> None:
    for mapping in (*LAYOUTS.values(), full_config().plugs[0].mapping,
                    DpMapping(power=DpField("5", 2, "kW"), energy_increment=DpField("7", 0, "Wh"))):
        assert mapping is not None
        again = parse_mapping(mapping_to_source(mapping))
        assert (again.current, again.power, again.voltage, again.energy_increment,
                again.switches) == (mapping.current, mapping.power, mapping.voltage,
                                    mapping.energy_increment, mapping.switches)


def test_parse_mapping_defaults_and_errors() -> None:
    mapping = parse_mapping({"power": 19, "current": "18", "energy_increment": "17"})
    assert mapping.power == DpField("19", 1, "W")
    assert mapping.current == DpField("18", 0, "mA")
    assert mapping.energy_increment == DpField("17", 3, "kWh")
    assert parse_mapping({"layout": "cz", "power": "19:2"}).power == DpField("19", 2, "W")
    assert parse_mapping({"layout": "cz"}) == LAYOUTS["cz"]
    with pytest.raises(ConfigError, match="'mapping' must be a table"):
        parse_mapping(["19"])


def test_config_lookup_and_intervals() -> None:
    config = full_config()
    assert config.plug("fridge").device_id == "bf1f6d1e0f8c3a2b4d5e"
    assert config.plug("bf00000000000000beef").name == "boiler"
    assert config.plug("FRIDGE").name == "fridge"
    with pytest.raises(KeyError):
        config.plug("toaster")
    assert config.interval_for(config.plug("fridge")) == 5.0
    assert config.interval_for(config.plug("boiler")) == 7.5
    too_fast = PlugConfig("x", "y", "h", poll_interval=0.1)
    assert config.interval_for(too_fast) == MIN_POLL_INTERVAL
    assert Config(defaults=Defaults(poll_interval=0.2)).interval_for(too_fast) == 1.0
    assert config.refresh_for(config.plug("fridge")) is True
    assert config.refresh_for(config.plug("boiler")) is False
    info = config.plug("boiler").device_info()
    assert (info.device_id, info.host, info.port, info.version, info.local_key) == (
        "bf00000000000000beef", "boiler.lan", 7000, "3.5", KEY_B)


def test_keys_never_in_repr() -> None:
    config = full_config()
    assert_no_key(repr(config))
    assert_no_key(str(config.plugs))
    assert config.plug("fridge").masked_key == "01************ef"


# ----------------------------------------------------------------------------- saving safely


def test_saved_file_is_0600_even_with_a_loose_umask(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.toml"
    old = os.umask(0)
    try:
        save_config(full_config(), path)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_existing_loose_file_becomes_0600(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PLUG)
    path.chmod(0o644)
    save_config(load_config(path))
    assert path.stat().st_mode & 0o777 == 0o600


def test_save_uses_config_path_then_default(tmp_path: Path) -> None:
    config = full_config()
    written = save_config(config)
    assert written == tmp_path / "xdg" / "powermonitor" / "config.toml"
    assert load_config().plugs == config.plugs


def test_symlinked_config_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "powermonitor.toml"
    real.parent.mkdir()
    real.write_text(GOOD_PLUG)
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    save_config(full_config(), link)
    assert link.is_symlink()
    assert load_config(real).plugs == full_config().plugs


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_failed_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    path = write(tmp_path, GOOD_PLUG)
    before = path.read_bytes()

    def disk_full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, failing, disk_full)
    with pytest.raises(ConfigError) as info:
        save_config(full_config(), path)
    monkeypatch.undo()
    message = str(info.value)
    assert message.startswith(f"{path}: cannot save the configuration: No space left on device")
    assert "the file on disk is unchanged" in message
    assert isinstance(info.value.__cause__, OSError)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []
    assert_no_key(message)


def test_invalid_config_is_never_written(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PLUG)
    before = path.read_bytes()
    twin = PlugConfig("fridge", "other", "h", KEY_A)
    bad = Config(plugs=(*load_config(path).plugs, twin))  # built by hand, skipping add_plug
    with pytest.raises(ConfigError, match="refusing to save an invalid configuration: "
                                          "duplicate name 'fridge'"):
        save_config(bad, path)
    assert path.read_bytes() == before


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Any:
    """A 64 KiB tmpfs (root only; skipped where mounting is not allowed)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs",
                           str(mountpoint)], check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def test_really_full_disk_keeps_the_old_file(tiny_disk: Path) -> None:
    path = tiny_disk / "config.toml"
    save_config(full_config(), path)
    before = path.read_bytes()
    filler = tiny_disk / "filler"
    with filler.open("wb", buffering=0) as fh:  # fill every free block
        with pytest.raises(OSError) as full:
            while True:
                fh.write(b"\0" * 4096)
        assert full.value.errno == errno.ENOSPC
    many = Config(plugs=tuple(
        PlugConfig(f"plug-{i}", f"id-{i:05d}", f"10.0.{i // 250}.{i % 250 + 1}", KEY_A, "3.3")
        for i in range(300)))
    with pytest.raises(ConfigError, match="No space left on device"):
        save_config(many, path)
    assert path.read_bytes() == before
    assert leftovers(tiny_disk) == []
    filler.unlink()
    save_config(many, path)  # and once there is room, the same save succeeds
    assert len(load_config(path).plugs) == 300


def test_config_error_is_public() -> None:
    assert "ConfigError" in errors.__all__
    assert issubclass(ConfigError, UsageError) and ConfigError.exit_code == 2
    err = ConfigError("bad", "f.toml", 3, 7)
    assert (str(err), err.reason, err.line, err.column) == ("f.toml:3:7: bad", "bad", 3, 7)
    assert str(ConfigError("plain")) == "plain"


def test_render_config_has_the_privacy_header() -> None:
    assert render_config(Config()).startswith("# powermonitor configuration (TOML)")
