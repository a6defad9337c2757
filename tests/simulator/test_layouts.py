"""From a plug's electrical state to raw Tuya dps: mains/metering physics and the DP layout table."""

from __future__ import annotations

import json
import math
from typing import TypedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from powermonitor.simulator.electrical import (
    COMMON_NOMINAL_V,
    Electrical,
    Mains,
    current_a,
    measure,
)
from powermonitor.simulator.layouts import (
    ADD_ELE_WINDOW_S,
    LAYOUTS,
    AddEleWindow,
    encode_dps,
    get_layout,
    switch_dps,
)
from powermonitor.simulator.profiles import make_profile


class State(TypedDict):
    power_w: float
    voltage_v: float
    current_a: float


STATE: State = {"power_w": 1210.0, "voltage_v": 230.4, "current_a": 5.25}

# ----------------------------------------------------------------------------- layouts


def test_layout_names() -> None:
    assert list(LAYOUTS) == ["legacy", "cz", "switch20", "strip4", "nopower"]
    for name, layout in LAYOUTS.items():
        assert layout.name == name and layout.summary


@pytest.mark.parametrize(
    ("layout", "switches"),
    [
        ("legacy", ["1"]),
        ("cz", ["1"]),
        ("switch20", ["1"]),
        ("strip4", ["1", "2", "3", "4", "7"]),
        ("nopower", ["1"]),
    ],
)
def test_switch_dps(layout: str, switches: list[str]) -> None:
    assert switch_dps(layout) == switches


def test_unknown_layout() -> None:
    for call in (
        lambda: switch_dps("tuya99"),
        lambda: get_layout("tuya99"),
        lambda: encode_dps("tuya99", switches={1: True}, **STATE),
    ):
        with pytest.raises(ValueError, match="unknown DP layout 'tuya99'.*legacy, cz"):
            call()


def test_encode_legacy() -> None:
    dps = encode_dps("legacy", switches={1: True}, add_ele_wh=7, **STATE)
    assert dps == {"1": True, "2": 0, "4": 5250, "5": 12100, "6": 2304}


def test_encode_cz() -> None:
    dps = encode_dps("cz", switches={1: True}, add_ele_wh=12, **STATE)
    assert dps == {
        "1": True,
        "9": 0,
        "17": 12,
        "18": 5250,
        "19": 12100,
        "20": 2304,
        "21": 1,
        "22": 640,
        "23": 30000,
        "24": 17000,
        "25": 2000,
        "26": 0,
    }


def test_encode_switch20() -> None:
    dps = encode_dps("switch20", switches={1: True}, add_ele_wh=3, **STATE)
    assert dps == {"1": True, "20": 3, "21": 5250, "22": 12100, "23": 2304}


def test_encode_strip4() -> None:
    dps = encode_dps("strip4", switches={1: True, 3: True, 7: True}, add_ele_wh=1, **STATE)
    assert dps == {
        "1": True,
        "2": False,
        "3": True,
        "4": False,
        "7": True,
        "17": 1,
        "18": 5250,
        "19": 12100,
        "20": 2304,
    }


def test_encode_nopower_ignores_metering() -> None:
    assert encode_dps("nopower", switches={1: True}, add_ele_wh=9, **STATE) == {"1": True, "9": 0}
    assert encode_dps("nopower", switches={1: False}, **STATE) == {"1": False, "9": 0}


@pytest.mark.parametrize("layout", ["legacy", "cz", "switch20", "strip4"])
def test_switch_off_reports_zero_power_and_current_but_voltage(layout: str) -> None:
    dps = encode_dps(layout, switches={}, **STATE)
    metering = LAYOUTS[layout].metering
    assert metering is not None
    assert dps[metering.power_dw] == 0
    assert dps[metering.current_ma] == 0
    assert dps[metering.voltage_dv] == 2304
    assert all(dps[dp] is False for dp in switch_dps(layout))


def test_strip_usb_alone_still_meters() -> None:
    dps = encode_dps("strip4", switches={7: True}, power_w=2.5, voltage_v=230.0, current_a=0.02)
    assert dps["19"] == 25 and dps["18"] == 20


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_keys_in_numeric_order_and_json_types(layout: str) -> None:
    dps = encode_dps(layout, switches={1: True}, add_ele_wh=2, **STATE)
    assert list(dps) == sorted(dps, key=int)
    for dp, value in dps.items():
        if dp in switch_dps(layout):
            assert type(value) is bool
        else:
            assert type(value) is int
    assert json.loads(json.dumps(dps)) == dps


def test_rounding_is_half_up() -> None:
    dps = encode_dps("cz", switches={1: True}, power_w=12.25, voltage_v=229.95, current_a=0.0535)
    assert dps["19"] == 123  # 122.5 rounds up, not to even
    assert dps["20"] == 2300
    assert dps["18"] == 54


def test_string_switch_keys_are_accepted() -> None:
    switches: dict[str, bool] = {"2": True}
    dps = encode_dps("strip4", switches=switches, **STATE)  # type: ignore[arg-type]
    assert dps["2"] is True and dps["1"] is False


@pytest.mark.parametrize(
    ("layout", "switches", "power_w", "voltage_v", "current_a", "add_ele_wh", "message"),
    [
        ("legacy", {2: True}, 1.0, 230.0, 0.1, 0, "no switch DP"),
        ("cz", {1: True, 9: True}, 1.0, 230.0, 0.1, 0, r"no switch DP \['9'\]"),
        ("cz", {1: True}, -1.0, 230.0, 0.1, 0, "power_w"),
        ("cz", {1: True}, 1.0, math.nan, 0.1, 0, "voltage_v"),
        ("legacy", {1: True}, 1.0, 230.0, math.inf, 0, "current_a"),
        ("cz", {1: True}, 1.0, 230.0, 0.1, -1, "add_ele_wh"),
        ("switch20", {1: True}, 1.0, 230.0, 0.1, 1.5, "add_ele_wh"),
    ],
)
def test_bad_encode_inputs(
    layout: str,
    switches: dict[int, bool],
    power_w: float,
    voltage_v: float,
    current_a: float,
    add_ele_wh: int,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        encode_dps(
            layout,
            switches=switches,
            power_w=power_w,
            voltage_v=voltage_v,
            current_a=current_a,
            add_ele_wh=add_ele_wh,
        )


# ----------------------------------------------------------------------------- add_ele window


def test_add_ele_publishes_each_window_total() -> None:
    w = AddEleWindow()
    w = w.advance(0.0, 1000.0)
    w = w.advance(900.0, 1000.0)
    assert w.reported_wh == 0 and w.pending_wh == pytest.approx(250.0)
    w = w.advance(1800.0, 200.0)
    assert w.reported_wh == 500 and w.pending_wh == pytest.approx(0.0)
    assert w.start_s == ADD_ELE_WINDOW_S
    w = w.advance(2700.0, 200.0)
    assert w.reported_wh == 500  # stays until the next boundary
    w = w.advance(3700.0, 0.0)
    assert w.reported_wh == 100  # 200 W for the second window
    assert w.pending_wh == pytest.approx(200.0 * 100 / 3600)  # 200 W held into the third


def test_add_ele_remainder_carries() -> None:
    w = AddEleWindow.opened_at(100.0, window_s=60.0).advance(100.0, 33.0)
    published = []
    for i in range(1, 11):
        w = w.advance(100.0 + 60.0 * i, 33.0)
        published.append(w.reported_wh)
    assert sum(published) + w.pending_wh == pytest.approx(33.0 * 600 / 3600)
    assert set(published) == {0, 1}


def test_add_ele_long_gap_shows_the_last_window() -> None:
    w = AddEleWindow().advance(0.0, 600.0).advance(10 * ADD_ELE_WINDOW_S + 60.0, 0.0)
    assert w.reported_wh == 300
    assert w.start_s == 10 * ADD_ELE_WINDOW_S
    assert w.pending_wh == pytest.approx(10.0)  # 600 W held for the first minute of the window


def test_add_ele_refuses_time_going_backwards() -> None:
    with pytest.raises(ValueError, match="backwards"):
        AddEleWindow().advance(10.0, 1.0).advance(5.0, 1.0)
    with pytest.raises(ValueError, match="window"):
        AddEleWindow(window_s=0.0)


# ----------------------------------------------------------------------------- electrical


def test_current_from_power_voltage_and_pf() -> None:
    assert current_a(230.0, 230.0, 1.0) == 1.0
    assert current_a(115.0, 230.0, 0.5) == 1.0
    assert current_a(0.0, 120.0, 0.9) == 0.0
    for bad in ((-1.0, 230.0, 1.0), (1.0, 0.0, 1.0), (1.0, 230.0, 0.0), (1.0, 230.0, 1.2)):
        with pytest.raises(ValueError):
            current_a(*bad)


def test_measure_on_and_off() -> None:
    on = measure(on=True, power_w=1000.0, power_factor=0.8, voltage_v=250.0)
    assert on == Electrical(power_w=1000.0, voltage_v=250.0, current_a=5.0, power_factor=0.8)
    assert on.apparent_power_va == 1250.0
    off = measure(on=False, power_w=1000.0, power_factor=0.8, voltage_v=250.0)
    assert (off.power_w, off.current_a, off.voltage_v) == (0.0, 0.0, 250.0)


@pytest.mark.slow
@pytest.mark.parametrize("nominal", COMMON_NOMINAL_V)
def test_mains_jitter_is_bounded_deterministic_and_moving(nominal: float) -> None:
    a = Mains(nominal, seed=3)
    volts = [a.voltage_v(t * 3.7) for t in range(20000)]
    assert all(nominal * 0.985 <= v <= nominal * 1.015 for v in volts)
    assert max(volts) - min(volts) > nominal * 0.005
    assert volts == [Mains(nominal, seed=3).voltage_v(t * 3.7) for t in range(20000)]
    assert volts != [Mains(nominal, seed=4).voltage_v(t * 3.7) for t in range(20000)]
    # Consecutive one-second polls move by a fraction of a volt, not jumps.
    assert max(abs(a.voltage_v(t + 1.0) - a.voltage_v(t)) for t in range(0, 5000, 13)) < 1.0


def test_mains_without_jitter_is_exact() -> None:
    m = Mains(120.0, jitter=0.0)
    assert {m.voltage_v(t) for t in (0.0, 1.0, 1e9)} == {120.0}
    r = m.measure(5.0, on=True, power_w=600.0, power_factor=1.0)
    assert r == Electrical(600.0, 120.0, 5.0, 1.0)
    off = m.measure(5.0, on=False, power_w=600.0, power_factor=1.0)
    assert (off.power_w, off.current_a, off.voltage_v) == (0.0, 0.0, 120.0)


@pytest.mark.parametrize(
    ("nominal", "jitter"), [(0.0, 0.01), (math.nan, 0.01), (230.0, -0.1), (230.0, 0.5)]
)
def test_mains_rejects_nonsense(nominal: float, jitter: float) -> None:
    with pytest.raises(ValueError):
        Mains(nominal, jitter=jitter)


@settings(max_examples=200, deadline=None)
@given(
    spec=st.sampled_from(["fridge", "washer", "kettle", "tv", "pc", "lamp", "random"]),
    seed=st.integers(min_value=0, max_value=1000),
    t=st.floats(min_value=0.0, max_value=1e8),
    layout=st.sampled_from(["legacy", "cz", "switch20", "strip4"]),
    on=st.booleans(),
)
def test_profile_to_dps_pipeline(spec: str, seed: int, t: float, layout: str, on: bool) -> None:
    profile = make_profile(spec, seed)
    reading = Mains(230.0, seed=seed).measure(
        t, on=on, power_w=profile.power_w(t), power_factor=profile.power_factor(t)
    )
    dps = encode_dps(
        layout,
        switches={1: on},
        power_w=reading.power_w,
        voltage_v=reading.voltage_v,
        current_a=reading.current_a,
    )
    metering = LAYOUTS[layout].metering
    assert metering is not None
    volts = dps[metering.voltage_dv] / 10
    watts = dps[metering.power_dw] / 10
    amps = dps[metering.current_ma] / 1000
    assert 226.0 <= volts <= 234.0
    if not on:
        assert watts == 0 and amps == 0
    else:
        assert watts == pytest.approx(profile.power_w(t), abs=0.05)
        # W <= V x A: the power factor shows as extra current (within rounding).
        assert watts <= volts * amps * 1.001 + 0.2


def test_kettle_on_a_cz_plug() -> None:
    reading = Mains(230.0, jitter=0.0).measure(0.0, on=True, power_w=2200.0, power_factor=1.0)
    dps = encode_dps(
        "cz",
        switches={1: True},
        power_w=reading.power_w,
        voltage_v=reading.voltage_v,
        current_a=reading.current_a,
    )
    assert (dps["19"], dps["20"], dps["18"]) == (22000, 2300, 9565)
