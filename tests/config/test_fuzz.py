"""Hostile config files: whatever the text, loading raises only ConfigError (never another
exception, never a traceback), and what loads can be saved and read back unchanged."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from powermonitor.config import Config, parse_config, render_config
from powermonitor.config.sections import SECTIONS
from powermonitor.errors import ConfigError

KEYS = ["name", "id", "host", "key", "version", "port", "poll_interval", "refresh", "mapping",
        "product_id", "db", "raw_days", "method", "max_gap", "listen", "allowed_hosts", "url",
        "web", "qos", "price", "currency", "timezone", "windows", "days", "start", "end",
        "database", "token", "layout", "power", "switches", "timeout", "enabled"]
scalars = st.one_of(
    st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=True),
    st.text(max_size=20), st.sampled_from(["3.3", "auto", "0123456789abcdef", "127.0.0.1:8000",
                                            "mqtt://h", "http://h:8086", "forever", "19:1",
                                            "0123456789abcde€", "off", "22:00", "all"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
    max_leaves=12)
tables = st.dictionaries(st.sampled_from(KEYS), values, max_size=8)
documents = st.fixed_dictionaries({}, optional={
    "defaults": tables, "plugs": st.lists(tables, max_size=3),
    **{name: tables for name in SECTIONS},
})


def _load(text: str) -> Config | None:
    try:
        return parse_config(text, "fuzz.toml", env={})
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.toml")
        return None


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_document_loads_or_raises_config_error(document: dict[str, Any]) -> None:
    try:
        text = tomli_w.dumps(document)
    except (TypeError, ValueError):  # not representable as TOML (e.g. nan in some versions)
        return
    config = _load(text)
    if config is not None:
        again = parse_config(render_config(config), "fuzz.toml", env={})
        assert again == config


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.printable + "[]{}=\"'€\x00", max_size=200))
def test_any_text_loads_or_raises_config_error(text: str) -> None:
    _load(text)


def test_a_deeply_nested_file_is_a_config_error(tmp_path: Path) -> None:
    text = "x = " + "[" * 50_000 + "]" * 50_000 + "\n"
    assert _load(text) is None


def test_a_deeply_nested_mapping_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    import json

    from powermonitor.config import import_devices

    inner: dict[str, Any] = {"scale": 1}
    for _ in range(500):
        inner = {"x": inner}
    devices = tmp_path / "devices.json"
    devices.write_text(json.dumps([
        {"name": "deep", "id": "id1", "ip": "10.0.0.1", "key": "0123456789abcdef",
         "version": "3.3", "mapping": {"19": {"code": "cur_power", "values": inner}}},
        {"name": "fine", "id": "id2", "ip": "10.0.0.2", "key": "0123456789abcdef",
         "version": "3.3"}]))
    result = import_devices(devices)
    assert [p.name for p in result.plugs] == ["fine"]
    assert result.skipped == (("deep", "'mapping' is nested too deeply (more than 8 levels)"),)
    text = ('[[plugs]]\nname = "a"\nid = "i"\nhost = "h"\nkey = "0123456789abcdef"\n'
            'mapping = { 19 = { code = "cur_power", values = ' + "{ x = " * 20 + "1"
            + " }" * 20 + " } }\n")
    assert _load(text) is None
