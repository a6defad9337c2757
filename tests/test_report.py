"""The one-shot poll report: seed-README numbers, JSON shape, masked key, no-power plugs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from powermonitor.dps import interpret
from powermonitor.models import DeviceInfo, Reading, mask_key
from powermonitor.report import (
    NO_POWER_DATA_NOTE,
    format_datetime,
    poll_json,
    poll_text,
    projected_kwh,
)

KEY = "0123456789abcdef"
DEV_ID = "01234567891234567890"
TS = datetime(2019, 8, 31, 7, 20, 59, 654321, tzinfo=UTC)
INFO = DeviceInfo(device_id=DEV_ID, host="10.0.1.99", local_key=KEY, version="3.3")
SEED_DPS = {"1": True, "2": 0, "4": 69, "5": 12, "6": 1181}


def reading(dps: dict[str, Any], protocol: str = "3.3") -> Reading:
    return interpret(dps, device_id=DEV_ID, timestamp=TS, protocol=protocol)


# --------------------------------------------------------------------------- projections


def test_projected_kwh_seed_example() -> None:
    assert projected_kwh(1.2) == {"day": 0.0288, "week": 0.2016, "month": 0.8736}


def test_projected_kwh_second_seed_example() -> None:
    # seed README: 1.3 W → Day 0.031200 Week 0.218400 Month 0.946400
    assert projected_kwh(1.3) == {"day": 0.0312, "week": 0.2184, "month": 0.9464}


def test_projected_kwh_formulas() -> None:
    p = projected_kwh(1000.0)
    assert p["day"] == 24.0
    assert p["week"] == 168.0
    assert p["month"] == pytest.approx(168.0 * 52 / 12, abs=1e-6)
    assert projected_kwh(0.0) == {"day": 0.0, "week": 0.0, "month": 0.0}


# --------------------------------------------------------------------------- text


def test_poll_text_seed_example() -> None:
    text = poll_text(reading(SEED_DPS), INFO)
    lines = text.splitlines()
    assert (
        lines[0] == f"Polling Device {DEV_ID} at 10.0.1.99 with key 01************ef (protocol 3.3)"
    )
    assert "Switch On: True" in lines
    assert "Power (W): 1.2" in lines
    assert "Current (mA): 69.0" in lines
    assert "Voltage (V): 118.1" in lines
    assert any(line.startswith("Power factor: 0.147") for line in lines)
    assert (
        "Projected usage (kWh), estimate from current power:"
        "  Day: 0.028800  Week: 0.201600  Month: 0.873600"
    ) in lines


@pytest.mark.parametrize("dps", [SEED_DPS, {"1": True}, {"1": True, "2": False}, {}])
def test_full_key_never_in_text(dps: dict[str, Any]) -> None:
    text = poll_text(reading(dps), INFO)
    assert KEY not in text
    assert mask_key(KEY) in text


def test_full_key_never_in_json() -> None:
    assert KEY not in json.dumps(poll_json(reading(SEED_DPS), INFO))


def test_poll_text_strip() -> None:
    dps = {"1": True, "2": False, "3": True, "9": 0, "10": 0}
    lines = poll_text(reading(dps), INFO).splitlines()
    assert ["Switch 1: On", "Switch 2: Off", "Switch 3: On"] == [
        line for line in lines if line.startswith("Switch")
    ]


def test_poll_text_no_power_data() -> None:
    text = poll_text(reading({"1": True, "9": 0, "38": "memory"}), INFO)
    assert "This plug reports no power data (DPs: 1, 9, 38)" in text
    assert "Power (W)" not in text
    assert "Projected" not in text
    assert "0.000000" not in text


def test_poll_text_partial_power_data() -> None:
    text = poll_text(reading({"1": True, "19": 0}), INFO)
    assert "Power (W): 0.0" in text
    assert "Current (mA): n/a" in text
    assert "Voltage (V): n/a" in text
    assert "Power factor" not in text


def test_poll_text_energy_increment_labelled() -> None:
    text = poll_text(reading({"1": True, "17": 5, "18": 0, "19": 0, "20": 2300}), INFO)
    assert "Energy since the plug's last report (Wh): 5.0 (an increment, not a meter)" in text


def test_poll_text_protocol_falls_back_to_configured_version() -> None:
    text = poll_text(reading(SEED_DPS, protocol=""), INFO)
    assert text.splitlines()[0].endswith("(protocol 3.3)")
    auto = DeviceInfo(DEV_ID, "10.0.1.99", KEY)  # version "auto", nothing spoken yet
    assert "(protocol" not in poll_text(reading(SEED_DPS, protocol=""), auto).splitlines()[0]


def test_poll_text_without_device_info() -> None:
    text = poll_text(reading(SEED_DPS), None)
    assert text.splitlines()[0] == f"Polling Device {DEV_ID} (protocol 3.3)"


def test_poll_text_unknown_switch() -> None:
    assert "Switch On: unknown" in poll_text(reading({"19": 5}), INFO)


# --------------------------------------------------------------------------- json


def test_poll_json_seed_example() -> None:
    out = poll_json(reading(SEED_DPS), INFO)
    assert out["datetime"] == "2019-08-31T07:20:59Z"
    assert out["id"] == DEV_ID
    assert out["switch"] is True
    assert "switches" not in out
    assert out["power"] == 1.2
    assert out["current"] == 69.0
    assert out["voltage"] == 118.1
    assert out["projected_kwh"] == {"day": 0.0288, "week": 0.2016, "month": 0.8736}
    assert out["protocol"] == "3.3"
    assert out["dps"] == SEED_DPS
    assert out["apparent_power"] == pytest.approx(8.1489, abs=1e-4)
    assert out["power_factor"] == pytest.approx(0.147, abs=1e-3)
    assert "note" not in out


def test_poll_json_types_survive_serialisation() -> None:
    out = json.loads(json.dumps(poll_json(reading(SEED_DPS), INFO)))
    assert isinstance(out["switch"], bool)
    for key in ("power", "current", "voltage", "apparent_power", "power_factor"):
        assert isinstance(out[key], (int, float)) and not isinstance(out[key], bool), key
    assert all(isinstance(v, float) for v in out["projected_kwh"].values())


def test_poll_json_keys() -> None:
    out = poll_json(reading(SEED_DPS), INFO)
    assert {
        "datetime",
        "id",
        "switch",
        "power",
        "current",
        "voltage",
        "apparent_power",
        "power_factor",
        "projected_kwh",
        "protocol",
        "dps",
    } <= set(out)


def test_poll_json_strip() -> None:
    out = poll_json(reading({"1": False, "2": True, "3": True, "10": 0}), INFO)
    assert out["switch"] is False
    assert out["switches"] == {"1": False, "2": True, "3": True}


def test_poll_json_no_power_data() -> None:
    out = poll_json(reading({"1": True, "9": 0}), INFO)
    assert out["power"] is None and out["current"] is None and out["voltage"] is None
    assert out["projected_kwh"] is None
    assert out["power_factor"] is None and out["apparent_power"] is None
    assert out["note"] == NO_POWER_DATA_NOTE
    assert json.loads(json.dumps(out))["power"] is None


def test_poll_json_without_device_info() -> None:
    out = poll_json(reading(SEED_DPS))
    assert out["host"] is None and out["name"] is None
    assert out["protocol"] == "3.3"


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (TS, "2019-08-31T07:20:59Z"),
        (
            datetime(2019, 8, 31, 9, 20, 59, tzinfo=timezone(timedelta(hours=2))),
            "2019-08-31T07:20:59Z",
        ),
        (datetime(2019, 8, 31, 7, 20, 59), "2019-08-31T07:20:59Z"),  # naive = UTC
    ],
)
def test_format_datetime(moment: datetime, expected: str) -> None:
    assert format_datetime(moment) == expected


# --------------------------------------------------------------------------- fuzz

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.sampled_from(["1", "2", "3", "4", "5", "6", "17", "18", "19", "20", "21", "22", "23"]),
        scalars,
        max_size=12,
    )
)
def test_any_reading_renders(dps: dict[str, Any]) -> None:
    r = reading(dps)
    text = poll_text(r, INFO)
    assert KEY not in text
    out = poll_json(r, INFO)
    json.dumps(out, allow_nan=False)  # derived numbers are always finite
    if out["power"] is None:
        assert out["projected_kwh"] is None
    if not r.has_power_data:
        assert out["note"] == NO_POWER_DATA_NOTE


def test_absurd_power_projection_is_null_not_infinite() -> None:
    r = Reading(device_id=DEV_ID, timestamp=TS, power_w=1e308)
    out = poll_json(r, INFO)
    assert out["projected_kwh"] is None
    json.dumps(out, allow_nan=False)
    assert "Projected" not in poll_text(r, INFO)
