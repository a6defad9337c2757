"""Plugs refused at the door (a key the AES code cannot use, two plugs on one host:port), the
product id carried from imports to the file, and the generic one-plug edit."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from powermonitor.cli.main import cli
from powermonitor.config import (
    EDITABLE_FIELDS,
    Config,
    PlugConfig,
    add_plug,
    import_devices,
    load_config,
    merge_plugs,
    parse_config,
    render_config,
    save_config,
    update_plug,
)
from powermonitor.errors import ConfigError

KEY_A = "0123456789abcdef"
KEY_B = "fedcba9876543210"
EURO_KEY = "0123456789abcde€"
BAD_KEYS = [EURO_KEY, "0123456789abcde\x01", "0123456789abcdeé", "0123456789abcde\u200b"]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("POWERMONITOR_CONFIG", raising=False)


def plug_text(name: str, host: str, key: str, port: int = 6668, device_id: str = "") -> str:
    return (f'[[plugs]]\nname = "{name}"\nid = "{device_id or "id-" + name}"\n'
            f'host = "{host}"\nport = {port}\nkey = "{key}"\nversion = "3.3"\n')


@pytest.mark.parametrize("key", BAD_KEYS, ids=["euro", "control", "latin1", "zero-width"])
def test_a_key_outside_printable_ascii_is_refused_at_load(tmp_path: Path, key: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(plug_text("a", "10.0.0.1", KEY_A) + "\n" + plug_text(
        "b", "10.0.0.2", key.replace("\x01", "\\u0001")))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (f"{path}:14: plug 'b': the local key must be printable ASCII "
                               "characters only (it holds a character outside A-Z, a-z, 0-9 "
                               "and punctuation)")
    assert key not in str(info.value)


def test_devices_add_refuses_a_bad_key_and_leaves_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    runner = CliRunner()
    ok = runner.invoke(cli, ["devices", "add", "a", "id1", "10.0.0.1", KEY_A, "--config",
                             str(path)])
    assert ok.exit_code == 0, ok.output
    before = path.read_text()
    bad = runner.invoke(cli, ["devices", "add", "b", "id2", "10.0.0.2", EURO_KEY, "--config",
                              str(path)])
    assert bad.exit_code == 2
    assert "printable ASCII" in bad.output and EURO_KEY not in bad.output
    assert "Traceback" not in bad.output
    assert path.read_text() == before


def test_devices_import_skips_a_bad_key_and_imports_the_rest(tmp_path: Path) -> None:
    devices = tmp_path / "devices.json"
    devices.write_text(json.dumps([
        {"name": "good", "id": "id1", "ip": "10.0.0.1", "key": KEY_A, "version": "3.3"},
        {"name": "euro", "id": "id2", "ip": "10.0.0.2", "key": EURO_KEY, "version": "3.3"},
    ], ensure_ascii=False))
    result = import_devices(devices)
    assert [p.name for p in result.plugs] == ["good"]
    assert result.skipped == (("euro", ("the local key must be printable ASCII characters only "
                                       "(it holds a character outside A-Z, a-z, 0-9 and "
                                       "punctuation)")),)
    path = tmp_path / "c.toml"
    out = CliRunner().invoke(cli, ["devices", "import", str(devices), "--config", str(path)])
    assert out.exit_code == 0 and "skipped    euro: the local key must be printable" in out.output
    assert [p.name for p in load_config(path).plugs] == ["good"]


def test_two_plugs_on_one_host_and_port_are_refused_everywhere(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(plug_text("a", "10.0.0.1", KEY_A) + "\n" + plug_text("b", "10.0.0.1", KEY_B))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (f"{path}:12: plug 'b' has the same address 10.0.0.1:6668 as plug "
                               "'a' (one plug, one connection: give each its own host or port)")
    # Same host, other port: two plugs behind one address (the simulator, port forwarding).
    path.write_text(plug_text("a", "10.0.0.1", KEY_A) + "\n" +
                    plug_text("b", "10.0.0.1", KEY_B, port=7000))
    config = load_config(path)
    with pytest.raises(ConfigError, match="same address 10.0.0.1:7000 as plug 'b'"):
        add_plug(config, PlugConfig("c", "id-c", "10.0.0.1", KEY_A, "3.3", port=7000))
    out = CliRunner().invoke(cli, ["devices", "add", "c", "id-c", "10.0.0.1", KEY_A,
                                   "--config", str(path)])
    assert out.exit_code == 2 and "same address 10.0.0.1:6668 as plug 'a'" in out.output
    merged, report = merge_plugs(config, [PlugConfig("d", "id-d", "10.0.0.1", KEY_A, "3.3")])
    assert merged.plugs == config.plugs
    assert report.skipped == (("d", "10.0.0.1:6668 is already the address of plug 'a'"),)
    devices = tmp_path / "devices.json"
    devices.write_text(json.dumps([
        {"name": "x", "id": "id-x", "ip": "10.0.0.9", "key": KEY_A, "version": "3.3"},
        {"name": "y", "id": "id-y", "ip": "10.0.0.9", "key": KEY_B, "version": "3.3"},
    ]))
    result = import_devices(devices)
    assert [p.name for p in result.plugs] == ["x"]
    assert result.skipped == (("y", "10.0.0.9:6668 is also the address of 'x' in the file"),)


def test_product_id_is_imported_saved_and_read_back(tmp_path: Path) -> None:
    devices = tmp_path / "devices.json"
    devices.write_text(json.dumps([
        {"name": "a", "id": "id1", "ip": "10.0.0.1", "key": KEY_A, "version": "3.3",
         "product_id": "keyjup78v54myhan"},
        {"name": "b", "id": "id2", "ip": "10.0.0.2", "key": KEY_B, "version": "3.4"},
    ]))
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(json.dumps({"devices": [
        {"name": "c", "id": "id3", "ip": "10.0.0.3", "key": KEY_A, "ver": "3.3",
         "productKey": "p8bcn5ybm1xymwdx"}]}))
    plugs = import_devices(devices).plugs + import_devices(snapshot).plugs
    assert [p.product_id for p in plugs] == ["keyjup78v54myhan", "", "p8bcn5ybm1xymwdx"]
    config, _ = merge_plugs(Config(path=tmp_path / "c.toml"), plugs)
    save_config(config)
    text = (tmp_path / "c.toml").read_text()
    assert text.count("product_id = ") == 2
    assert load_config(tmp_path / "c.toml").plugs == config.plugs
    # --replace-existing keeps a known product id when the import does not have one.
    updated, report = merge_plugs(config, [PlugConfig("a", "id1", "10.0.0.5", KEY_A, "3.3")],
                                  replace_existing=True)
    assert report.updated == ("a",)
    assert updated.plug("a").product_id == "keyjup78v54myhan"
    assert updated.plug("a").host == "10.0.0.5"
    with pytest.raises(ConfigError, match="'product_id' must be Tuya's product id"):
        parse_config(plug_text("a", "h", KEY_A) + 'product_id = "a b"\n')


def test_update_plug_changes_one_plug_through_the_same_checks() -> None:
    config = parse_config(plug_text("a", "10.0.0.1", KEY_A) + plug_text("b", "10.0.0.2", KEY_B)
                          + "poll_interval = 5\n", env={})
    changed = update_plug(config, "A", {"product_id": "keyjup78v54myhan", "version": "34",
                                        "port": 7000})
    a = changed.plug("a")
    assert (a.product_id, a.version, a.port) == ("keyjup78v54myhan", "3.4", 7000)
    assert changed.plug("b") == config.plug("b") and config.plug("a").product_id == ""
    assert update_plug(config, "b", {"poll_interval": None}).plug("b").poll_interval is None
    again = parse_config(render_config(changed), env={})
    assert again.plugs == changed.plugs
    with pytest.raises(ConfigError, match="cannot change 'colour' of a plug"):
        update_plug(config, "a", {"colour": "red"})
    with pytest.raises(ConfigError, match="printable ASCII"):
        update_plug(config, "a", {"local_key": EURO_KEY})
    with pytest.raises(ConfigError, match="duplicate name 'b'"):
        update_plug(config, "a", {"name": "B"})
    with pytest.raises(ConfigError, match="same address"):
        update_plug(config, "a", {"host": "10.0.0.2"})
    with pytest.raises(ConfigError, match="no plug named 'zz'"):
        update_plug(config, "zz", {"port": 1})
    assert "mapping_source" not in EDITABLE_FIELDS and "product_id" in EDITABLE_FIELDS


def test_merge_of_many_plugs_renames_and_skips_like_one_by_one() -> None:
    """merge_plugs keeps its rules with indexes (linear): names taken by earlier imports,
    ids used as names, and ids already present."""
    base = parse_config(textwrap.dedent(plug_text("dup", "10.1.0.0", KEY_A, device_id="x0")),
                        env={})
    incoming = [PlugConfig("dup", f"x{n}", f"10.1.{n // 250}.{n % 250 + 1}", KEY_A, "3.3")
                for n in range(1, 600)]
    incoming.append(PlugConfig("again", "x0", "10.9.9.9", KEY_A, "3.3"))
    merged, report = merge_plugs(base, incoming)
    assert len(merged.plugs) == 600 and len(report.added) == 599
    assert report.skipped == (("dup", "already configured (use --replace-existing to update it)"),)
    names = [p.name.casefold() for p in merged.plugs]
    assert len(set(names)) == len(names)
    assert report.renamed[0] == ("dup", "dup-x1")
