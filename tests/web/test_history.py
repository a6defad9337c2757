"""History columns (gaps made explicit) and the short-lived cache of encoded bodies."""

from __future__ import annotations

import asyncio
import json

import pytest

from powermonitor.storage.base import SeriesPoint
from powermonitor.web.history import HistoryCache, columns, encode
from powermonitor.web.schemas import HistoryOut


def raw(ts: float, power: float | None = 100.0, covered: float = 10.0,
        uncovered: float = 0.0) -> SeriesPoint:
    return SeriesPoint(ts, power, power, power, 230.0, 0.4, 0.3, covered, uncovered, 1)


def bucket(ts: float, power: float | None = 100.0, readings: int = 6,
           covered: float = 60.0) -> SeriesPoint:
    return SeriesPoint(ts, power, power, power, 230.0, 0.4, 1.6, covered, 0.0, readings)


def test_raw_gap_when_the_recorder_saw_the_plug_offline() -> None:
    cols = columns([raw(0), raw(10), raw(200, covered=0.0, uncovered=190.0), raw(210)],
                   raw=True, gap_s=60, step_s=10)
    assert cols["ts"] == [0, 10, 20, 200, 210]
    assert cols["power_w"] == [100, 100, None, 100, 100]


def test_raw_long_interval_is_fine_when_it_was_measured() -> None:
    """A slow plug (polled every 90 s) with covered intervals draws one line."""
    cols = columns([raw(0), raw(90, covered=90.0), raw(180, covered=90.0)],
                   raw=True, gap_s=270, step_s=90)
    assert None not in cols["power_w"]
    cols = columns([raw(0), raw(400, covered=0.0)], raw=True, gap_s=60, step_s=10)
    assert cols["power_w"] == [100, None, 100]  # long and not covered: unknown, a gap


def test_rollup_missing_bucket_is_a_gap_but_a_measured_empty_bucket_is_not() -> None:
    points = [bucket(0), bucket(60), bucket(120, None, readings=0), bucket(180), bucket(360)]
    cols = columns(points, raw=False, gap_s=90, step_s=60)
    assert cols["ts"] == [0, 60, 180, 240, 360]
    assert cols["power_w"] == [100, 100, 100, None, 100]


def test_rounding_and_the_documented_shape() -> None:
    p = SeriesPoint(1.23456, 100.123456, 99.0, 101.0, 230.456, 0.123456789, 1.234567891, 59.96,
                    0.04, 5)
    cols = columns([p], raw=False, gap_s=90, step_s=60)
    # means are rounded to what a plug measures (powermonitor.precision)
    assert cols["ts"] == [1.23456] and cols["power_w"] == [100.1]
    assert cols["voltage_v"] == [230.5] and cols["current_a"] == [0.123]
    assert cols["wh"] == [1.235]
    head = {"id": "a", "name": "fridge", "since": "2026-01-01T00:00:00Z",
            "until": "2026-01-02T00:00:00Z", "since_ts": 0.0, "until_ts": 86400.0,
            "resolution": "1m", "gap_s": 90.0}
    body = HistoryOut.model_validate_json(encode(head, cols))
    assert body.points == 1 and body.series.readings == [5]


def test_nan_is_refused() -> None:
    with pytest.raises(ValueError):
        encode({}, columns([raw(0, float("nan"))], raw=True, gap_s=60, step_s=10))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_cache_serves_stale_while_refreshing_then_expires() -> None:
    clock = Clock()
    cache = HistoryCache(clock=clock)
    calls = 0
    release = asyncio.Event()

    async def compute() -> bytes:
        nonlocal calls
        calls += 1
        if calls == 2:
            await release.wait()  # a slow refresh
        return json.dumps(calls).encode()

    key = HistoryCache.key("a", "1m", 0, 86400, 60)
    assert await cache.get(key, compute) == b"1"
    clock.now = 4.9
    assert await cache.get(key, compute) == b"1" and calls == 1  # fresh
    clock.now = 5.1  # 1m bodies are fresh for 5 s; then served while refreshed
    assert await cache.get(key, compute) == b"1"
    await asyncio.sleep(0)
    assert calls == 2
    assert await cache.get(key, compute) == b"1"
    await asyncio.sleep(0)
    assert calls == 2  # one refresh at a time
    release.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert await cache.get(key, compute) == b"2"
    clock.now = 5.1 + 10.1  # more than twice the TTL: never served, computed while we wait
    assert await cache.get(key, compute) == b"3"
    assert cache.bytes == 1


def test_keys_follow_buckets() -> None:
    k = HistoryCache.key
    assert k("a", "1m", 100, 86500, 60) == k("a", "1m", 119, 86519, 60)
    assert k("a", "1m", 100, 86500, 60) != k("a", "1m", 121, 86521, 60)
    assert k("a", "raw", 100.2, 3700.9, 10) == k("a", "raw", 100.7, 3700.1, 10)
    assert k("a", "1h", 0, 1, 3600) != k("b", "1h", 0, 1, 3600)
    # "the last 24 h" stays one key as time goes on (until its TTL ends it)
    day = 86400
    assert k("a", "1m", 1000, 1000 + day, 60, rolling=True) == k(
        "a", "1m", 1090, 1090 + day, 60, rolling=True)
    assert k("a", "1m", 1000, 1000 + day, 60, rolling=True) != k(
        "a", "1m", 1000, 1000 + 2 * day, 60, rolling=True)


async def test_single_flight_and_a_leaving_client_does_not_cancel_the_work() -> None:
    cache = HistoryCache()
    release = asyncio.Event()
    calls = 0

    async def compute() -> bytes:
        nonlocal calls
        calls += 1
        await release.wait()
        return b"body"

    key = HistoryCache.key("a", "1h", 0, 86400, 3600)
    first = asyncio.create_task(cache.get(key, compute))
    others = [asyncio.create_task(cache.get(key, compute)) for _ in range(5)]
    await asyncio.sleep(0)
    first.cancel()  # the client that started it goes away
    await asyncio.gather(first, return_exceptions=True)
    release.set()
    assert await asyncio.gather(*others) == [b"body"] * 5
    assert calls == 1
    assert await cache.get(key, compute) == b"body" and calls == 1


async def test_errors_reach_every_waiter_and_are_not_cached() -> None:
    cache = HistoryCache()
    calls = 0

    async def compute() -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        if calls == 1:
            raise OSError("disk")
        return b"ok"

    key = HistoryCache.key("a", "1d", 0, 1, 86400)
    results = await asyncio.gather(*(cache.get(key, compute) for _ in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    assert await cache.get(key, compute) == b"ok" and calls == 2


async def test_bounded_in_bytes_oldest_out() -> None:
    cache = HistoryCache(max_bytes=1000)

    def body(n: int) -> bytes:
        return bytes(200) + str(n).encode()

    for n in range(10):
        async def compute(n: int = n) -> bytes:
            return body(n)
        await cache.get(HistoryCache.key(str(n), "1h", 0, 1, 3600), compute)
    assert cache.bytes <= 1000

    async def fresh() -> bytes:
        return b"recomputed"

    assert await cache.get(HistoryCache.key("0", "1h", 0, 1, 3600), fresh) == b"recomputed"
    assert await cache.get(HistoryCache.key("9", "1h", 0, 1, 3600), fresh) == body(9)


async def test_disabled_cache_always_computes() -> None:
    cache = HistoryCache(enabled=False)
    calls = 0

    async def compute() -> bytes:
        nonlocal calls
        calls += 1
        return b"x"

    key = HistoryCache.key("a", "1h", 0, 1, 3600)
    await cache.get(key, compute)
    await cache.get(key, compute)
    assert calls == 2
