"""Energy integration against analytic truths: exact shapes, gaps, switch state, resumption."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from powermonitor.energy import EnergyIntegrator, Increment, Method, max_gap_for
from powermonitor.simulator.profiles import Constant, LoadProfile, Ramp, Square
from powermonitor.storage.base import Counter

T0 = 1_780_000_000.0  # a realistic Unix time: float resolution at this size matters


# ----------------------------------------------------------------------------------------
# Exact integrals of the simulator's exact shapes, in watt-seconds over [0, t]


def _square_ws(p: Square, t: float) -> float:
    periods, x = divmod(t, p.period_s)
    on_s = p.duty * p.period_s
    per_period = p.on_w * on_s + p.off_w * (p.period_s - on_s)
    return periods * per_period + p.on_w * min(x, on_s) + p.off_w * max(0.0, x - on_s)


def _ramp_ws(p: Ramp, t: float) -> float:
    periods, x = divmod(t, p.period_s)
    slope = (p.end_w - p.start_w) / p.period_s
    return periods * (p.start_w + p.end_w) / 2.0 * p.period_s + p.start_w * x + slope * x * x / 2


def _exact_wh(profile: LoadProfile, a: float, b: float) -> float:
    if isinstance(profile, Square):
        return (_square_ws(profile, b) - _square_ws(profile, a)) / 3600.0
    if isinstance(profile, Ramp):
        return (_ramp_ws(profile, b) - _ramp_ws(profile, a)) / 3600.0
    assert isinstance(profile, Constant)
    return profile.watts * (b - a) / 3600.0


def _regular(step: float, duration: float) -> list[float]:
    return [k * step for k in range(int(duration / step) + 1)]


def _jittered(step: float, duration: float, seed: int) -> list[float]:
    r = random.Random(seed)
    times = [k * step + r.uniform(-0.4, 0.4) * step for k in range(1, int(duration / step))]
    return [0.0, *times, duration]


def _integrate(profile: LoadProfile, times: Sequence[float], method: Method) -> float:
    integrator = EnergyIntegrator("plug", method=method, max_gap_s=60.0)
    for t in times:
        integrator.add(T0 + t, profile.power_w(t))
    return integrator.total_wh


PROFILES = {
    "constant": Constant(1210.0),
    "square": Square(1000.0, 100.0, 600.0, 0.5),
    # A sawtooth: the trapezoid smears its reset over one interval, an error of about
    # (1000 - 100) W * dt / 2 per period, so the period must be long against the polling.
    "ramp": Ramp(100.0, 1000.0, 3600.0),
}
SAMPLINGS = {
    "regular-1s": lambda: _regular(1.0, 6 * 3600.0),
    "regular-10s": lambda: _regular(10.0, 6 * 3600.0),
    "regular-7s": lambda: _regular(7.0, 6 * 3600.0),
    "jittered-2s": lambda: _jittered(2.0, 6 * 3600.0, seed=1),
    "jittered-10s": lambda: _jittered(10.0, 6 * 3600.0, seed=2),
}


@pytest.mark.parametrize("sampling", SAMPLINGS)
@pytest.mark.parametrize("name", PROFILES)
def test_trapezoid_within_half_a_percent_of_the_exact_integral(name: str, sampling: str) -> None:
    profile, times = PROFILES[name], SAMPLINGS[sampling]()
    exact = _exact_wh(profile, times[0], times[-1])
    assert _integrate(profile, times, "trapezoid") == pytest.approx(exact, rel=0.005)


@pytest.mark.parametrize("sampling", SAMPLINGS)
@pytest.mark.parametrize("name", ["constant", "square"])
def test_left_within_half_a_percent_for_step_loads(name: str, sampling: str) -> None:
    profile, times = PROFILES[name], SAMPLINGS[sampling]()
    exact = _exact_wh(profile, times[0], times[-1])
    assert _integrate(profile, times, "left") == pytest.approx(exact, rel=0.005)


def test_constant_load_is_exact() -> None:
    for method in ("trapezoid", "left"):
        assert _integrate(Constant(1000.0), _regular(10.0, 3600.0), method) == pytest.approx(
            1000.0, rel=1e-12
        )


def test_left_rectangle_is_exact_for_a_square_wave_sampled_at_its_edges() -> None:
    wave = Square(2000.0, 5.0, 600.0, 0.25)  # edges at 0 and 150 s of every period
    times = _regular(50.0, 4 * 3600.0)  # includes every edge
    left = EnergyIntegrator("plug", method="left", max_gap_s=60.0)
    trapezoid = EnergyIntegrator("plug", max_gap_s=60.0)
    misplaced = 0
    for t in times:
        power = wave.power_w(t)
        inc = left.add(T0 + t, power)
        exact = _exact_wh(wave, inc.start_ts - T0, inc.end_ts - T0)
        assert inc.wh == pytest.approx(exact, rel=1e-9, abs=1e-9)  # each interval, not only the sum
        misplaced += abs(trapezoid.add(T0 + t, power).wh - exact) > 1.0
    assert left.total_wh == pytest.approx(_exact_wh(wave, 0.0, 4 * 3600.0), rel=1e-12)
    # the trapezoid's errors cancel over whole periods but put energy in the wrong intervals
    assert misplaced == 2 * 4 * 6


# ----------------------------------------------------------------------------------------
# Gaps, switch state, odd readings


def test_an_offline_hole_adds_nothing_and_is_uncovered_exactly() -> None:
    integrator = EnergyIntegrator("plug", max_gap_s=60.0)
    times = [*_regular(10.0, 600.0), *(1200.0 + t for t in _regular(10.0, 600.0))]
    increments = [integrator.add(T0 + t, 1000.0) for t in times]
    hole = [inc for inc in increments if inc.uncovered_s]
    assert hole == [Increment(T0 + 600.0, T0 + 1200.0, 0.0, 0.0, 600.0)]
    assert sum(inc.covered_s for inc in increments) == 1200.0
    assert integrator.total_wh == pytest.approx(1000.0 * 1200.0 / 3600.0, rel=1e-12)


def test_an_interval_of_exactly_max_gap_is_still_measured() -> None:
    integrator = EnergyIntegrator("plug", max_gap_s=60.0)
    integrator.add(T0, 360.0)
    assert integrator.add(T0 + 60.0, 360.0) == Increment(T0, T0 + 60.0, 6.0, 60.0, 0.0)
    assert integrator.add(T0 + 120.5, 360.0) == Increment(T0 + 60.0, T0 + 120.5, 0.0, 0.0, 60.5)


def test_switch_off_is_zero_watts_whatever_power_says() -> None:
    integrator = EnergyIntegrator("plug", max_gap_s=60.0)
    for k in range(100):
        integrator.add(T0 + 10.0 * k, 1500.0, switch=False)
    assert integrator.total_wh == 0.0

    left = EnergyIntegrator("plug", method="left", max_gap_s=60.0)
    left.add(T0, 1800.0, switch=True)
    left.add(T0 + 10.0, 1800.0, switch=True)
    left.add(T0 + 20.0, 1800.0, switch=False)  # a stale power value beside an open relay
    off = left.add(T0 + 30.0, None, switch=False)  # off with no power DP: still a measurement
    assert off == Increment(T0 + 20.0, T0 + 30.0, 0.0, 10.0, 0.0)
    assert left.total_wh == pytest.approx(1800.0 * 20.0 / 3600.0)


def test_a_reading_without_power_is_not_a_measurement() -> None:
    integrator = EnergyIntegrator("plug", max_gap_s=60.0)
    integrator.add(T0, 360.0)
    assert integrator.add(T0 + 10.0, None) == Increment(T0 + 10.0, T0 + 10.0, 0.0, 0.0, 0.0)
    assert integrator.add(T0 + 15.0, math.nan, switch=True).wh == 0.0
    assert integrator.state() == (0.0, T0, 360.0)  # the last point did not move
    assert integrator.add(T0 + 20.0, 360.0) == Increment(T0, T0 + 20.0, 2.0, 20.0, 0.0)
    # a plug that keeps answering without power for longer than max_gap is a gap
    for k in range(1, 10):
        integrator.add(T0 + 20.0 + 10.0 * k, None)
    assert integrator.add(T0 + 120.0, 360.0) == Increment(T0 + 20.0, T0 + 120.0, 0.0, 0.0, 100.0)


def test_out_of_order_and_duplicate_readings_change_nothing() -> None:
    integrator = EnergyIntegrator("plug", max_gap_s=60.0)
    integrator.add(T0, 100.0)
    integrator.add(T0 + 10.0, 100.0)
    before = integrator.state()
    assert integrator.add(T0 + 10.0, 5000.0) == Increment(T0 + 10.0, T0 + 10.0, 0.0, 0.0, 0.0)
    assert integrator.add(T0 + 5.0, 5000.0).wh == 0.0
    assert integrator.state() == before


def test_negative_power_clamps_to_zero() -> None:
    integrator = EnergyIntegrator("plug", max_gap_s=60.0)
    integrator.add(T0, -50.0)
    assert integrator.add(T0 + 10.0, -50.0).wh == 0.0
    assert integrator.add(T0 + 20.0, 720.0).wh == pytest.approx(360.0 * 10.0 / 3600.0)
    assert integrator.last_power_w == 720.0


def test_first_reading_starts_the_account() -> None:
    integrator = EnergyIntegrator("plug", max_gap_s=60.0, total_wh=12.5)
    assert integrator.add(T0, 100.0) == Increment(T0, T0, 0.0, 0.0, 0.0)
    assert integrator.state() == (12.5, T0, 100.0)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="max_gap_s"):
        EnergyIntegrator("plug", max_gap_s=0.0)
    with pytest.raises(ValueError, match="method"):
        EnergyIntegrator("plug", method="simpson", max_gap_s=60.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="total_wh"):
        EnergyIntegrator("plug", max_gap_s=60.0, total_wh=-1.0)
    with pytest.raises(ValueError, match="last_ts"):
        EnergyIntegrator("plug", max_gap_s=60.0, last_power_w=10.0)
    with pytest.raises(ValueError, match="timestamp"):
        EnergyIntegrator("plug", max_gap_s=60.0).add(math.nan, 10.0)


def test_max_gap_for() -> None:
    assert max_gap_for(1.0) == 60.0
    assert max_gap_for(20.0) == 60.0
    assert max_gap_for(30.0) == 90.0
    with pytest.raises(ValueError):
        max_gap_for(0.0)


# ----------------------------------------------------------------------------------------
# Persistence


def _counter(integrator: EnergyIntegrator) -> Counter:
    total, last_ts, last_power = integrator.state()
    return Counter(integrator.device_id, total, 0.0, last_ts, last_power)


@pytest.mark.parametrize("method", ["trapezoid", "left"])
def test_resuming_from_a_counter_continues_the_same_account(method: Method) -> None:
    ramp, times = Ramp(100.0, 1000.0, 600.0), _regular(10.0, 7200.0)
    whole = EnergyIntegrator("plug", method=method, max_gap_s=60.0)
    first = EnergyIntegrator("plug", method=method, max_gap_s=60.0)
    for t in times:
        whole.add(T0 + t, ramp.power_w(t))
    for t in times[: len(times) // 2]:
        first.add(T0 + t, ramp.power_w(t))
    resumed = EnergyIntegrator.from_counter(_counter(first), method=method, max_gap_s=60.0)
    assert resumed.device_id == "plug"
    for t in times[len(times) // 2:]:
        resumed.add(T0 + t, ramp.power_w(t))
    assert resumed.total_wh == pytest.approx(whole.total_wh, rel=1e-12)


def test_a_long_restart_is_a_gap_and_unknown_last_power_is_not_guessed() -> None:
    counter = Counter("plug", 500.0, 1.5, T0, 1000.0)
    resumed = EnergyIntegrator.from_counter(counter, max_gap_s=60.0)
    assert resumed.add(T0 + 3600.0, 1000.0) == Increment(T0, T0 + 3600.0, 0.0, 0.0, 3600.0)
    assert resumed.total_wh == 500.0

    unknown = EnergyIntegrator.from_counter(Counter("plug", 500.0, 0.0, T0, None), max_gap_s=60.0)
    assert unknown.add(T0 + 10.0, 1000.0) == Increment(T0, T0 + 10.0, 0.0, 0.0, 10.0)
    assert unknown.add(T0 + 20.0, 1000.0).wh == pytest.approx(1000.0 * 10.0 / 3600.0)


# ----------------------------------------------------------------------------------------
# Invariants over arbitrary reading sequences

_readings = st.lists(
    st.tuples(
        st.one_of(st.floats(-30.0, 200.0), st.sampled_from([0.0, -1.0, 60.0, 600.0])),
        st.one_of(st.none(), st.floats(-100.0, 4000.0), st.just(math.nan)),
        st.sampled_from([None, True, False]),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    readings=_readings,
    method=st.sampled_from(["trapezoid", "left"]),
    start_wh=st.floats(0.0, 1e7),
    max_gap=st.sampled_from([30.0, 60.0, 90.0]),
)
def test_total_never_decreases_and_increments_add_up(
    readings: list[tuple[float, float | None, bool | None]],
    method: Method,
    start_wh: float,
    max_gap: float,
) -> None:
    integrator = EnergyIntegrator("plug", method=method, max_gap_s=max_gap, total_wh=start_wh)
    ts, accepted = T0, list[float]()
    wh_sum = covered = uncovered = 0.0
    for step, power, switch in readings:
        ts += step
        before = integrator.total_wh
        inc = integrator.add(ts, power, switch)
        assert integrator.total_wh >= before
        assert inc.wh >= 0.0 and inc.covered_s >= 0.0 and inc.uncovered_s >= 0.0
        assert inc.covered_s + inc.uncovered_s == pytest.approx(inc.end_ts - inc.start_ts)
        assert inc.covered_s <= max_gap
        assert inc.wh <= 4000.0 * inc.covered_s / 3600.0 + 1e-9
        measured = switch is False or (power is not None and math.isfinite(power))
        if measured and (not accepted or ts > accepted[-1]):
            accepted.append(ts)
            assert integrator.last_ts == ts
        else:
            assert inc == Increment(ts, ts, 0.0, 0.0, 0.0)
        wh_sum += inc.wh
        covered += inc.covered_s
        uncovered += inc.uncovered_s
    assert wh_sum == pytest.approx(integrator.total_wh - start_wh, abs=1e-6)
    span = accepted[-1] - accepted[0] if accepted else 0.0
    assert covered + uncovered == pytest.approx(span, abs=1e-6)
