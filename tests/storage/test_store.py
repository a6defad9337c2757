"""The Store contract, run against SQLite and a real PostgreSQL (fixture ``backend``)."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from powermonitor.errors import StorageError
from powermonitor.storage.base import EnergyRow, Retention, Sample, Store
from powermonitor.storage.postgres import PostgresStore
from powermonitor.storage.sqlite import SqliteStore

from .conftest import StoreFactory
from .util import at, series

BERLIN = "Europe/Berlin"
approx = pytest.approx


async def test_write_and_read_back(store: Store) -> None:
    t0 = at("2026-01-05 10:00")
    a = series("plug-a", t0, 5, step=10.0, power_w=50.0, price=0.3)
    b = series("plug-b", t0, 3, step=10.0, power_w=2000.0, voltage_v=None)
    await store.write(a + b, {"plug-a": "Fridge", "plug-b": "Kettle"})

    assert [(d.device_id, d.name) for d in await store.devices()] == [
        ("plug-a", "Fridge"),
        ("plug-b", "Kettle"),
    ]
    raw = await store.history("plug-a", t0, t0 + 3600, "raw")
    assert [p.ts for p in raw] == [s.ts for s in a]
    first = raw[0]
    assert first.power_w == first.power_min_w == first.power_max_w == 50.0
    assert first.voltage_v == 230.0 and first.current_a == approx(50 / 230)
    assert first.wh == approx(a[0].interval_wh) and first.covered_s == 10.0
    assert first.readings == 1
    kettle = await store.history("plug-b", t0, t0 + 3600, "raw")
    assert [p.voltage_v for p in kettle] == [None] * 3

    counters = await store.counters()
    assert counters["plug-a"].total_wh == approx(a[-1].total_wh)
    assert counters["plug-a"].total_cost == approx(sum(s.cost for s in a))
    assert counters["plug-a"].last_ts == a[-1].ts
    assert counters["plug-a"].last_power_w == 50.0
    assert set(counters) == {"plug-a", "plug-b"}


async def test_unnamed_device_gets_its_id_then_a_rename(store: Store) -> None:
    t0 = at("2026-01-05 10:00")
    await store.write(series("x1", t0, 1), {})
    assert [(d.device_id, d.name) for d in await store.devices()] == [("x1", "x1")]
    await store.write(series("x1", t0 + 60, 1), {"x1": "Lamp"})
    await store.write([], {"x1": "Desk lamp"})
    assert [(d.device_id, d.name) for d in await store.devices()] == [("x1", "Desk lamp")]


async def test_counters_never_decrease_and_resume(make_store: StoreFactory) -> None:
    store = await make_store()
    t0 = at("2026-02-01 00:00")
    samples = series("p", t0, 10, total_wh=1000.0, price=0.25)
    await store.write(samples, {})
    # a later sample that claims a LOWER running total (e.g. a confused integrator)
    late = Sample(
        "p", samples[-1].ts + 60, 5.0, interval_wh=0.1, covered_s=60, cost=0.01, total_wh=500.0
    )
    await store.write([late], {})
    # an older sample arriving late must not move last_ts/last_power back
    old = Sample("p", t0 - 3600, 999.0, interval_wh=0.0, total_wh=900.0)
    await store.write([old], {})
    c = (await store.counters())["p"]
    assert c.total_wh == approx(samples[-1].total_wh)
    assert c.last_ts == late.ts and c.last_power_w == 5.0
    assert c.total_cost == approx(sum(s.cost for s in samples) + 0.01)
    await store.close()

    again = await make_store()  # a restart: counters come back from the database
    assert (await again.counters())["p"] == c


async def test_duplicates_are_ignored(store: Store) -> None:
    t0 = at("2026-01-05 10:00")
    s = series("p", t0, 20, step=30.0, price=0.3)
    await store.write(s, {})
    before = (await store.counters())["p"], await store.energy("hour", t0, t0 + 7200)
    await store.write(s[5:15], {})  # all already stored
    await store.write(s[:3] + s[:3] + [s[19]], {})  # repeated inside one batch too
    new = series("p", s[-1].ts, 2, step=30.0, price=0.3, total_wh=s[-1].total_wh)
    await store.write([s[0], new[0], new[0], new[1]], {})  # mixed: only `new` counts
    c = (await store.counters())["p"]
    assert c.total_cost == approx(before[0].total_cost + 2 * new[0].cost)
    assert c.total_wh == approx(new[1].total_wh)
    raw = await store.history("p", t0, t0 + 7200, "raw")
    assert len(raw) == 22
    hours = await store.energy("hour", t0, t0 + 7200)
    assert sum(r.wh for r in hours) == approx(sum(r.wh for r in before[1]) + 2 * new[0].interval_wh)


def _random_samples(rng: random.Random, device: str, start: float, end: float) -> list[Sample]:
    """Irregular polling with jitter, missed polls, offline gaps and missing fields."""
    out: list[Sample] = []
    t, total = start, 0.0
    while True:
        step = rng.choice([1.0, 5.0, 10.0, 10.0, 30.0, 60.0, 90.0]) + rng.random()
        gap = rng.random() < 0.02
        if gap:
            step = rng.uniform(300, 4 * 3600)
        t += step
        if t >= end:
            return out
        p = None if rng.random() < 0.05 else rng.uniform(0, 2500)
        wh = 0.0 if gap or p is None else p * step / 3600
        total += wh
        out.append(
            Sample(
                device,
                round(t, 3),
                p,
                voltage_v=None if rng.random() < 0.1 else rng.uniform(220, 240),
                current_a=None if p is None else p / 230,
                switch=p is not None,
                interval_wh=wh,
                covered_s=0.0 if gap else step,
                uncovered_s=step if gap else 0.0,
                cost=wh * 0.0003,
                total_wh=total,
            )
        )


async def test_rollups_equal_the_sum_of_samples(make_store: StoreFactory) -> None:
    store = await make_store(timezone=BERLIN)
    rng = random.Random(20260329)
    start, end = at("2026-03-28 18:00", BERLIN), at("2026-03-30 06:00", BERLIN)
    devices = {d: _random_samples(rng, d, start, end) for d in ("a", "b", "c")}
    merged = sorted((s for ss in devices.values() for s in ss), key=lambda s: s.ts)
    i = 0
    while i < len(merged):  # batches of random size
        n = rng.randint(1, 3000)
        await store.write(merged[i : i + n], {})
        i += n
    lo, hi = start - 86400, end + 86400
    for dev, ss in devices.items():
        wh = sum(s.interval_wh for s in ss)
        cov = sum(s.covered_s for s in ss)
        unc = sum(s.uncovered_s for s in ss)
        for res in ("1m", "1h", "1d"):
            pts = await store.history(dev, lo, hi, res)
            assert sum(p.wh for p in pts) == approx(wh, rel=1e-9), res
            assert sum(p.covered_s for p in pts) == approx(cov, rel=1e-9), res
            assert sum(p.readings for p in pts) == len(ss), res
        for by in ("hour", "day", "week", "month"):
            rows = await store.energy(by, lo, hi, [dev])
            assert sum(r.wh for r in rows) == approx(wh, rel=1e-9), by
            assert sum(r.cost for r in rows) == approx(wh * 0.0003, rel=1e-9), by
            assert sum(r.covered_s for r in rows) == approx(cov, rel=1e-9), by
            assert sum(r.uncovered_s for r in rows) == approx(unc, rel=1e-9), by
        # per-hour mean/min/max of the readings (a reading belongs to the hour of its ts)
        by_hour: dict[int, list[float]] = defaultdict(list)
        for s in ss:
            if s.power_w is not None:
                by_hour[int(s.ts // 3600) * 3600].append(s.power_w)
        for p in await store.history(dev, lo, hi, "1h"):
            got = by_hour.get(int(p.ts), [])
            if got:
                assert p.power_w == approx(sum(got) / len(got))
                assert (p.power_min_w, p.power_max_w) == (min(got), max(got))
            else:
                assert p.power_w is None


async def test_energy_by_local_day_week_month_across_dst(make_store: StoreFactory) -> None:
    store = await make_store(timezone=BERLIN)
    start = at("2026-03-26 00:00", BERLIN)
    end = at("2026-04-02 00:00", BERLIN)
    n = int((end - start) // 60)
    await store.write(series("p", start, n, step=60.0, power_w=100.0, price=0.3), {})
    days = await store.energy("day", start, end)
    local = [datetime.fromtimestamp(r.start, ZoneInfo(BERLIN)) for r in days]
    assert [d.strftime("%m-%d %H:%M") for d in local] == [
        "03-26 00:00",
        "03-27 00:00",
        "03-28 00:00",
        "03-29 00:00",
        "03-30 00:00",
        "03-31 00:00",
        "04-01 00:00",
    ]
    hours = [(r.end - r.start) / 3600 for r in days]
    assert hours == [24, 24, 24, 23, 24, 24, 24]  # 29 March 2026: clocks go forward
    assert [r.wh for r in days] == approx([2400, 2400, 2400, 2300, 2400, 2400, 2400])
    assert days[3].covered_s == approx(23 * 3600)
    assert days[3].cost == approx(2.3 * 0.3)

    weeks = await store.energy("week", start, end)
    assert [
        datetime.fromtimestamp(r.start, ZoneInfo(BERLIN)).strftime("%a %m-%d") for r in weeks
    ] == ["Mon 03-23", "Mon 03-30"]  # ISO weeks start on Monday, local time
    assert weeks[0].end == weeks[1].start
    assert weeks[0].end - weeks[0].start == (7 * 24 - 1) * 3600
    assert [r.wh for r in weeks] == approx([4 * 2400 - 100, 3 * 2400])

    months = await store.energy("month", start, end)
    assert [(r.start, r.end) for r in months] == [
        (at("2026-03-01 00:00", BERLIN), at("2026-04-01 00:00", BERLIN)),
        (at("2026-04-01 00:00", BERLIN), at("2026-05-01 00:00", BERLIN)),
    ]
    assert [r.wh for r in months] == approx([5 * 2400 + 2300, 2400])

    hourly = await store.energy(
        "hour", at("2026-03-29 00:00", BERLIN), at("2026-03-30 00:00", BERLIN)
    )
    assert len(hourly) == 23 and all(r.wh == approx(100) for r in hourly)
    assert all(r.start % 3600 == 0 and r.end - r.start == 3600 for r in hourly)


async def test_autumn_dst_day_has_25_hours(make_store: StoreFactory) -> None:
    store = await make_store(timezone=BERLIN)
    start = at("2026-10-24 12:00", BERLIN)
    await store.write(series("p", start, 48 * 60, step=60.0, power_w=100.0), {})
    day = await store.energy("day", at("2026-10-25 00:00", BERLIN), at("2026-10-25 12:00", BERLIN))
    assert len(day) == 1
    assert day[0].end - day[0].start == 25 * 3600 and day[0].wh == approx(2500)


async def test_an_interval_across_boundaries_is_split_by_time(store: Store) -> None:
    t = at("2026-01-05 10:05")
    # one reading covering the 10 minutes 09:55..10:05 with 600 Wh (3.6 kW)
    await store.write([Sample("p", t, 3600.0, interval_wh=600.0, covered_s=600.0, cost=6.0)], {})
    hours = await store.energy("hour", t - 7200, t + 3600)
    assert [r.start for r in hours] == [at("2026-01-05 09:00"), at("2026-01-05 10:00")]
    assert [(r.wh, r.cost, r.covered_s) for r in hours] == [approx((300.0, 3.0, 300.0))] * 2
    minutes = await store.history("p", t - 3600, t + 3600, "1m")
    assert [p.ts for p in minutes] == [at("2026-01-05 09:55") + 60 * i for i in range(11)]
    assert [p.wh for p in minutes] == approx([60.0] * 10 + [0.0])
    # the reading itself belongs to the bucket of its timestamp only
    assert [p.readings for p in minutes] == [0] * 10 + [1]
    assert minutes[-1].power_w == 3600.0 and minutes[0].power_w is None


async def test_history_keeps_gaps_as_gaps(store: Store) -> None:
    t0 = at("2026-01-05 10:00")
    before = series("p", t0, 5, step=60.0)  # 10:01 .. 10:05
    resume = at("2026-01-05 12:02")
    gap = Sample(
        "p",
        resume,
        80.0,
        interval_wh=0.0,
        uncovered_s=resume - before[-1].ts,
        total_wh=before[-1].total_wh,
    )
    after = series("p", resume, 3, step=60.0, total_wh=before[-1].total_wh)  # 12:03 .. 12:05
    await store.write(before + [gap] + after, {})

    minutes = await store.history("p", t0, t0 + 4 * 3600, "1m")
    starts = [datetime.fromtimestamp(p.ts, ZoneInfo("UTC")).strftime("%H:%M") for p in minutes]
    assert starts == [
        "10:00",
        "10:01",
        "10:02",
        "10:03",
        "10:04",
        "10:05",
        "12:02",
        "12:03",
        "12:04",
        "12:05",
    ]
    hours = await store.history("p", t0, t0 + 4 * 3600, "1h")
    assert [p.ts for p in hours] == [at("2026-01-05 10:00"), at("2026-01-05 12:00")]  # no 11:00
    assert sum(p.uncovered_s for p in hours) + 3600 == approx(gap.uncovered_s)  # 11:00 is a gap
    energy = await store.energy("hour", t0, t0 + 4 * 3600)  # energy shows the offline hour
    offline = energy[1]
    assert (offline.start, offline.covered_s) == (at("2026-01-05 11:00"), 0.0)
    assert offline.uncovered_s == approx(3600.0)
    assert sum(r.uncovered_s for r in energy) == approx(gap.uncovered_s)
    raw = await store.history("p", at("2026-01-05 10:03"), at("2026-01-05 12:04"), "raw")
    assert len(raw) == 5  # 10:03 10:04 10:05 12:02 12:03 (until is exclusive)
    days = await store.history("p", t0, t0 + 86400, "1d")
    assert len(days) == 1 and days[0].readings == 9


async def test_energy_filters_devices_and_periods(store: Store) -> None:
    t0 = at("2026-01-05 00:00")
    await store.write(series("a", t0, 120) + series("b", t0, 120) + series("c", t0, 120), {})
    rows = await store.energy("hour", t0, t0 + 7200, ["a", "c"])
    assert {r.device_id for r in rows} == {"a", "c"} and len(rows) == 4
    assert [r.device_id for r in rows] == ["a", "a", "c", "c"]  # by device, then time
    again = await store.energy("hour", t0, t0 + 7200, ["c", "nobody", "a", "c"])
    assert again == rows  # order of the ids, repeats and unknown ids change nothing
    assert await store.energy("day", t0, t0 + 3600, []) == []
    # whole periods overlapping [since, until) are reported whole
    part = await store.energy("hour", t0 + 1800, t0 + 1801, ["a"])
    assert [(r.start, r.end) for r in part] == [(t0, t0 + 3600)] and part[0].wh == approx(100)


async def test_purge_applies_each_tier_retention(make_store: StoreFactory) -> None:
    retention = Retention(raw_days=1, minute_days=2, hour_days=3, day_days=4)
    store = await make_store(retention=retention)
    t0 = at("2026-01-01 00:00")
    await store.write(series("p", t0, 10 * 24 * 6, step=600.0), {})  # 10 days, every 10 min
    now = at("2026-01-11 00:00")
    before = {
        res: len(await store.history("p", t0 - 1, now, res)) for res in ("raw", "1m", "1h", "1d")
    }
    removed = await store.purge(now)
    after = {res: await store.history("p", t0 - 1, now, res) for res in ("raw", "1m", "1h", "1d")}
    assert min(p.ts for p in after["raw"]) >= now - 1 * 86400
    assert min(p.ts for p in after["1m"]) >= now - 2 * 86400
    assert min(p.ts for p in after["1h"]) >= now - 3 * 86400
    assert min(p.ts for p in after["1d"]) >= now - 4 * 86400
    assert len(after["raw"]) == 6 * 24  # 2026-01-10 00:00 .. 23:50 (until is exclusive)
    assert len(after["1d"]) == 4  # 2026-01-07 .. 2026-01-10
    assert removed == sum(before[k] - len(after[k]) for k in before)
    assert await store.purge(now) == 0
    # counters are never purged
    assert (await store.counters())["p"].total_wh == approx(10 * 24 * 6 * 100 * 600 / 3600)


async def test_purge_works_in_chunks(make_store: StoreFactory) -> None:
    store = await make_store(retention=Retention(raw_days=1, minute_days=None))
    store.purge_chunk = 7
    t0 = at("2026-01-01 00:00")
    await store.write(series("p", t0, 100, step=3600.0), {})
    assert await store.purge(t0 + 101 * 3600) == 100 - 24


async def test_concurrent_writers_on_one_database(make_store: StoreFactory) -> None:
    one, two = await make_store(), await make_store()
    t0 = at("2026-01-05 00:00")
    own1 = series("a", t0, 3000, step=5.0)
    own2 = series("b", t0, 3000, step=5.0)
    # plug "s" (breaking the one-owner rule on purpose): interleaved samples from both writers,
    # plus samples that both send: every sample must count exactly once
    shared = series("s", t0, 3000, step=5.0, price=0.3)
    part1 = [x for i, x in enumerate(shared) if i % 2 == 0 or i % 7 == 0]
    part2 = [x for i, x in enumerate(shared) if i % 2 == 1 or i % 7 == 0]

    async def feed(store: Store, mine: list[Sample], other: list[Sample]) -> None:
        for k in range(12):  # 12 batches each, interleaving with the other writer
            a, b = len(mine) * k // 12, len(mine) * (k + 1) // 12
            c, d = len(other) * k // 12, len(other) * (k + 1) // 12
            await store.write(mine[a:b] + other[c:d], {})

    await asyncio.gather(feed(one, own1, part1), feed(two, own2, part2))
    rows = await one.energy("day", t0, t0 + 86400)
    wh = {r.device_id: r.wh for r in rows}
    assert wh == approx(
        {"a": 3000 * 100 * 5 / 3600, "b": 3000 * 100 * 5 / 3600, "s": 3000 * 100 * 5 / 3600}
    )
    counters = await two.counters()
    assert counters["s"].total_wh == approx(shared[-1].total_wh)
    assert counters["s"].total_cost == approx(sum(x.cost for x in shared))
    assert len(await two.history("s", t0, t0 + 86400, "raw")) == 3000


async def test_newer_schema_is_refused(make_store: StoreFactory, backend: str) -> None:
    store = await make_store()
    await store.write(series("p", at("2026-01-05 00:00"), 3), {})
    if isinstance(store, SqliteStore):
        await store._run(store._query, "INSERT INTO schema_version VALUES (99, 0, 'future')", ())
    else:
        assert isinstance(store, PostgresStore)
        await store._fetch("INSERT INTO schema_version VALUES (99, 0, 'future')")
    await store.close()
    with pytest.raises(StorageError, match=r"schema version 99.*newer powermonitor"):
        await make_store()


async def test_timezone_change_rebuilds_local_days(make_store: StoreFactory) -> None:
    utc = await make_store(timezone="UTC")
    start = at("2026-03-28 00:00", BERLIN)
    await utc.write(series("p", start, 3 * 24 * 60, step=60.0), {})
    await utc.close()
    berlin = await make_store(timezone=BERLIN)
    days = await berlin.energy("day", start, start + 3 * 86400 - 3600)
    assert [(r.end - r.start) / 3600 for r in days] == [24, 23, 24]
    assert [r.wh for r in days] == approx([2400, 2300, 2400])


async def test_store_not_open_and_bad_arguments(backend: str, pg_dsn_or_none: str | None) -> None:
    s: SqliteStore | PostgresStore
    s = SqliteStore(":memory:") if backend == "sqlite" else PostgresStore(pg_dsn_or_none or "")
    with pytest.raises(StorageError, match="not open"):
        await s.counters()
    await s.close()  # closing a closed store is harmless
    with pytest.raises(Exception, match="unknown timezone"):
        SqliteStore(":memory:", timezone="Mars/Olympus")


@pytest.fixture
def pg_dsn_or_none(backend: str, request: pytest.FixtureRequest) -> str | None:
    return str(request.getfixturevalue("pg_dsn")) if backend == "postgres" else None


def test_sample_helper_is_consistent() -> None:
    s = series("p", 0.0, 3, step=60.0, power_w=120.0)
    assert [x.interval_wh for x in s] == approx([2.0] * 3)
    assert math.isclose(s[-1].total_wh, 6.0)
    # 29 March 2026 in Berlin: 00:00 to 03:00 local is only two hours
    assert at("2026-03-29 03:00", BERLIN) - at("2026-03-29 00:00", BERLIN) == 2 * 3600


async def test_backfill_skips_what_retention_would_purge(make_store: StoreFactory) -> None:
    store = await make_store(retention=Retention(raw_days=1, minute_days=2))
    t0 = at("2026-01-01 00:00")
    now = at("2026-01-06 00:00")
    s = series("p", t0, 5 * 24 * 6, step=600.0, price=0.3)  # 5 days, every 10 minutes
    await store.backfill(s[:400], {"p": "Boiler"})
    await store.backfill(s[400:], {}, now=now)
    await store.backfill(s[-10:], {}, now=now)  # recent samples are still recognised as repeats
    raw = await store.history("p", t0, now + 1, "raw")
    assert min(p.ts for p in raw) >= now - 86400 and len(raw) == 6 * 24 + 1
    minutes = await store.history("p", t0, now + 1, "1m")
    assert min(p.ts for p in minutes) >= now - 2 * 86400 - 600
    total = sum(x.interval_wh for x in s)
    for by in ("hour", "day"):
        assert sum(r.wh for r in await store.energy(by, t0, now + 1)) == approx(total)
    c = (await store.counters())["p"]
    assert c.total_wh == approx(total) and c.total_cost == approx(sum(x.cost for x in s))
    assert await store.purge(now) == 0  # nothing was written that retention would delete


async def test_energy_sees_every_change_to_past_days(make_store: StoreFactory) -> None:
    """Past days may be cached (SQLite): own writes, other writers and purges must show."""
    keep = Retention(raw_days=None, minute_days=None, day_days=30)
    one = await make_store(retention=keep)
    t0 = at("2026-01-05 00:00")
    await one.write(series("p", t0, 24 * 60 - 1), {})  # 00:01 .. 23:59

    async def days(store: Store) -> dict[tuple[str, int], float]:
        rows = await store.energy("day", t0 - 86400, t0 + 3 * 86400)
        return {(r.device_id, int((r.start - t0) // 86400)): r.wh for r in rows}

    first = 2400 - 100 / 60
    assert await days(one) == approx({("p", 0): first})
    assert await days(one) == approx({("p", 0): first})  # (from the cache, if any)
    await one.write(series("p", t0 + 86400, 60), {})  # own write: a new day
    assert await days(one) == approx({("p", 0): first, ("p", 1): 100})
    await one.write([Sample("p", t0 + 3600.5, 0.0, interval_wh=7.0, covered_s=0.5)], {})  # late
    assert await days(one) == approx({("p", 0): first + 7, ("p", 1): 100})
    two = await make_store(retention=keep)
    await two.write(series("q", t0, 60), {})  # another writer, same database
    assert await days(one) == approx({("p", 0): first + 7, ("p", 1): 100, ("q", 0): 100})
    await one.purge(t0 + 31 * 86400)  # day_days=30: 5 January goes
    assert await days(one) == approx({("p", 1): 100})


async def test_a_version_2_database_migrates_and_answers_the_same(make_store: StoreFactory) -> None:
    """Migration 3 (the covering index for energy by day) on a database written before it."""
    store = await make_store(timezone=BERLIN)
    t0 = at("2026-03-27 00:00", BERLIN)
    await store.write(series("p", t0, 4 * 24 * 60, step=60.0, price=0.3), {"p": "Fridge"})
    await store.write(series("q", t0, 2 * 24 * 60, step=60.0, power_w=500.0), {})
    before = await store.energy("day", t0, t0 + 4 * 86400)
    downgrade = (
        "DROP INDEX rollup_1d_energy",
        "DELETE FROM schema_version WHERE version >= 3",
    )
    for sql in downgrade:  # what a version 2 database looks like, with its data
        if isinstance(store, SqliteStore):
            await store._run(store._query, sql, ())
        else:
            assert isinstance(store, PostgresStore)
            await store._fetch(sql)
    await store.close()

    again = await make_store(timezone=BERLIN)
    if isinstance(again, SqliteStore):
        versions = await again._run(again._query, "SELECT version FROM schema_version", ())
        index = await again._run(
            again._query, "SELECT name FROM sqlite_master WHERE name = 'rollup_1d_energy'", ()
        )
    else:
        versions = await again._fetch("SELECT version FROM schema_version")
        index = await again._fetch(
            "SELECT indexname FROM pg_indexes WHERE indexname = 'rollup_1d_energy'"
            " AND schemaname = current_schema()"
        )
    assert sorted(v[0] for v in versions) == [1, 2, 3]
    assert len(index) == 1
    after = await again.energy("day", t0, t0 + 4 * 86400)
    assert after == before
    assert [(r.device_id, round(r.wh)) for r in after] == [
        ("p", 2400), ("p", 2400), ("p", 2300), ("p", 2400), ("p", 100),  # 29 March: 23 h
        ("q", 12000), ("q", 12000), ("q", 0),  # the last reading, at midnight, opens a day
    ]
    assert [d.name for d in await again.devices()] == ["Fridge", "q"]


async def test_energy_by_day_mixes_past_and_todays_rows_in_order(make_store: StoreFactory) -> None:
    """Days before today may come from a cache (SQLite) and today's from the database: the
    answer is still ordered by plug, then day, whichever plugs have rows on which side."""
    store = await make_store()
    today = (time.time() // 86400) * 86400  # UTC midnight: the store's calendar is UTC
    yesterday = today - 86400
    await store.write(
        series("a", yesterday, 2, power_w=60.0)
        + series("b", yesterday, 1, power_w=120.0)
        + series("a", today, 3, power_w=60.0)
        + series("c", today, 1, power_w=600.0),
        {},
    )
    expected = [
        ("a", yesterday, 2.0),
        ("a", today, 3.0),
        ("b", yesterday, 2.0),
        ("c", today, 10.0),
    ]

    def seen(rows: list[EnergyRow]) -> list[tuple[str, float, float]]:
        return [(r.device_id, r.start, round(r.wh, 6)) for r in rows]

    first = await store.energy("day", yesterday - 86400, today + 86400)
    assert seen(first) == expected
    first.clear()  # the caller owns the list it got
    assert seen(await store.energy("day", yesterday - 86400, today + 86400)) == expected
    assert seen(await store.energy("day", yesterday, today)) == expected[:1] + expected[2:3]
    only = await store.energy("day", yesterday, today + 86400, ["c", "a"])
    assert seen(only) == [expected[0], expected[1], expected[3]]
