"""The planner's garbage-collector pause: always restored, never switched on by us."""

from __future__ import annotations

import gc
from typing import cast

import pytest

from powermonitor.storage.base import Sample
from powermonitor.storage.rollup import Calendar, gc_paused, plan_batch

from .util import at, series


def test_planning_restores_the_collector_even_when_it_fails() -> None:
    cal = Calendar("UTC")
    assert gc.isenabled()
    plan = plan_batch(series("p", at("2026-01-05 00:00"), 90, step=10.0), cal)
    assert gc.isenabled()
    assert plan.row_count == 90 and len(list(plan.rows())) == 90
    bad = [Sample("p", float("nan"), 1.0, interval_wh=1.0, covered_s=1.0)]
    with pytest.raises(ValueError):
        plan_batch(bad, cal)  # round(nan) fails inside the paused section
    assert gc.isenabled()


def test_a_collector_switched_off_by_the_application_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_rows_leave_out_what_the_raw_floor_drops() -> None:
    s = series("p", at("2026-01-05 00:00"), 10, step=60.0)
    floor = round(s[4].ts * 1000)
    plan = plan_batch(s, Calendar("UTC"), floor, None)
    rows = list(plan.rows())
    assert plan.row_count == len(rows) == 6
    assert [r[1] for r in rows] == [round(x.ts * 1000) for x in s[4:]]
    wh = 11  # the wh column of a rollup row: device, start, then ROLLUP_COLUMNS
    assert sum(cast(float, r[wh]) for r in plan.rollups["1h"]) == pytest.approx(sum(x.interval_wh for x in s))
