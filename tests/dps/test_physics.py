"""Physics before numbers: absurd and non-finite values are rejected; guesses never mislead."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from powermonitor.dps import LAYOUTS, interpret, physics
from powermonitor.dps.physics import MAINS_V, counter_step_note
from powermonitor.energy import EnergyIntegrator
from powermonitor.models import DeviceInfo, Reading
from powermonitor.report import poll_json, poll_text

from .families import encode, families, family_id

TS = datetime(2026, 1, 1, tzinfo=UTC)
CZ = {"1": True, "17": 0, "18": 412, "19": 890, "20": 2301}


def read(dps: dict[str, Any], at: datetime = TS, **kwargs: Any) -> Reading:
    return interpret(dps, device_id="dev", timestamp=at, **kwargs)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("dp", ["18", "19", "20"])
def test_non_finite_raw_values_are_rejected_with_a_note(dp: str, bad: float) -> None:
    for mapping in (None, LAYOUTS["cz"]):
        reading = read({**CZ, dp: bad}, mapping=mapping)
        values = (reading.current_a, reading.power_w, reading.voltage_v)
        assert all(v is None or math.isfinite(v) for v in values)
        assert {"18": reading.current_a, "19": reading.power_w, "20": reading.voltage_v}[dp] is None
        assert any(f"DP {dp}" in note for note in reading.notes)
        # the report stays strict JSON and still shows what the plug sent
        out = json.loads(json.dumps(poll_json(reading, DeviceInfo("dev", "h")), allow_nan=False))
        assert out["dps"][dp] == repr(bad)
        assert out["notes"] == list(reading.notes)
        assert f"DP {dp}" in poll_text(reading, None)


def test_non_finite_nested_raw_values_keep_json_valid() -> None:
    reading = read({**CZ, "38": [math.nan, {"x": math.inf}], "39": -math.inf})
    out = poll_json(reading)
    assert json.loads(json.dumps(out, allow_nan=False))["dps"]["38"] == ["nan", {"x": "inf"}]
    assert reading.power_w == 89.0  # the measurements are untouched


@pytest.mark.parametrize(("raw", "what"), [(10**301, "1e+300"), (-50000, "-5000")])
def test_absurd_power_is_rejected_for_every_source(raw: int, what: str) -> None:
    for mapping in (None, LAYOUTS["cz"]):
        reading = read({**CZ, "19": raw}, mapping=mapping)
        assert reading.power_w is None and reading.power_factor is None
        assert any("DP 19" in note for note in reading.notes)
    trusted = read({**CZ, "19": raw}, mapping=LAYOUTS["cz"])
    assert any(what in note and "impossible" in note for note in trusted.notes)


def test_absurd_power_is_never_integrated() -> None:
    integ = EnergyIntegrator("dev", max_gap_s=600)
    t0 = TS
    readings = [read(CZ, t0), read({**CZ, "19": 10**301}, t0 + timedelta(seconds=60)),
                read({**CZ, "19": -50000}, t0 + timedelta(seconds=120)),
                read(CZ, t0 + timedelta(seconds=180))]
    for r in readings:
        integ.add(r.timestamp.timestamp(), r.power_w, r.switch)
    assert integ.total_wh == pytest.approx(89.0 * 180 / 3600)


def test_counter_steps() -> None:
    assert counter_step_note(1000, 0, 1001, 60) == ""
    assert "backwards" in counter_step_note(1000, 0, 900, 60)
    assert "jumped" in counter_step_note(1000, 0, 1e9, 60)


# --------------------------------------------------------------------------- guesses, at random

GUESSABLE = [row for row in families()
             if {"power", "current", "voltage"} <= set(row)
             and all(row[q]["type"] == "integer" for q in ("power", "current", "voltage"))]


@settings(max_examples=400, deadline=None)
@given(
    row=st.sampled_from(GUESSABLE),
    decivolts=st.integers(int(MAINS_V[0] * 10), int(MAINS_V[1] * 10)),
    centiamps=st.integers(0, 1600),
    pf=st.floats(0.11, 1.0),
)
def test_physical_loads_on_any_family_read_right_or_null(
    row: dict[str, Any], decivolts: int, centiamps: int, pf: float
) -> None:
    voltage, current = decivolts / 10, centiamps / 100
    power = float(round(pf * voltage * current))
    assume(current == 0 or 0.11 <= power / (voltage * current) <= 1.0)
    assume(power > 0 or current == 0)
    truth = {"power": power, "current": current, "voltage": voltage, "energy": 0.0}
    reading = read(encode(row, truth))
    shown = {"power": reading.power_w, "current": reading.current_a, "voltage": reading.voltage_v}
    for quantity, value in shown.items():
        assert value is None or value == truth[quantity], (family_id(row), quantity, value)


def test_small_loads_settle_within_the_readings_resolution() -> None:
    standby = read({"1": True, "18": 6, "19": 5, "20": 2301})  # 0.5 W at 6 mA, PF 0.36
    assert (standby.power_w, standby.current_a, standby.voltage_v) == (0.5, 0.006, 230.1)
    # 0.2 W with no measurable current: W×10 or W×100 both fit, so it stays unknown
    assert read({"1": True, "18": 0, "19": 2, "20": 2301}).power_w is None


def test_simulated_appliances_read_through_the_guess() -> None:
    """The simulator's loads on every metered layout are shown; the only exception is the
    switch20 layout while its power is in mains range (90-265 W at about 1 A), where a known
    breaker with voltage and power swapped fits the same numbers: then a note says so."""
    from powermonitor.simulator.layouts import LAYOUTS as SIM_LAYOUTS
    from powermonitor.simulator.plug import PlugSpec, SimulatedPlug

    for layout, spec in SIM_LAYOUTS.items():
        if spec.metering is None:
            continue
        for profile in ("fridge", "tv", "pc", "kettle", "washer", "lamp", "random"):
            plug = SimulatedPlug(PlugSpec("bf01", "0123456789abcdef", layout=layout,
                                          profile=profile), clock=lambda: 0.0)
            shown = total = 0
            for t in range(0, 6 * 3600, 97):
                reading = read(plug._measure(float(t)))
                total += 1
                if reading.power_w is not None:
                    shown += 1
                    assert reading.voltage_v is not None and reading.current_a is not None
                else:
                    assert layout == "switch20" and "asc_wifi_circuit_breaker" in reading.notes[-1]
            assert shown >= 0.9 * total, (layout, profile, shown, total)


def test_a_one_watt_standby_load_keeps_the_layouts_scale() -> None:
    """1 W at 4 mA fits W and W/10 within the readings' resolution: the layout's scale stands."""
    standby = read({"1": True, "18": 4, "19": 10, "20": 2300})
    assert (standby.power_w, standby.current_a, standby.voltage_v) == (1.0, 0.004, 230.0)


_role_value = st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, 0.5, 20.0, 20.0001, 89.99, 90.0, 230.1, 265.0, 265.01, 2301.0, 3000.0, 3000.5]
) | st.floats(min_value=0, max_value=300)


@settings(max_examples=500)
@given(st.fixed_dictionaries({}, optional={
    "current": _role_value, "power": _role_value, "voltage": _role_value,
    "energy_increment": _role_value, "energy_total": _role_value,
}), st.sampled_from(sorted(LAYOUTS)))
def test_check_guess_is_the_three_checks_in_order(values: dict[Any, Any], layout: str) -> None:
    """check_guess's one-pass recognition of the usual reading changes nothing it decides:
    the same values and notes as bounds (voltage skipped), settle_guess, bounds."""
    mapping = LAYOUTS[layout]
    fast, slow = dict(values), dict(values)
    fast_notes = physics.check_guess(fast, mapping)
    slow_notes = physics.reject_absurd(slow, mapping, skip=("voltage",))
    slow_notes += physics.settle_guess(slow, mapping)
    slow_notes += physics.reject_absurd(slow, mapping)
    assert fast_notes == slow_notes
    assert repr(fast) == repr(slow)  # (repr: a NaN that stayed equals itself)
