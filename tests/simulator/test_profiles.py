"""Load profiles: exact shapes, plausible appliances, determinism per seed, spec parsing."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from powermonitor.simulator.profiles import (
    DAY_S,
    PC,
    PROFILES,
    TV,
    Constant,
    Fridge,
    Kettle,
    Lamp,
    LoadProfile,
    Ramp,
    RandomWalk,
    Square,
    Washer,
    make_profile,
)

HOUR = 3600.0
ALL_SPECS = [
    "constant:100",
    "square:1000:0:600:0.5",
    "ramp:0:2000:3600",
    "fridge",
    "washer",
    "kettle",
    "tv",
    "pc",
    "lamp",
    "random",
]
NOISY_SPECS = ["fridge", "washer", "kettle", "tv", "pc", "lamp", "random"]


def sample(profile: LoadProfile, start: float, stop: float, step: float) -> list[float]:
    n = int((stop - start) / step)
    return [profile.power_w(start + i * step) for i in range(n)]


def runs_above(values: list[float], threshold: float) -> list[tuple[int, int]]:
    """(start index, length) of each run of consecutive values above ``threshold``."""
    runs: list[tuple[int, int]] = []
    start = None
    for i, v in enumerate(values + [-1.0]):
        if v > threshold and start is None:
            start = i
        elif v <= threshold and start is not None:
            runs.append((start, i - start))
            start = None
    return runs


# ----------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_same_seed_same_trace_in_any_order(spec: str) -> None:
    times = [0.0, 1.5, 59.9, 3600.0, 7 * HOUR + 3.25, 19.5 * HOUR, 2 * DAY_S + 17.0, 1e7]
    a = make_profile(spec, 42)
    b = make_profile(spec, 42)
    forward = [(a.power_w(t), a.power_factor(t)) for t in times]
    backward = [(b.power_w(t), b.power_factor(t)) for t in reversed(times)][::-1]
    assert forward == backward
    # Asking again after a long jump gives the same answers: no hidden state.
    assert [(a.power_w(t), a.power_factor(t)) for t in times] == forward


@pytest.mark.parametrize("spec", NOISY_SPECS)
def test_different_seeds_differ(spec: str) -> None:
    times = [i * 97.0 for i in range(2000)]
    a = make_profile(spec, 1)
    b = make_profile(spec, 2)
    assert [a.power_w(t) for t in times] != [b.power_w(t) for t in times]


# ----------------------------------------------------------------------------- exact shapes


def test_constant() -> None:
    p = make_profile("constant:100", 0)
    assert isinstance(p, Constant)
    assert [p.power_w(t) for t in (0.0, 1.0, 1e9)] == [100.0, 100.0, 100.0]
    assert p.power_factor(5.0) == 1.0
    assert make_profile("constant:60:0.8", 0).power_factor(0.0) == 0.8


def test_square_exact_values() -> None:
    p = make_profile("square:1000:0:600:0.5", 7)
    assert isinstance(p, Square)
    expected = {
        0.0: 1000.0,
        1.0: 1000.0,
        299.999: 1000.0,
        300.0: 0.0,
        450.0: 0.0,
        599.999: 0.0,
        600.0: 1000.0,
        899.0: 1000.0,
        900.0: 0.0,
        6000.0: 1000.0,
        6300.0: 0.0,
    }
    assert {t: p.power_w(t) for t in expected} == expected


def test_square_energy_per_period_is_analytic() -> None:
    p = Square(on_w=1200.0, off_w=50.0, period_s=600.0, duty=0.25)
    # Midpoints of 1-second slices never touch an edge, so the sum is exact.
    joules = sum(p.power_w(i + 0.5) for i in range(600))
    assert joules == 1200.0 * 150 + 50.0 * 450


@pytest.mark.parametrize(("duty", "value"), [(0.0, 5.0), (1.0, 800.0)])
def test_square_extreme_duties(duty: float, value: float) -> None:
    p = Square(800.0, 5.0, 60.0, duty)
    assert {p.power_w(t) for t in (0.0, 10.0, 59.0, 60.0, 121.0)} == {value}


def test_ramp_is_linear_and_repeats() -> None:
    p = make_profile("ramp:0:2000:3600", 3)
    assert isinstance(p, Ramp)
    assert p.power_w(0.0) == 0.0
    assert p.power_w(900.0) == 500.0
    assert p.power_w(1800.0) == 1000.0
    assert p.power_w(2700.0) == 1500.0
    assert p.power_w(3600.0) == 0.0  # back to the start
    assert p.power_w(3600.0 + 1800.0) == 1000.0
    assert p.power_w(3599.0) == pytest.approx(2000.0 * 3599 / 3600)
    slopes = {round(p.power_w(t + 1.0) - p.power_w(t), 9) for t in range(0, 3599, 7)}
    assert slopes == {round(2000.0 / 3600, 9)}


def test_descending_ramp() -> None:
    p = Ramp(start_w=2000.0, end_w=500.0, period_s=100.0)
    assert p.power_w(0.0) == 2000.0
    assert p.power_w(50.0) == 1250.0
    assert p.power_w(99.999) >= 500.0
    assert p.power_w(100.0) == 2000.0


# ----------------------------------------------------------------------------- appliances


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fridge_cycles(seed: int) -> None:
    p = make_profile("fridge", seed)
    assert isinstance(p, Fridge)
    values = sample(p, 0.0, DAY_S, 10.0)
    runs = runs_above(values, 50.0)
    # Skip a run cut by the start of the day; the rest are whole compressor cycles.
    whole = [length for start, length in runs if start > 0 and start + length < len(values)]
    assert 27 <= len(runs) <= 36  # ~45-minute cycles
    for length in whole:
        assert 13 * 6 - 1 <= length <= 17 * 6 + 1  # ~15 min on
    off = [v for v in values if v <= 50.0]
    assert all(1.0 <= v <= 2.0 for v in off)
    assert 25.0 <= statistics.mean(values) <= 50.0
    assert 0.5 <= sum(values) * 10.0 / 3.6e6 <= 1.3  # kWh a day


def test_fridge_inrush_then_running_power() -> None:
    p = make_profile("fridge", 5)
    values = sample(p, 0.0, 6 * HOUR, 1.0)
    starts = [start for start, _ in runs_above(values, 50.0) if start > 0]
    assert starts
    for s in starts:
        assert values[s] > 300.0  # inrush spike, 3.5-5.5x the running power
        running = values[s + 5 * 60]
        assert 90.0 <= running <= 120.0 * 1.12
        assert 0.70 <= p.power_factor(float(s + 5 * 60)) <= 0.80


def test_washer_programme_once_then_standby() -> None:
    p = make_profile("washer:0", 11)
    assert isinstance(p, Washer)
    values = sample(p, 0.0, 3 * HOUR, 5.0)
    heating = [v for v in values if v >= 1900.0]
    assert 13 * 12 <= len(heating) <= 17 * 12 + 1  # ~15 min at ~2 kW
    assert all(v <= 2200.0 for v in heating)
    assert p.phase_at(0.0) == "fill"
    phases = [p.phase_at(t) for t in range(0, int(3 * HOUR), 5)]
    order = [name for i, name in enumerate(phases) if i == 0 or phases[i - 1] != name]
    assert order == ["fill", "heat", "wash", "drain", "rinse", "drain", "spin", "standby"]
    spin = [p.power_w(float(t)) for t in range(0, int(3 * HOUR), 5) if p.phase_at(t) == "spin"]
    assert 400.0 <= max(spin) <= 500.0
    wash = [p.power_w(float(t)) for t in range(0, int(3 * HOUR), 2) if p.phase_at(t) == "wash"]
    turning = [v for v in wash if v > 20.0]
    assert min(turning) >= 150.0 and max(turning) <= 300.0
    # Once means once: a day later it is still in standby, ~1 W.
    later = sample(p, 3 * HOUR, 2 * DAY_S, 60.0)
    assert all(0.8 <= v <= 1.2 for v in later)


def test_washer_repeats_every_n_hours() -> None:
    p = make_profile("washer:6:1", 4)
    assert p.power_w(0.5 * HOUR) <= 1.2  # before START_H: standby
    for run in range(4):
        start = HOUR + run * 6 * HOUR
        assert make_profile("washer:6:1", 4).power_w(start + 1.0) < 20.0  # filling
        assert max(sample(p, start, start + 25 * 60, 30.0)) >= 1900.0  # heats every run
        assert p.power_w(start + 5 * HOUR) <= 1.2  # done before the next run


def test_washer_runs_must_not_overlap() -> None:
    with pytest.raises(ValueError, match="apart"):
        make_profile("washer:1", 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kettle_bursts(seed: int) -> None:
    p = make_profile("kettle", seed)
    assert isinstance(p, Kettle)
    for day in range(5):
        values = sample(p, day * DAY_S, (day + 1) * DAY_S, 1.0)
        bursts = runs_above(values, 0.0)
        assert 3 <= len(bursts) <= 6
        for start, length in bursts:
            assert 150 <= length <= 241  # ~3 minutes
            assert 2200.0 * 0.98 <= values[start] <= 2200.0 * 1.02
            assert 6 * 3600 - 1800 <= start <= 22 * 3600  # during waking hours
        assert {v for v in values if v < 2000.0} == {0.0}
    assert p.power_factor(0.0) == 1.0


def test_epoch_shifts_the_daily_clock() -> None:
    for cls in (Kettle, TV, Lamp):
        shifted = cls(9, epoch=5 * HOUR)
        plain = cls(9)
        times = [i * 61.0 for i in range(3000)]
        assert [shifted.power_w(t) for t in times] == [plain.power_w(t + 5 * HOUR) for t in times]


def test_tv_standby_by_day_on_in_the_evening() -> None:
    p = make_profile("tv", 3)
    assert isinstance(p, TV)
    days = range(30)
    noon = [p.power_w(d * DAY_S + 12 * HOUR) for d in days]
    assert all(0.4 <= v <= 0.6 for v in noon)
    evening = [p.power_w(d * DAY_S + 20.5 * HOUR) for d in days]
    watched = [v for v in evening if v > 1.0]
    assert len(watched) >= 20
    assert all(80.0 <= v <= 120.0 for v in watched)
    # An epoch that puts t = 0 at 20:30 shows the TV on at once on a viewing day.
    first_watched_day = next(d for d in days if evening[d] > 1.0)
    at_once = TV(3, epoch=first_watched_day * DAY_S + 20.5 * HOUR)
    assert at_once.power_w(0.0) == evening[first_watched_day]


def test_lamp_evenings_only() -> None:
    p = make_profile("lamp", 8)
    assert isinstance(p, Lamp)
    rating = max(sample(p, 0.0, 5 * DAY_S, 60.0))
    assert rating in (9.0, 10.0, 12.0, 15.0, 40.0, 60.0)
    for d in range(20):
        assert p.power_w(d * DAY_S + 12 * HOUR) == 0.0
        assert p.power_w(d * DAY_S + 3 * HOUR) == 0.0
    on = [p.power_w(d * DAY_S + 20.5 * HOUR) for d in range(20)]
    assert sum(v == rating for v in on) >= 15
    assert set(on) <= {0.0, rating}


def test_pc_idle_and_bursts() -> None:
    p = make_profile("pc", 6)
    assert isinstance(p, PC)
    values = sample(p, 0.0, DAY_S, 20.0)
    idle = [v for v in values if v < 100.0]
    bursts = [v for v in values if v >= 100.0]
    assert all(54.0 <= v <= 66.0 for v in idle)
    assert all(150.0 <= v <= 300.0 for v in bursts)
    assert 0.03 * len(values) <= len(bursts) <= 0.5 * len(values)
    assert 55.0 <= statistics.median(values) <= 66.0


def test_random_walk_bounded_and_continuous() -> None:
    p = make_profile("random:100:500", 2)
    assert isinstance(p, RandomWalk)
    values = sample(p, 0.0, DAY_S, 5.0)
    assert min(values) >= 100.0 and max(values) <= 500.0
    assert max(values) - min(values) > 100.0  # it does wander
    steps = [abs(b - a) for a, b in itertools.pairwise(values)]
    assert max(steps) < 100.0  # no jumps, including across the hourly knots
    default = make_profile("random", 2)
    assert all(10.0 <= v <= 1000.0 for v in sample(default, 0.0, DAY_S, 60.0))


def test_random_walk_degenerate_band() -> None:
    p = RandomWalk(1, 50.0, 50.0)
    assert {p.power_w(t) for t in (0.0, 123.4, 1e6)} == {50.0}


# ----------------------------------------------------------------------------- properties


@settings(max_examples=300, deadline=None)
@given(
    spec=st.sampled_from(ALL_SPECS),
    seed=st.integers(min_value=0, max_value=2**32),
    t=st.floats(min_value=0.0, max_value=1e10, allow_nan=False, allow_infinity=False),
)
def test_any_time_gives_finite_non_negative_power(spec: str, seed: int, t: float) -> None:
    p = make_profile(spec, seed, epoch=1.7e9)
    w = p.power_w(t)
    assert math.isfinite(w) and w >= 0.0
    pf = p.power_factor(t)
    assert 0.0 < pf <= 1.0


@settings(max_examples=100, deadline=None)
@given(
    on=st.floats(min_value=0.0, max_value=5000.0),
    off=st.floats(min_value=0.0, max_value=5000.0),
    period=st.floats(min_value=0.01, max_value=1e6),
    frac=st.floats(min_value=0.0, max_value=1.0),
    t=st.floats(min_value=0.0, max_value=1e9),
)
def test_exact_shapes_stay_within_their_ends(
    on: float, off: float, period: float, frac: float, t: float
) -> None:
    assert Square(on, off, period, frac).power_w(t) in (on, off)
    w = Ramp(on, off, period).power_w(t)
    assert min(on, off) <= w <= max(on, off)


# ----------------------------------------------------------------------------- specs


def test_registry_lists_every_kind() -> None:
    assert set(PROFILES) == {
        "constant",
        "square",
        "ramp",
        "schedule",
        "fridge",
        "washer",
        "kettle",
        "tv",
        "pc",
        "lamp",
        "random",
    }
    for name, kind in PROFILES.items():
        assert kind.name == name and kind.usage.startswith(name) and kind.summary
        assert kind.arg_counts


def test_registry_entry_is_a_factory() -> None:
    p = PROFILES["square"]([1000.0, 0.0, 600.0, 0.5], 1)
    assert p == Square(1000.0, 0.0, 600.0, 0.5)
    assert p.name == "square"


def test_spec_is_forgiving_about_case_and_spaces() -> None:
    assert make_profile("  Constant:100 ", 0) == Constant(100.0)
    assert make_profile("square: 1000 :0:600:0.5", 0) == Square(1000.0, 0.0, 600.0, 0.5)
    assert isinstance(make_profile("FRIDGE", 0), Fridge)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "unknown load profile ''"),
        ("nope", "unknown load profile 'nope'.*known: constant, square"),
        ("frige", "did you mean 'fridge'"),
        ("constant", "constant takes 1 or 2 numbers"),
        ("constant:abc", "'abc' is not a number"),
        ("constant:", "constant takes 1 or 2 numbers"),
        ("constant:100:", "'' is not a number"),
        ("constant:-5", "watts >= 0"),
        ("constant:inf", "not finite"),
        ("constant:100:0", "power factor"),
        ("constant:100:1.5", "power factor"),
        ("square:1000:0:600", "square takes 4 or 5 numbers"),
        ("square:1000:0:0:0.5", "period_s"),
        ("square:1000:0:600:1.5", "duty"),
        ("ramp:0:2000:nan", "not finite"),
        ("ramp:0:2000:-1", "period_s"),
        ("fridge:120", "fridge takes no numbers"),
        ("kettle:1", "kettle takes no numbers"),
        ("random:5", "random takes 0 or 2 numbers"),
        ("random:500:100", "reversed"),
        ("washer:1:2:3", "washer takes 0, 1 or 2 numbers"),
        ("washer:-24", "apart"),
    ],
)
def test_bad_specs_raise_clear_value_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_profile(spec, 0)


def test_bad_spec_error_names_the_spec_and_usage() -> None:
    with pytest.raises(ValueError) as info:
        make_profile("square:1:2", 0)
    assert "'square:1:2'" in str(info.value)
    assert "square:ON_W:OFF_W:PERIOD_S:DUTY[:PF]" in str(info.value)


def test_bad_epoch() -> None:
    with pytest.raises(ValueError, match="epoch"):
        make_profile("tv", 0, epoch=math.inf)


def test_schedule_is_piecewise_constant_and_repeats() -> None:
    from powermonitor.simulator.profiles import schedule_from

    once = make_profile("schedule:0:0:2000:10:3:13:2000:20:1", 0)
    assert [once.power_w(t) for t in (0, 9.9, 10, 12.9, 13, 20, 1e6)] == [
        2000, 2000, 3, 3, 2000, 1, 1]
    looped = schedule_from([[0, 5], [10, 100]], repeat=True)  # period 20 s
    assert [looped.power_w(t) for t in (0, 10, 19.9, 20, 30, 40)] == [5, 100, 100, 5, 100, 5]
    with pytest.raises(ValueError, match="strictly increasing"):
        make_profile("schedule:0:10:5:2:7", 0)
    with pytest.raises(ValueError, match="repeat period"):
        make_profile("schedule:5:0:1:10:2", 0)
