"""The single writer, against a fake store (and once against a real SQLite store)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from powermonitor.errors import StorageError
from powermonitor.storage.base import (
    Counter,
    DeviceRow,
    EnergyRow,
    Period,
    Resolution,
    Sample,
    SeriesPoint,
)
from powermonitor.storage.sqlite import SqliteStore
from powermonitor.storage.writer import StoreWriter, merge_samples

from .util import at, series


class FakeStore:
    """Records writes; fails while ``failing`` is set; can hold writes until released."""

    def __init__(self) -> None:
        self.batches: list[list[Sample]] = []
        self.names: dict[str, str] = {}
        self.failing = 0  # number of writes still to fail (-1: fail until told otherwise)
        self.calls = 0
        self.gate: asyncio.Event | None = None

    @property
    def samples(self) -> list[Sample]:
        return [s for b in self.batches for s in b]

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def write(self, samples: Sequence[Sample], names: dict[str, str]) -> None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            self.failing -= 1 if self.failing > 0 else 0
            raise StorageError("cannot write to /tmp/x.db: the disk is full")
        self.batches.append(list(samples))
        self.names.update(names)

    async def backfill(self, samples: Sequence[Sample], names: dict[str, str], *,
                       now: float | None = None) -> None:
        await self.write(samples, names)

    async def counters(self) -> dict[str, Counter]:
        return {}

    async def transact(self, statements: Sequence[tuple[str, Sequence[Any]]]
                       ) -> list[list[Any]]:
        raise NotImplementedError("the writer never calls it")

    async def devices(self) -> list[DeviceRow]:
        return []

    async def energy(
        self, by: Period, since: float, until: float, device_ids: Sequence[str] | None = None
    ) -> list[EnergyRow]:
        return []

    async def history(
        self, device_id: str, since: float, until: float, resolution: Resolution
    ) -> list[SeriesPoint]:
        return []

    async def purge(self, now: float) -> int:
        return 0


async def test_batches_keep_order_and_stop_flushes() -> None:
    store = FakeStore()
    writer = StoreWriter(store, max_batch=5, flush_interval=3600)
    writer.start()
    s = series("p", 0.0, 12)
    for x in s:
        writer.submit(x, "Fridge")
    await writer.stop()  # flushes immediately although flush_interval is an hour
    assert store.samples == s
    assert all(len(b) <= 5 for b in store.batches)
    assert store.names == {"p": "Fridge"}
    st = writer.stats
    assert (st.submitted, st.written, st.dropped, st.pending, st.failures) == (12, 12, 0, 0, 0)


async def test_flush_interval_commits_without_a_full_batch() -> None:
    store = FakeStore()
    async with StoreWriter(store, max_batch=1000, flush_interval=0.01) as writer:
        writer.submit(series("p", 0.0, 1)[0], "x")
        while not store.batches:  # committed by the timer alone, no flush() call
            await asyncio.sleep(0.005)
        assert writer.stats.pending == 0


async def test_flush_waits_for_everything_submitted() -> None:
    store = FakeStore()
    async with StoreWriter(store, flush_interval=3600) as writer:
        for x in series("p", 0.0, 7):
            writer.submit(x)
        await writer.flush()
        assert len(store.samples) == 7 and writer.stats.written == 7


async def test_names_are_sent_once_and_again_when_changed() -> None:
    store = FakeStore()
    seen: list[dict[str, str]] = []
    orig = store.write

    async def spy(samples: Sequence[Sample], names: dict[str, str]) -> None:
        seen.append(dict(names))
        await orig(samples, names)

    store.write = spy  # type: ignore[method-assign]
    async with StoreWriter(store, flush_interval=3600) as writer:
        a, b, c = series("p", 0.0, 3)
        writer.submit(a, "Lamp")
        await writer.flush()
        writer.submit(b, "Lamp")
        await writer.flush()
        writer.submit(c, "Desk lamp")
        await writer.flush()
    assert seen == [{"p": "Lamp"}, {}, {"p": "Desk lamp"}]


async def test_failures_are_retried_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    store = FakeStore()
    store.failing = 5
    caplog.set_level(logging.DEBUG, logger="powermonitor.storage.writer")
    async with StoreWriter(store, flush_interval=3600, retry_initial=0.001, retry_max=0.002) as w:
        for x in series("p", 0.0, 10):
            w.submit(x)
        await w.flush()
        st = w.stats
    assert store.samples == series("p", 0.0, 10)  # nothing lost, nothing doubled
    assert store.calls == 6
    assert st.failures == 0 and st.last_error and "disk is full" in st.last_error
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "cannot write to the store" in errors[0].getMessage()
    assert any("work again after 5 failed attempts" in r.getMessage() for r in caplog.records)


async def test_submit_never_blocks_on_a_stuck_store() -> None:
    store = FakeStore()
    store.gate = asyncio.Event()  # the store hangs
    writer = StoreWriter(store, max_batch=10, flush_interval=0, max_backlog=1000)
    writer.start()
    for x in series("p", 0.0, 5000):
        writer.submit(x)  # returns at once although the store never answers
    await asyncio.sleep(0)
    assert writer.stats.pending <= 1000 + 1
    store.gate.set()
    await writer.stop()
    assert writer.stats.pending == 0


async def test_backlog_sheds_oldest_readings_but_keeps_energy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FakeStore()
    store.failing = -1  # down
    writer = StoreWriter(
        store, max_batch=4, flush_interval=0, max_backlog=10, retry_initial=0.001, retry_max=0.002
    )
    a = series("a", 0.0, 30, step=10.0, price=0.3)
    b = series("b", 0.0, 30, step=10.0, price=0.3, total_wh=1000.0)
    for x, y in zip(a, b, strict=True):
        writer.submit(x, "A")
        writer.submit(y, "B")
    st = writer.stats
    assert st.pending <= 10 and st.dropped > 0
    assert st.submitted == st.written + st.dropped + st.pending
    writer.start()
    while store.calls < 3:
        await asyncio.sleep(0.001)
    store.failing = 0  # back
    await writer.stop()
    st = writer.stats
    assert st.pending == 0 and st.submitted == st.written + st.dropped
    for dev, src in (("a", a), ("b", b)):
        got = [s for s in store.samples if s.device_id == dev]
        assert len(got) < len(src)
        # the energy, cost and time of every submitted sample arrived, in time order
        assert sum(s.interval_wh for s in got) == pytest.approx(sum(s.interval_wh for s in src))
        assert sum(s.cost for s in got) == pytest.approx(sum(s.cost for s in src))
        assert sum(s.covered_s for s in got) == pytest.approx(sum(s.covered_s for s in src))
        assert [s.ts for s in got] == sorted(s.ts for s in got)
        assert got[-1] == src[-1]  # the newest readings are never the ones shed
        assert max(s.total_wh for s in got) == src[-1].total_wh
        # each written sample's interval ends at its reading and starts where the previous ended
        for prev, cur in itertools.pairwise(got):
            assert cur.ts - cur.covered_s == pytest.approx(prev.ts)
    assert any("backlog is full" in r.getMessage() for r in caplog.records)


async def test_stop_gives_up_on_a_dead_store(caplog: pytest.LogCaptureFixture) -> None:
    store = FakeStore()
    store.failing = -1
    writer = StoreWriter(store, flush_interval=0, retry_initial=0.001, retry_max=0.002)
    writer.start()
    writer.submit(series("p", 0.0, 1)[0])
    await writer.stop(timeout=0.05)
    assert writer.stats.pending == 1
    assert any("1 samples not written" in r.getMessage() for r in caplog.records)


async def test_flush_without_start_is_an_error() -> None:
    with pytest.raises(StorageError, match="not running"):
        await StoreWriter(FakeStore()).flush()


def test_merge_samples_keeps_the_newer_reading_and_adds_the_rest() -> None:
    a, b = series("p", 0.0, 2, step=10.0, price=0.3)
    m = merge_samples(b, a)  # order does not matter
    assert (m.ts, m.power_w, m.total_wh) == (b.ts, b.power_w, b.total_wh)
    assert m.interval_wh == pytest.approx(a.interval_wh + b.interval_wh)
    assert m.covered_s == 20.0 and m.cost == pytest.approx(a.cost + b.cost)


async def test_writer_with_a_real_sqlite_store(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "pm.db", timezone="Europe/Berlin") as store:
        async with StoreWriter(store, max_batch=100, flush_interval=0.01) as writer:
            s = series("p", at("2026-03-29 00:00", "Europe/Berlin"), 1000, step=60.0)
            for x in s:
                writer.submit(x, "Heater")
            await writer.flush()
        assert writer.stats.batches >= 10
        c = (await store.counters())["p"]
        assert c.total_wh == pytest.approx(s[-1].total_wh)
        assert [d.name for d in await store.devices()] == ["Heater"]
