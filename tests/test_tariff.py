"""Tariffs: flat and time-of-use prices, exact to the cent across weeks and DST changes."""

from __future__ import annotations

import math
import tomllib
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from powermonitor.energy import EnergyIntegrator
from powermonitor.errors import ConfigError
from powermonitor.tariff import NO_TARIFF, Tariff, TouWindow, local_timezone_name

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def at(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, *,
       fold: int = 0) -> float:
    """Unix time of a local wall-clock time (``fold=1``: the second pass of a repeated hour)."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone), fold=fold).timestamp()


def cents(money: float) -> int:
    return round(money * 100)


def run_constant_load(tariff: Tariff, start: float, end: float, watts: float,
                      step: float = 60.0) -> tuple[float, float]:
    """Integrate a constant load polled every ``step`` s; cost each increment. (Wh, money)."""
    integrator = EnergyIntegrator("plug", max_gap_s=max(60.0, 3 * step))
    money, ts = 0.0, start
    while True:
        inc = integrator.add(min(ts, end), watts)
        money += tariff.cost(inc.start_ts, inc.end_ts, inc.wh)
        if ts >= end:
            return integrator.total_wh, money
        ts += step


# ----------------------------------------------------------------------------------------
# Flat


def test_flat_price() -> None:
    tariff = Tariff(currency="EUR", timezone=BERLIN, flat_price=0.30)
    start = at(BERLIN, 2026, 5, 4, 12)
    assert tariff.cost(start, start + 3600.0, 1000.0) == pytest.approx(0.30)
    assert tariff.cost(start, start + 60.0, 2500.0) == pytest.approx(0.75)
    assert tariff.cost(start, start, 0.0) == 0.0
    assert tariff.price_at(start) == 0.30


def test_no_tariff_costs_nothing() -> None:
    assert NO_TARIFF.flat_price == 0.0
    assert NO_TARIFF.cost(0.0, 3600.0, 5000.0) == 0.0
    assert NO_TARIFF.daily_charges(0.0, 7 * 86400.0) == 0.0


# ----------------------------------------------------------------------------------------
# Time of use

WEEK = Tariff(
    currency="EUR",
    timezone=BERLIN,
    windows=(
        TouWindow("weekday", time(7), time(22), 0.35),
        TouWindow("weekday", time(22), time(7), 0.25),  # wraps: 00-07 and 22-24 of each weekday
        TouWindow("weekend", time(0), time(0), 0.20),  # start == end: the whole day
    ),
)


def test_weekday_weekend_windows_exact_to_the_cent_over_a_week() -> None:
    monday, next_monday = at(BERLIN, 2026, 6, 1), at(BERLIN, 2026, 6, 8)
    # by hand, 1 kW: weekdays 5 x (15 h x 0.35 + 9 h x 0.25) = 37.50; weekend 2 x 24 h x 0.20
    # = 9.60; together 47.10 for 168 kWh.
    assert cents(WEEK.cost(monday, next_monday, 168_000.0)) == 4710
    wh, money = run_constant_load(WEEK, monday, next_monday, 1000.0)
    assert wh == pytest.approx(168_000.0, rel=1e-12)
    assert cents(money) == 4710
    assert money == pytest.approx(47.10, abs=1e-9)


def test_an_interval_straddling_a_boundary_is_split_exactly() -> None:
    start, end = at(BERLIN, 2026, 6, 2, 6, 30), at(BERLIN, 2026, 6, 2, 7, 30)
    seven = at(BERLIN, 2026, 6, 2, 7)
    assert list(WEEK.price_periods(start, end)) == [(start, seven, 0.25), (seven, end, 0.35)]
    assert WEEK.cost(start, end, 1000.0) == pytest.approx(0.5 * 0.25 + 0.5 * 0.35, abs=1e-12)
    # an uneven split: 06:50-07:30 is 10 min at 0.25 and 30 min at 0.35
    start = at(BERLIN, 2026, 6, 2, 6, 50)
    assert WEEK.cost(start, end, 400.0) == pytest.approx(0.4 * (0.25 / 4 + 0.35 * 3 / 4))


def test_friday_night_into_saturday() -> None:
    start, end = at(BERLIN, 2026, 6, 5, 21), at(BERLIN, 2026, 6, 6, 1)
    # 1 kW: Fri 21-22 at 0.35, 22-24 at 0.25, Sat 00-01 at 0.20 (the wrap stays on Friday)
    assert WEEK.cost(start, end, 4000.0) == pytest.approx(0.35 + 0.50 + 0.20)
    assert WEEK.price_at(at(BERLIN, 2026, 6, 6, 0, 30)) == 0.20
    assert WEEK.price_at(at(BERLIN, 2026, 6, 1, 6, 59)) == 0.25  # Monday morning


def test_flat_price_fills_the_hours_outside_the_windows() -> None:
    tariff = Tariff(timezone=BERLIN, flat_price=0.30,
                    windows=(TouWindow(frozenset({5, 6}), time(10), time(16), 0.10),))
    sat = at(BERLIN, 2026, 6, 6)
    assert tariff.price_at(sat + 9 * 3600) == 0.30
    assert tariff.price_at(sat + 10 * 3600) == 0.10
    assert cents(tariff.cost(sat, sat + 86400.0, 24_000.0)) == round(100 * (18 * 0.30 + 6 * 0.10))


# ----------------------------------------------------------------------------------------
# DST: a local day is 23 h or 25 h, and prices follow the wall clock

NIGHT_DAY = (TouWindow("all", time(0), time(7), 0.20), TouWindow("all", time(7), time(0), 0.40))


@pytest.mark.parametrize(
    ("zone", "day", "hours", "expected_cents"),
    [
        # spring forward: 00:00-07:00 has 6 real hours: 6 x 0.20 + 17 x 0.40 = 8.00
        (BERLIN, (2026, 3, 29), 23, 800),
        # fall back: 00:00-07:00 has 8 real hours: 8 x 0.20 + 17 x 0.40 = 8.40
        (BERLIN, (2026, 10, 25), 25, 840),
        (NEW_YORK, (2026, 3, 8), 23, 800),
        (NEW_YORK, (2026, 11, 1), 25, 840),
        # an ordinary day for contrast: 7 x 0.20 + 17 x 0.40 = 8.20
        (BERLIN, (2026, 6, 14), 24, 820),
    ],
)
def test_a_constant_load_over_a_dst_day(
    zone: str, day: tuple[int, int, int], hours: int, expected_cents: int
) -> None:
    tariff = Tariff(currency="EUR", timezone=zone, windows=NIGHT_DAY, daily_charge=0.25)
    start = at(zone, *day)
    end = start + hours * 3600.0
    assert datetime.fromtimestamp(end, ZoneInfo(zone)).time() == time(0)  # the next midnight
    assert cents(tariff.cost(start, end, hours * 1000.0)) == expected_cents
    wh, money = run_constant_load(tariff, start, end, 1000.0, step=10.0)
    assert wh == pytest.approx(hours * 1000.0, rel=1e-12)
    assert money == pytest.approx(expected_cents / 100, abs=1e-9)
    assert tariff.calendar_days(start, end) == 1
    assert tariff.daily_charges(start, end) == 0.25


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
def test_a_boundary_inside_the_skipped_hour_falls_at_the_jump(zone: str) -> None:
    tariff = Tariff(timezone=zone, windows=(TouWindow("all", time(0), time(2, 30), 0.10),
                                            TouWindow("all", time(2, 30), time(0), 0.50)))
    day = (2026, 3, 29) if zone == BERLIN else (2026, 3, 8)
    start = at(zone, *day)
    jump = start + 2 * 3600.0  # 02:00 standard time is 03:00 summer time
    assert tariff.price_at(jump - 1.0) == 0.10
    assert tariff.price_at(jump) == 0.50
    # 00:00-02:00 (2 h) at 0.10, then 03:00-24:00 (21 h) at 0.50: 0.20 + 10.50
    assert cents(tariff.cost(start, start + 23 * 3600.0, 23_000.0)) == 1070


@pytest.mark.parametrize(
    ("zone", "day", "boundary", "expected_cents"),
    [
        # Berlin repeats 02:00-03:00: 0.10 for 00:00-02:30 and 02:00-02:30 again (3 h),
        # 0.50 for the other 22 h: 0.30 + 11.00
        (BERLIN, (2026, 10, 25), time(2, 30), 1130),
        # New York repeats 01:00-02:00: 0.10 for 00:00-01:30 and 01:00-01:30 again (2 h),
        # 0.50 for the other 23 h: 0.20 + 11.50
        (NEW_YORK, (2026, 11, 1), time(1, 30), 1170),
    ],
)
def test_a_boundary_inside_the_repeated_hour_is_crossed_twice(
    zone: str, day: tuple[int, int, int], boundary: time, expected_cents: int
) -> None:
    tariff = Tariff(timezone=zone, windows=(TouWindow("all", time(0), boundary, 0.10),
                                            TouWindow("all", boundary, time(0), 0.50)))
    start = at(zone, *day)
    hm = (boundary.hour, boundary.minute)
    first, second = at(zone, *day, *hm, fold=0), at(zone, *day, *hm, fold=1)
    assert second - first == 3600.0
    assert tariff.price_at(first - 1.0) == 0.10
    assert tariff.price_at(first) == 0.50
    assert tariff.price_at(second - 1.0) == 0.10  # one second before the boundary, second pass
    assert tariff.price_at(second) == 0.50
    assert cents(tariff.cost(start, start + 25 * 3600.0, 25_000.0)) == expected_cents


def test_whole_dst_weeks_in_new_york() -> None:
    tariff = Tariff(currency="USD", timezone=NEW_YORK, windows=(
        TouWindow("weekday", time(14), time(19), 0.45),  # peak
        TouWindow("weekday", time(19), time(14), 0.15),
        TouWindow("weekend", time(0), time(0), 0.12),
    ))
    sunday, next_sunday = at(NEW_YORK, 2026, 3, 8), at(NEW_YORK, 2026, 3, 15)
    # 167 h (the spring day is 23 h, a Sunday): weekdays 5 x (5 x 0.45 + 19 x 0.15) = 25.50;
    # weekend (23 + 24) h x 0.12 = 5.64; total 31.14 for 167 kWh.
    assert next_sunday - sunday == 167 * 3600.0
    assert cents(tariff.cost(sunday, next_sunday, 167_000.0)) == 3114
    assert cents(run_constant_load(tariff, sunday, next_sunday, 1000.0)[1]) == 3114


_YEAR = (at(BERLIN, 2026, 1, 1), at(BERLIN, 2027, 1, 1))


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from([BERLIN, NEW_YORK, "Australia/Lord_Howe", "UTC"]),
    start=st.floats(*_YEAR),
    length=st.floats(0.001, 3 * 86400.0),
    cut=st.floats(0.0, 1.0),
)
def test_pieces_tile_the_interval_and_agree_with_price_at(
    zone: str, start: float, length: float, cut: float
) -> None:
    tariff = Tariff(timezone=zone, flat_price=0.31, windows=(
        TouWindow("weekday", time(6, 30), time(9), 0.40),
        TouWindow("all", time(1, 30), time(2, 30), 0.05),  # meets every DST change
        TouWindow("weekend", time(17), time(1), 0.22),
    ))
    end = start + length
    pieces = list(tariff.price_periods(start, end))
    assert pieces[0][0] == start and pieces[-1][1] == end
    for (a, b, price), nxt in zip(pieces, [*pieces[1:], None], strict=True):
        assert a < b
        if nxt is not None:
            assert nxt[0] == b
        assert tariff.price_at(a) == price
        assert tariff.price_at((a + b) / 2) == price
    # additivity: the cost of a whole is the cost of its parts (energy spread uniformly)
    mid = start + cut * length
    whole = tariff.cost(start, end, end - start)  # 3.6 kW: 1 Wh per second
    parts = tariff.cost(start, mid, mid - start) + tariff.cost(mid, end, end - mid)
    assert whole == pytest.approx(parts, rel=1e-9, abs=1e-12)


# ----------------------------------------------------------------------------------------
# Daily charges


def test_daily_charges_count_local_calendar_days_touched() -> None:
    tariff = Tariff(timezone=BERLIN, flat_price=0.30, daily_charge=0.25)
    monday = at(BERLIN, 2026, 6, 1)
    assert tariff.daily_charges(monday, at(BERLIN, 2026, 6, 8)) == pytest.approx(7 * 0.25)
    assert tariff.calendar_days(monday, monday) == 0
    assert tariff.calendar_days(monday, monday + 1.0) == 1
    assert tariff.calendar_days(monday + 12 * 3600, monday + 36 * 3600) == 2  # noon to noon
    assert tariff.calendar_days(monday - 1.0, monday + 1.0) == 2
    # the whole of March 2026, with its 23 h day: 31 days, not 31 x 24 h
    assert tariff.calendar_days(at(BERLIN, 2026, 3, 1), at(BERLIN, 2026, 4, 1)) == 31
    assert tariff.calendar_days(at(BERLIN, 2026, 10, 1), at(BERLIN, 2026, 11, 1)) == 31
    with pytest.raises(ValueError):
        tariff.calendar_days(monday, monday - 1.0)


# ----------------------------------------------------------------------------------------
# Validation


def test_overlapping_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="windows 1 .* and 2 .* overlap on Monday 21:00–22:00"):
        Tariff(timezone=BERLIN, flat_price=0.3, windows=(
            TouWindow("weekday", time(7), time(22), 0.35),
            TouWindow("all", time(21), time(23), 0.25),
        ))
    with pytest.raises(ValueError, match="overlap on Saturday 00:00–01:00"):
        Tariff(timezone=BERLIN, flat_price=0.3, windows=(
            TouWindow("all", time(23), time(1), 0.2),
            TouWindow(frozenset({5}), time(0), time(12), 0.25),
        ))


def test_uncovered_times_need_a_flat_price() -> None:
    with pytest.raises(ValueError, match="windows leave Saturday 00:00–24:00 without a price"):
        Tariff(timezone=BERLIN, windows=(TouWindow("weekday", time(0), time(0), 0.3),))
    with pytest.raises(ValueError, match="windows leave Monday 22:00–24:00 without a price"):
        Tariff(timezone=BERLIN, windows=(TouWindow("all", time(0), time(22), 0.3),))
    with pytest.raises(ValueError, match="needs a flat price"):
        Tariff(timezone=BERLIN)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"flat_price": -0.1}, "flat price must be a finite number >= 0"),
        ({"flat_price": math.inf}, "flat price"),
        ({"flat_price": 0.3, "daily_charge": -1.0}, "daily charge"),
        ({"flat_price": 0.3, "timezone": "Europe/Berln"}, "unknown time zone 'Europe/Berln'"),
        ({"flat_price": 0.3, "timezone": "../etc/passwd"}, "unknown time zone"),
        ({"flat_price": 0.3, "currency": " "}, "currency"),
    ],
)
def test_bad_values_are_refused(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"timezone": BERLIN, **kwargs}
    with pytest.raises(ValueError, match=message):
        Tariff(**arguments)  # type: ignore[arg-type]


def test_bad_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="window price"):
        TouWindow("all", time(0), time(0), -1.0)
    with pytest.raises(ValueError, match="unknown day kind 'weekends'"):
        TouWindow("weekends", time(0), time(0), 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weekday numbers 0-6"):
        TouWindow(frozenset({7}), time(0), time(0), 1.0)
    with pytest.raises(ValueError, match="without a zone"):
        TouWindow("all", time(0, tzinfo=ZoneInfo(BERLIN)), time(0), 1.0)


def test_bad_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="ends before"):
        WEEK.cost(100.0, 50.0, 1.0)
    with pytest.raises(ValueError, match="energy"):
        WEEK.cost(0.0, 50.0, -1.0)
    with pytest.raises(ValueError, match="finite"):
        WEEK.price_at(math.nan)


# ----------------------------------------------------------------------------------------
# Configuration

EXAMPLE = """
[tariff]
currency = "EUR"
timezone = "Europe/Berlin"
price = 0.30
daily_charge = 0.25

[[tariff.windows]]
days = "weekday"
start = "07:00"
end = "22:00"
price = 0.35

[[tariff.windows]]
days = ["sat", "Sunday"]
start = 10:00:00
end = "24:00"
price = 0.28
"""


def test_from_config_reads_the_documented_section() -> None:
    tariff = Tariff.from_config(tomllib.loads(EXAMPLE)["tariff"])
    assert tariff == Tariff(
        currency="EUR", timezone=BERLIN, flat_price=0.30, daily_charge=0.25, windows=(
            TouWindow("weekday", time(7), time(22), 0.35),
            TouWindow(frozenset({5, 6}), time(10), time(0), 0.28),
        ),
    )
    tuesday = at(BERLIN, 2026, 6, 2)
    assert tariff.price_at(tuesday + 6 * 3600) == 0.30
    assert tariff.price_at(tuesday + 12 * 3600) == 0.35
    assert tariff.price_at(at(BERLIN, 2026, 6, 6, 23, 59)) == 0.28


def test_from_config_flat_only_and_timezone_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", NEW_YORK)
    assert local_timezone_name() == NEW_YORK
    tariff = Tariff.from_config({"price": 0.3})
    assert (tariff.timezone, tariff.currency, tariff.flat_price) == (NEW_YORK, "EUR", 0.3)
    monkeypatch.setenv("TZ", ":/usr/share/zoneinfo/Asia/Tokyo")
    assert local_timezone_name() == "Asia/Tokyo"
    monkeypatch.setenv("TZ", "not a zone")
    assert ZoneInfo(local_timezone_name())  # falls back to the host's files, else UTC


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({}, r"\[tariff\] needs a price per kWh"),
        ({"price": "0.30"}, r"\[tariff\] price must be a number"),
        ({"price": -1}, r"\[tariff\] price must be a number >= 0"),
        ({"price": 0.3, "prise": 1}, r"\[tariff\] unknown key 'prise'"),
        ({"price": 0.3, "timezone": "Mars/Olympus"}, r"\[tariff\] unknown time zone 'Mars/Olympus'"),
        ({"price": 0.3, "timezone": 1}, "timezone must be a string"),
        ({"price": 0.3, "windows": {"days": "all"}}, "array of tables"),
        ({"windows": [{"days": "all", "start": "7h", "end": "22:00", "price": 0.3}]},
         r"\[\[tariff.windows\]\] #1 bad start time '7h': use HH:MM"),
        ({"windows": [{"days": "all", "start": "07:00", "end": "24:30", "price": 0.3}]},
         r"bad end time '24:30'"),
        ({"windows": [{"days": "all", "start": "24:00", "end": "07:00", "price": 0.3}]},
         r"bad start time '24:00'"),
        ({"windows": [{"days": "all", "start": "07:60", "end": "08:00", "price": 0.3}]},
         r"bad start time '07:60'"),
        ({"windows": [{"days": "workdays", "start": "00:00", "end": "00:00", "price": 0.3}]},
         r"#1 unknown days 'workdays'"),
        ({"windows": [{"days": ["mon", "funday"], "start": "0:00", "end": "0:00", "price": 1}]},
         r"unknown day 'funday'"),
        ({"windows": [{"days": "all", "start": "00:00", "end": "00:00"}]}, r"missing 'price'"),
        ({"windows": [{"days": "all", "start": "00:00", "end": "00:00", "price": -2}]},
         r"#1 price must be a number >= 0"),
        ({"windows": [{"days": "weekday", "start": "07:00", "end": "22:00", "price": 0.35}]},
         r"\[tariff\] time-of-use windows leave Monday 00:00–07:00 without a price"),
        ({"price": 0.3, "windows": [
            {"days": "weekday", "start": "07:00", "end": "22:00", "price": 0.35},
            {"days": "all", "start": "21:00", "end": "23:00", "price": 0.2}]},
         (r"\[tariff\] time-of-use windows 1 \(weekday 07:00–22:00 at 0.35\) and 2 "
          r"\(all 21:00–23:00 at 0.2\) overlap on Monday 21:00–22:00")),
    ],
)
def test_from_config_errors_say_what_is_wrong(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        Tariff.from_config(section)
    assert caught.value.reason == str(caught.value)
