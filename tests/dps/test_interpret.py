"""dps → Reading: layouts, detection, mapping precedence, scales, strips, garbage."""

from __future__ import annotations

import dataclasses
import importlib
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from powermonitor.dps import (
    _ROLE_UNITS,
    LAYOUTS,
    DpField,
    DpMapping,
    detect_layout,
    detect_switches,
    field_value,
    interpret,
    mapping_from_tinytuya,
    merge_dps,
    scaled_value,
)
from powermonitor.models import Reading, new_reading

interpret_module = importlib.import_module("powermonitor.dps.interpret")  # (the function
# `interpret` shadows the module's name in the package)

TS = datetime(2019, 8, 31, 7, 20, 59, tzinfo=UTC)

SEED_DPS = {"1": True, "2": 0, "4": 69, "5": 12, "6": 1181}
# A Tuya "cz" plug: 9 countdown, 17 add_ele, 18 mA, 19 W×10, 20 V×10, 21 test bit, 22-25 coefs.
CZ_DPS: dict[str, Any] = {
    "1": True,
    "9": 0,
    "17": 5,
    "18": 412,
    "19": 890,
    "20": 2301,
    "21": 1,
    "22": 614,
    "23": 31263,
    "24": 17218,
    "25": 2650,
    "26": 0,
    "38": "memory",
    "41": False,
}
SWITCH20_DPS: dict[str, Any] = {"1": False, "20": 12, "21": 250, "22": 575, "23": 2300}


def read(dps: Any, mapping: DpMapping | None = None) -> Reading:
    return interpret(dps, device_id="dev", timestamp=TS, protocol="3.3", mapping=mapping)


# --------------------------------------------------------------------------- layouts


def test_seed_readme_example() -> None:
    r = read(SEED_DPS)
    assert r.switch is True
    assert r.switches == {"1": True}
    assert r.power_w == 1.2
    assert r.current_a == 0.069
    assert r.current_ma == 69.0
    assert r.voltage_v == 118.1
    assert r.energy_increment_wh is None
    assert r.dps == SEED_DPS
    assert r.device_id == "dev" and r.timestamp == TS and r.protocol == "3.3"


def test_cz_layout() -> None:
    r = read(CZ_DPS)
    assert detect_layout(CZ_DPS) == "cz"
    assert (r.power_w, r.current_a, r.voltage_v) == (89.0, 0.412, 230.1)
    # add_ele 5 at scale 3 = 0.005 kWh = 5 Wh, an increment.
    assert r.energy_increment_wh == 5.0
    assert r.switches == {"1": True}


def test_switch20_layout() -> None:
    r = read(SWITCH20_DPS)
    assert detect_layout(SWITCH20_DPS) == "switch20"
    assert (r.power_w, r.current_a, r.voltage_v) == (57.5, 0.25, 230.0)
    assert r.energy_increment_wh == 12.0
    assert r.switch is False


def test_cz_with_calibration_dps_is_never_switch20() -> None:
    # DPs 21/22/23 exist in cz (test bit, coefficients): DP 19 must win.
    assert detect_layout(CZ_DPS) == "cz"
    r = read(CZ_DPS)
    assert r.voltage_v == 230.1  # DP 20 read as voltage, not as add_ele


@pytest.mark.parametrize(
    ("dps", "layout"),
    [
        (SEED_DPS, "legacy"),
        (CZ_DPS, "cz"),
        (SWITCH20_DPS, "switch20"),
        ({"1": True, "19": 0}, "cz"),
        ({"1": True, "5": 0}, "legacy"),
        ({"19": 10, "5": 3}, "cz"),  # tuyapower order: 19 before 5
        ({"21": 1, "22": 2}, None),  # switch20 needs 21, 22 and 23
        ({"1": True}, None),
        ({}, None),
        # A 5-outlet strip: DP 5 is a boolean switch_5, not legacy power.
        ({"1": True, "2": True, "3": True, "4": True, "5": False}, None),
        ({"19": True}, None),
        ({"19": None}, None),
    ],
)
def test_detect_layout(dps: dict[str, Any], layout: str | None) -> None:
    assert detect_layout(dps) == layout


def test_int_dp_ids_accepted() -> None:
    r = read({1: True, 4: 69, 5: 12, 6: 1181})
    assert r.power_w == 1.2
    assert r.switches == {"1": True}
    assert set(r.dps) == {"1", "4", "5", "6"}


# --------------------------------------------------------------------------- mapping


def test_mapping_takes_precedence_over_detection() -> None:
    # The dps look like cz (DP 19 present), but the user says power is on 22.
    dps = {"1": True, "19": 7, "20": 3, "21": 100, "22": 230, "23": 2200}
    detected = read(dps)
    # guessed as cz, DP 20 = 0.3 V is no mains voltage: physics refuses to show numbers
    assert detected.source == "guess cz"
    assert detected.power_w is None and detected.voltage_v is None
    overridden = read(dps, mapping=LAYOUTS["switch20"])
    assert overridden.power_w == 23.0
    assert overridden.voltage_v == 220.0
    assert overridden.current_a == 0.1
    assert overridden.energy_increment_wh == 3.0


def test_mapping_is_authoritative_for_unmapped_roles() -> None:
    only_power = DpMapping(power=DpField("19", 1, "W"))
    r = read(CZ_DPS, mapping=only_power)
    assert r.power_w == 89.0
    assert r.voltage_v is None and r.current_a is None and r.energy_increment_wh is None


def test_mapping_explicit_switches() -> None:
    m = DpMapping(switches=("3", "1"))
    r = read({"1": True, "2": 0, "3": False}, mapping=m)
    assert list(r.switches.items()) == [("3", False), ("1", True)]
    assert r.switch is False  # the mapping's first outlet


TINYTUYA_MAPPING: dict[str, Any] = {
    "1": {"code": "switch_1", "type": "Boolean", "values": {}},
    "9": {"code": "countdown_1", "type": "Integer", "values": {"unit": "s", "scale": 0}},
    "20": {
        "code": "add_ele",
        "type": "Integer",
        "values": {"min": 0, "max": 50000, "scale": 3, "step": 100, "unit": "kwh"},
    },
    "21": {"code": "cur_current", "type": "Integer", "values": {"unit": "mA", "scale": 0}},
    "22": {"code": "cur_power", "type": "Integer", "values": {"unit": "W", "scale": 1}},
    "23": {"code": "cur_voltage", "type": "Integer", "values": '{"unit": "V", "scale": 1}'},
    "41": {"code": "child_lock", "type": "Boolean", "values": {}},
}


def test_mapping_from_tinytuya() -> None:
    m = mapping_from_tinytuya(TINYTUYA_MAPPING)
    assert m.energy_increment == DpField("20", 3, "kwh")
    assert m.current == DpField("21", 0, "mA")
    assert m.power == DpField("22", 1, "W")
    assert m.voltage == DpField("23", 1, "V")  # values given as a JSON string
    assert m.switches == ("1",)
    assert m.has_measurements
    r = read(SWITCH20_DPS, mapping=m)
    assert (r.power_w, r.current_a, r.voltage_v, r.energy_increment_wh) == (57.5, 0.25, 230.0, 12.0)


def test_mapping_from_tinytuya_strip_and_defaults() -> None:
    raw = {
        "1": {"code": "switch_1"},
        "2": {"code": "switch_2"},
        "7": {"code": "switch_usb1"},
        "8": {"code": "switch_led"},  # indicator light, not an outlet
        "19": {"code": "cur_power", "values": {"scale": "1"}},  # bad scale → default 1
        "18": {"code": "cur_current", "values": {"scale": 3, "unit": "A"}},
        "20": {"code": "cur_voltage", "values": {"scale": 99, "unit": "furlongs"}},
        "99": "not a dict",
        "100": {"values": {}},
    }
    m = mapping_from_tinytuya(raw)
    assert m.switches == ("1", "2", "7")
    assert m.power == DpField("19", 1, "W")
    assert m.current == DpField("18", 3, "A")
    assert m.voltage == DpField("20", 1, "V")
    r = read({"1": True, "2": False, "7": True, "18": 412, "19": 890, "20": 2301}, mapping=m)
    assert r.current_a == 0.412  # 412 / 10**3 A
    assert r.switches == {"1": True, "2": False, "7": True}


def test_mapping_from_tinytuya_without_power_codes() -> None:
    m = mapping_from_tinytuya({"1": {"code": "switch_1", "values": {}}})
    assert not m.has_measurements
    r = read(SEED_DPS, mapping=m)
    assert not r.has_power_data


def test_mapping_from_tinytuya_duplicate_role_lowest_dp_wins() -> None:
    m = mapping_from_tinytuya(
        {"104": {"code": "cur_power", "values": {"scale": 2}}, "19": {"code": "cur_power"}}
    )
    assert m.power == DpField("19", 1, "W")


# --------------------------------------------------------------------------- scales


@pytest.mark.parametrize(
    ("raw", "field", "role", "expected"),
    [
        (1181, DpField("6", 1, "V"), "voltage", 118.1),
        (12, DpField("5", 1, "W"), "power", 1.2),
        (1234, DpField("19", 2, "W"), "power", 12.34),
        (69, DpField("4", 0, "mA"), "current", 0.069),
        (69, DpField("4", 0, ""), "current", 0.069),  # unknown unit → role default
        (1500, DpField("18", 3, "A"), "current", 1.5),
        (5, DpField("17", 3, "kWh"), "energy_increment", 5.0),
        (5, DpField("17", 0, "Wh"), "energy_increment", 5.0),
        (2, DpField("19", 0, "kW"), "power", 2000.0),
        (0, DpField("19", 1, "W"), "power", 0.0),
        (12.5, DpField("19", 1, "W"), "power", 1.25),
    ],
)
def test_scaled_value(raw: object, field: DpField, role: Any, expected: float) -> None:
    assert scaled_value(raw, field, role) == expected


@settings(max_examples=300)
@given(
    st.sampled_from(sorted(_ROLE_UNITS)).flatmap(
        lambda role: st.tuples(st.just(role), st.sampled_from([*_ROLE_UNITS[role], "?"]))
    ),
    st.integers(0, 40),
    st.integers(-(2**53) + 1, 2**53 - 1),
)
def test_plain_integers_scale_as_field_value(role_unit: tuple[Any, str], scale: int, raw: int) -> None:
    """interpret's own step for a plain integer (``raw / divisor``, made once per plan) gives
    field_value's number, or leaves the field to field_value (divisor 0)."""
    role, unit = role_unit
    field = DpField("19", scale, unit)
    divisor = interpret_module._divisor(field, role)
    if divisor:
        assert raw / divisor == field_value(raw, field, role)[0]


@pytest.mark.parametrize(
    "raw", ["12", "", None, True, False, [1], {"v": 1}, math.nan, math.inf, -math.inf, 10**400]
)
def test_scaled_value_garbage_is_none(raw: object) -> None:
    assert scaled_value(raw, DpField("19", 1, "W"), "power") is None


# --------------------------------------------------------------------------- strips


def test_strip_switches() -> None:
    dps = {"1": True, "2": False, "3": True, "4": False, "7": True, "9": 0, "10": 0}
    r = read(dps)
    assert r.switches == {"1": True, "2": False, "3": True, "4": False, "7": True}
    assert r.switch is True
    assert not r.has_power_data


def test_strip_with_power() -> None:
    dps = {"1": False, "2": True, "3": True, "17": 0, "18": 100, "19": 200, "20": 2300}
    r = read(dps)
    assert r.switches == {"1": False, "2": True, "3": True}
    assert r.switch is False
    assert r.power_w == 20.0


def test_legacy_countdown_on_dp2_is_not_a_switch() -> None:
    dps = {"1": True, "2": 0, "4": 0, "5": 0, "6": 2300, "7": 1, "10": 5}
    assert detect_switches(dps) == ("1",)
    assert read(dps).switches == {"1": True}


def test_single_plug_ignores_other_booleans() -> None:
    # cz child_lock (41) and overcharge switch (39) are booleans but not outlets.
    dps = {**CZ_DPS, "39": True}
    assert read(dps).switches == {"1": True}


def test_no_switch_dp() -> None:
    r = read({"19": 84})  # a push with only the changed DP
    assert r.switch is None and r.switches == {}
    # on its own (no voltage, no current) the guessed scale of DP 19 cannot be checked
    assert r.power_w is None
    assert any("DP 19" in note for note in r.notes)


# --------------------------------------------------------------------------- missing data


def test_missing_power_dps_stay_none() -> None:
    r = read({"1": True, "9": 0})
    assert r.power_w is None and r.current_a is None and r.voltage_v is None
    assert r.apparent_power_va is None and r.power_factor is None
    assert not r.has_power_data


def test_partial_power_dps() -> None:
    r = read({"1": True, "19": 0})  # zero load: plug omitted 18/20
    assert r.power_w == 0.0
    assert r.current_a is None and r.voltage_v is None
    assert r.power_factor is None
    assert r.has_power_data


def test_garbage_values_become_none() -> None:
    r = read({"1": "on", "18": "412", "19": None, "20": [2301], "17": {"x": 1}})
    assert detect_layout({"1": "on", "18": "412", "19": None}) is None
    r = read({"1": "on", "18": "412", "19": 5.0, "20": "2301", "17": True})
    assert r.current_a is None and r.voltage_v is None and r.energy_increment_wh is None
    assert r.power_w is None  # no voltage or current left to check its scale against
    assert any("DP 18" in note for note in r.notes) and any("DP 20" in note for note in r.notes)
    assert r.switch is None and r.switches == {}


def test_non_mapping_input_is_empty() -> None:
    r = read(["not", "a", "dict"])
    assert r.dps == {} and not r.has_power_data


# --------------------------------------------------------------------------- derived


def test_power_factor_and_apparent_power() -> None:
    r = read(SEED_DPS)
    assert r.apparent_power_va == pytest.approx(118.1 * 0.069, abs=1e-4)
    assert r.power_factor == pytest.approx(1.2 / (118.1 * 0.069), abs=1e-3)


def test_power_factor_clamped_to_one() -> None:
    # Power above V·A (a mapping's wrong scale or rounding): PF clamps at 1, a note says so.
    r = read({"1": True, "18": 100, "19": 300, "20": 2300}, mapping=LAYOUTS["cz"])
    assert r.apparent_power_va == 23.0
    assert r.power_factor == 1.0
    assert any(note.startswith("physics:") for note in r.notes)
    # the same numbers guessed: power and current cannot both be right, so neither is shown
    guessed = read({"1": True, "18": 100, "19": 300, "20": 2300})
    assert guessed.power_w is None and guessed.current_a is None and guessed.voltage_v is None


def test_power_factor_none_at_zero_current() -> None:
    r = read({"1": False, "18": 0, "19": 0, "20": 2300})
    assert r.apparent_power_va == 0.0
    assert r.power_factor is None


def test_power_factor_none_without_power() -> None:
    no_power = DpMapping(current=DpField("18", 0, "mA"), voltage=DpField("20", 1, "V"))
    r = read({"1": True, "18": 100, "19": 50, "20": 2300}, mapping=no_power)
    assert r.apparent_power_va == 23.0
    assert r.power_factor is None


def test_negative_power_is_rejected() -> None:
    r = read({"1": True, "18": 100, "19": -50, "20": 2300}, mapping=LAYOUTS["cz"])
    assert r.power_w is None and r.power_factor is None
    assert any("DP 19" in note and "impossible" in note for note in r.notes)


# --------------------------------------------------------------------------- merge


def test_merge_dps() -> None:
    old = {"1": True, "18": 412, "19": 890, "20": 2301}
    new = {19: 84}
    merged = merge_dps(old, new)
    assert merged == {"1": True, "18": 412, "19": 84, "20": 2301}
    assert old == {"1": True, "18": 412, "19": 890, "20": 2301}  # not mutated
    assert new == {19: 84}
    assert merge_dps({}, {}) == {}


def test_merged_view_keeps_layout_after_partial_push() -> None:
    full = read(CZ_DPS)
    pushed = read(merge_dps(CZ_DPS, {"19": 850}))
    assert full.power_w == 89.0 and pushed.power_w == 85.0
    assert pushed.voltage_v == full.voltage_v


# --------------------------------------------------------------------------- fuzz

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**500), max_value=10**500)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)
dp_ids = st.integers(min_value=0, max_value=30).map(str) | st.text(max_size=3) | st.integers()
dps_dicts = st.dictionaries(dp_ids, json_values, max_size=20)


def _check_reading(r: Reading) -> None:
    for value in (r.power_w, r.current_a, r.voltage_v, r.apparent_power_va, r.energy_increment_wh):
        assert value is None or (isinstance(value, float) and math.isfinite(value))
    assert r.power_factor is None or 0.0 <= r.power_factor <= 1.0
    assert all(isinstance(k, str) and isinstance(v, bool) for k, v in r.switches.items())
    assert r.switch is None or isinstance(r.switch, bool)


@pytest.mark.slow
@settings(max_examples=300)
@given(dps_dicts)
def test_any_dps_never_raises(dps: dict[Any, Any]) -> None:
    _check_reading(read(dps))
    detect_layout(dps)
    merge_dps(dps, dps)


# Bias towards the power DPs so the numeric paths are exercised too.
power_dps = st.dictionaries(
    st.sampled_from(["1", "2", "4", "5", "6", "17", "18", "19", "20", "21", "22", "23"]),
    json_values,
    max_size=12,
)


@pytest.mark.slow
@settings(max_examples=300)
@given(power_dps, st.sampled_from([None, *LAYOUTS.values()]))
def test_power_dps_never_raise(dps: dict[str, Any], mapping: DpMapping | None) -> None:
    _check_reading(read(dps, mapping=mapping))


def _shifted(dps: dict[str, Any], by: int) -> dict[str, Any]:
    """The same shape (keys and value types), other numbers: a plug's next reading."""
    return {k: v + by if type(v) is int else v for k, v in dps.items()}


@settings(max_examples=300)
@given(power_dps, st.integers(-5000, 5000), st.sampled_from([None, *LAYOUTS.values()]))
def test_a_reading_reads_the_same_after_another_of_its_shape(
    dps: dict[str, Any], by: int, mapping: DpMapping | None
) -> None:
    """The layout decision is made once per shape of dps and reused (interpret._plan): the
    numbers of an earlier reading must not leak into a later one's interpretation."""
    interpret_module._PLANS.clear()
    fresh = read(dps, mapping=mapping)
    interpret_module._PLANS.clear()
    read(_shifted(dps, by), mapping=mapping)  # decides for this shape first
    assert repr(read(dps, mapping=mapping)) == repr(fresh)  # (repr: NaN in dps equals itself)


def test_a_plug_that_changes_shape_is_guessed_again() -> None:
    assert read(CZ_DPS).source == "guess cz"
    legacy = {"1": True, "4": 69, "5": 120, "6": 2301}
    assert read(legacy).source == "guess legacy"
    assert read({"1": True, "2": False, "3": True}).switches == {"1": True, "2": False, "3": True}
    assert read(CZ_DPS).source == "guess cz"


@pytest.mark.slow
@settings(max_examples=200)
@given(st.dictionaries(dp_ids, json_values | st.fixed_dictionaries({"code": json_values})))
def test_any_tinytuya_mapping_never_raises(raw: dict[Any, Any]) -> None:
    m = mapping_from_tinytuya(raw)
    _check_reading(read({"1": True, "19": 5, "20": 2300}, mapping=m))


def test_cloud_mapping_of_a_meter_reads_phase_blob_and_total() -> None:
    mapping = mapping_from_tinytuya({
        "1": {"code": "total_forward_energy", "type": "Integer",
              "values": {"unit": "kW·h", "scale": 2}},
        "6": {"code": "phase_a", "type": "Raw", "values": {}},
        "16": {"code": "switch", "type": "Boolean", "values": {}},
    })
    # V 230.1 (2301), I 0.41 A (410), P 0.089 kW (89) packed big-endian in 2+3+3 bytes
    blob = (2301 << 48 | 410 << 24 | 89).to_bytes(8, "big")
    import base64

    r = read({"1": 1234, "6": base64.b64encode(blob).decode(), "16": True}, mapping=mapping)
    assert (r.voltage_v, r.current_a, r.power_w) == (230.1, 0.41, 89.0)
    assert r.energy_total_wh == 12340.0 and r.energy_increment_wh is None
    assert r.switches == {"16": True} and r.source == "mapping tinytuya"


def test_config_mapping_can_name_a_meter_total() -> None:
    from powermonitor.config import parse_mapping

    mapping = parse_mapping({"power": "19:1", "energy_total": "1:2"})
    assert mapping.energy_total == DpField("1", 2, "kWh")
    assert read({"19": 890, "1": 1234}, mapping=mapping).energy_total_wh == 12340.0


def test_new_reading_is_the_dataclass_constructor() -> None:
    """interpret() builds Readings with models.new_reading (slot setters, positional): the same
    object as Reading(**fields), for every field, and a wrong count is an error."""
    names = [f.name for f in dataclasses.fields(Reading)]
    values = [f"value of {name}" for name in names]
    made = new_reading(*values)
    assert type(made) is Reading and made == Reading(**dict(zip(names, values, strict=True)))
    assert [getattr(made, name) for name in names] == values
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.power_w = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        new_reading(*values[:-1])
