"""Pure edits of a Config: add, remove and merge plugs, validated like the loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from powermonitor.config import (
    Config,
    PlugConfig,
    add_plug,
    merge_plugs,
    remove_plug,
)
from powermonitor.errors import ConfigError

from .helpers import ALL_KEYS, KEY_A, KEY_B, KEY_C, _isolated_home, assert_no_key, write  # noqa: F401

# ----------------------------------------------------------------------------- pure edits


def test_add_and_remove_are_pure_and_validated() -> None:
    empty = Config(path=Path("/x/config.toml"))
    one = add_plug(empty, PlugConfig("fridge", "id1", "10.0.0.1", KEY_A, "33"))
    assert empty.plugs == ()
    assert one.plugs[0].version == "3.3" and one.path == empty.path
    with pytest.raises(ConfigError, match="duplicate name 'Fridge'"):
        add_plug(one, PlugConfig("Fridge", "id2", "10.0.0.2", KEY_A))
    with pytest.raises(ConfigError, match="duplicate id 'id1'"):
        add_plug(one, PlugConfig("freezer", "id1", "10.0.0.2", KEY_A))
    with pytest.raises(ConfigError) as info:
        add_plug(one, PlugConfig("freezer", "id2", "10.0.0.2", KEY_C[:-1], "3.4"))
    assert "plug 'freezer': the local key must be exactly 16 characters (got 15" in str(info.value)
    assert_no_key(str(info.value))
    with pytest.raises(ConfigError, match="at least 1 s"):
        add_plug(one, PlugConfig("freezer", "id2", "10.0.0.2", KEY_A, poll_interval=0.5))
    two = add_plug(one, PlugConfig("freezer", "id2", "10.0.0.2", KEY_B))
    assert [p.name for p in remove_plug(two, "FRIDGE").plugs] == ["freezer"]
    assert [p.name for p in remove_plug(two, "id2").plugs] == ["fridge"]
    assert len(two.plugs) == 2
    with pytest.raises(ConfigError, match=r"no plug named 'toaster' \(or with that id\) in "
                                          r"/x/config.toml"):
        remove_plug(two, "toaster")


def test_merge_adds_skips_and_replaces() -> None:
    config = Config(plugs=(
        PlugConfig("kitchen", "id1", "10.0.0.1", KEY_A, "3.3", poll_interval=30.0),
        PlugConfig("Smart Plug", "id2", "10.0.0.2", KEY_A, "3.3"),
    ))
    incoming = [
        PlugConfig("plug one", "id1", "10.0.0.99", KEY_B, "3.4"),
        PlugConfig("smart plug", "id3abcd", "10.0.0.3", KEY_C, "3.3"),
        PlugConfig("Smart Plug", "id2", "10.0.0.2", KEY_A, "3.3"),
    ]
    merged, report = merge_plugs(config, incoming)
    assert report.added == ("smart plug-abcd",)
    assert report.renamed == (("smart plug", "smart plug-abcd"),)
    assert [name for name, _ in report.skipped] == ["kitchen", "Smart Plug"]
    assert "--replace-existing" in report.skipped[0][1]
    assert merged.plug("kitchen").host == "10.0.0.1"

    replaced, report = merge_plugs(config, incoming, replace_existing=True)
    kitchen = replaced.plug("id1")
    assert (kitchen.name, kitchen.host, kitchen.local_key, kitchen.version,
            kitchen.poll_interval) == ("kitchen", "10.0.0.99", KEY_B, "3.4", 30.0)
    assert report.updated == ("kitchen",) and report.unchanged == ("Smart Plug",)
    assert len(replaced.plugs) == 3
    # An import that knows less (no key, version unknown) does not erase what we know.
    vague = [PlugConfig("x", "id1", "10.0.0.98", "", "auto")]
    kept, report = merge_plugs(replaced, vague, replace_existing=True)
    kitchen = kept.plug("id1")
    assert (kitchen.host, kitchen.local_key, kitchen.version) == ("10.0.0.98", KEY_B, "3.4")
    assert report.updated == ("kitchen",)
    assert_no_key(repr(report))

