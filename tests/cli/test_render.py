"""The one renderer: precision per kind, short ids, clean text, tables that fit 80 columns."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from powermonitor.cli.options import output_format
from powermonitor.cli.render import Column, data_value, emit, short_id, table
from powermonitor.errors import UsageError
from powermonitor.timeparse import EARLIEST, LATEST, parse_duration, parse_time

COLUMNS = [
    Column("id", "Id", "id"), Column("name", "Plug"), Column("address", "Address"),
    Column("power_w", "Power (W)", "power"), Column("voltage_v", "Voltage (V)", "voltage"),
    Column("current_a", "Current (A)", "current_a"), Column("kwh", "Energy (kWh)", "kwh"),
    Column("wh", "Energy (Wh)", "wh"), Column("cost", "Cost (EUR)", "cost"),
    Column("coverage", "Coverage (%)", "percent"),
]
ROW = {"id": "bf1f6d1e0f8c3a2b4d5e", "name": "Washing machine", "address": "192.168.100.200:6668",
       "power_w": 106.19999999999999, "voltage_v": 229.60000000000002, "current_a": 7e-06,
       "kwh": 1.23456789, "wh": 0.0004, "cost": 0.123456, "coverage": 99.94999}


@pytest.mark.parametrize(("kind", "value", "expected"), [
    ("power", 106.19999999999999, 106.2),
    ("power", -0.04, 0.0),
    ("voltage", 229.60000000000002, 229.6),
    ("current_ma", 485.4, 485.0),
    ("current_a", 7e-06, 0.0),
    ("current_a", 0.4856, 0.486),
    ("pf", 0.987, 0.99),
    ("kwh", 1.23456789, 1.235),
    ("wh", 0.0004, 0.0),
    ("wh", 0.0126, 0.013),
    ("cost", 0.123456, 0.1235),
    ("percent", 99.94999, 99.9),
    ("seconds", 3599.6, 3600.0),
    ("power", math.nan, None),
    ("power", math.inf, None),
    ("power", None, None),
])
def test_numbers_are_rounded_to_what_a_plug_measures(kind: str, value: float | None,
                                                     expected: float | None) -> None:
    got = data_value(value, kind)
    assert got == expected
    if got is not None:
        assert "e" not in repr(got) and not repr(got).startswith("-")


def test_json_and_csv_have_no_float_noise() -> None:
    out = io.StringIO()
    emit([ROW], "json", COLUMNS, out=out)
    text = out.getvalue()
    assert "106.2" in text and "99999" not in text and "e-" not in text
    assert json.loads(text)[0]["id"] == ROW["id"]  # full ids in data
    out = io.StringIO()
    emit([ROW], "csv", COLUMNS, out=out)
    header, line = out.getvalue().splitlines()
    assert header == "id,name,address,power_w,voltage_v,current_a,kwh,wh,cost,coverage"
    assert line == ("bf1f6d1e0f8c3a2b4d5e,Washing machine,192.168.100.200:6668,106.2,229.6,0.0,"
                    "1.235,0.0,0.1235,99.9")


def test_short_ids_keep_both_ends() -> None:
    assert short_id("bf1f6d1e0f8c3a2b4d5e") == "bf1f…4d5e"
    assert short_id("short") == "short"
    assert short_id("bf\x1b[2J0000000000") == "bf[2…0000"


def render80(rows: Sequence[Mapping[str, Any]], columns: list[Column], title: str = "") -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=80).print(table(rows, columns, title=title, width=80))
    return buffer.getvalue()


@pytest.mark.parametrize("columns", [COLUMNS[:3] + COLUMNS[6:], COLUMNS], ids=["7", "10"])
def test_tables_fit_80_columns_and_never_cut(columns: list[Column]) -> None:
    rows = [ROW, {**ROW, "name": "Fridge", "address": "[fe80::1234:5678:9abc:def0]:6668"}]
    text = render80(rows, columns, title="energy")
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "bf1f…4d5e" in text and "…" not in text.replace("bf1f…4d5e", "")
    flat = "".join(text.split())
    for value in ("99.9", "0.12", "1.235"):  # every column is there, money with 2 decimals
        assert value in flat or value in text
    assert "0.1235" not in flat
    # only the address filled in: its folded pieces read back whole, port included
    alone = render80([{"id": r["id"], "address": r["address"]} for r in rows], columns)
    flat = "".join(alone.split())
    assert "bf1f…4d5e192.168.100.200:6668" in flat
    assert "bf1f…4d5e[fe80::1234:5678:9abc:def0]:6668" in flat


def test_a_short_table_keeps_names_and_numbers_whole() -> None:
    columns = [Column("name", "Plug"), Column("power_w", "Power (W)", "power"),
               Column("voltage_v", "Voltage (V)", "voltage"), Column("kwh", "Energy (kWh)", "kwh")]
    text = render80([ROW], columns)
    assert "Washing machine" in text and "106.2" in text and "229.6" in text and "1.235" in text


def test_escape_sequences_and_markup_are_not_printed() -> None:
    evil = {"name": "\x1b]0;owned\x07[red]x[/red]\u202e", "id": "bf00000000000000beef"}
    text = render80([evil], [Column("name", "Plug"), Column("id", "Id", "id")])
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "[red]x[/red]" in text  # shown as typed, not interpreted
    out = io.StringIO()
    emit([evil], "csv", [Column("name", "Plug")], out=out)
    assert "\x1b" not in out.getvalue()


def test_json_and_csv_are_exclusive() -> None:
    assert output_format(False, False) == "table"
    assert output_format(True, False) == "json"
    assert output_format(False, True) == "csv"
    with pytest.raises(UsageError):
        output_format(True, True)


UTC_ZONE = ZoneInfo("UTC")
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("text", ["99999999999d", "999999999999999w", "20000y", "0001-01-01",
                                  "9999-12-31T23:59:59", "10000-01-01", "0000-01-01",
                                  "1969-12-31", "60000w"])
def test_extreme_dates_are_one_clear_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_time(text, NOW, UTC_ZONE)
    assert "\n" not in str(info.value)


def test_ordinary_dates_still_parse() -> None:
    assert parse_time("24h", NOW, UTC_ZONE) == NOW - 86400
    assert parse_time("2026-11-01", NOW, UTC_ZONE) == datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    assert EARLIEST <= parse_time("8999-12-31", NOW, UTC_ZONE) < LATEST
    assert parse_duration("90m") == 5400
    with pytest.raises(UsageError):
        parse_duration("1e400d")
