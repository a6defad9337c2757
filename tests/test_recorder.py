"""The Recorder against a real SQLite store: what the counters say is what the rows add up to."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from powermonitor.models import Reading
from powermonitor.monitor.hub import Hub
from powermonitor.recorder import Recorder
from powermonitor.storage.sqlite import SqliteStore
from powermonitor.storage.writer import StoreWriter
from powermonitor.tariff import Tariff

T0 = 1_780_000_000.0
DEV = "bf00000000000000cc01"


def at(seconds: float, power_w: float) -> Reading:
    return Reading(DEV, datetime.fromtimestamp(T0 + seconds, UTC), switch=True, power_w=power_w)


async def test_two_readings_in_one_millisecond_are_one_sample(tmp_path: Path) -> None:
    """A push right behind a poll's reply (57 µs apart, seen on the fake clock): the store keeps
    one row per millisecond, so the second must add nothing, not energy only the counter has."""
    async with SqliteStore(tmp_path / "pm.db") as store:
        writer = StoreWriter(store)
        writer.start()
        recorder = Recorder(Hub(), writer, Tariff(flat_price=0.3), max_gap_s=300.0)
        readings = [at(0, 1000), at(59.999943, 1000), at(60.0, 1000), at(119.999886, 1000),
                    at(120.0, 1200), at(180.0, 1200)]
        samples = [recorder.record(r) for r in readings]
        await writer.stop()
        rows = await store.history(DEV, T0 - 1, T0 + 200, "raw")
        counters = await store.counters()
    assert len(rows) == 4  # 59.999943 and 60.0 share a millisecond, as 119.999886 and 120.0
    assert samples[2].interval_wh == 0.0 and samples[4].interval_wh == 0.0
    assert counters[DEV].total_wh == pytest.approx(sum(p.wh for p in rows), rel=1e-12)
    assert counters[DEV].total_wh == pytest.approx(samples[-1].total_wh, rel=1e-12)
