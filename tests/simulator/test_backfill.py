"""The demo's made-up history goes through the service's Recorder and lands in a real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from powermonitor.simulator.backfill import history_samples
from powermonitor.simulator.plug import PlugSpec
from powermonitor.storage.sqlite import SqliteStore
from powermonitor.tariff import Tariff

SPEC = PlugSpec("bf00000000000000aa01", "0123456789abcdef", profile="constant:1200")
PRICE = 0.25
SINCE = 1_780_000_000.0


def test_samples_integrate_the_profile_and_price_it() -> None:
    samples = list(history_samples(SPEC, SINCE, SINCE + 3600, Tariff(flat_price=PRICE)))
    assert len(samples) == 60 and samples[0].ts == SINCE and samples[-1].ts == SINCE + 3540
    assert samples[0].interval_wh == 0.0  # nothing before the first reading
    total = sum(s.interval_wh for s in samples)
    assert samples[-1].total_wh == pytest.approx(total)
    assert total == pytest.approx(1200 * 3540 / 3600, rel=0.01)  # mains jitter: within 1 %
    assert sum(s.covered_s for s in samples) == pytest.approx(3540)
    assert sum(s.cost for s in samples) == pytest.approx(total / 1000 * PRICE)
    assert all(s.switch is True and s.voltage_v and s.current_a for s in samples)


async def test_store_backfill_keeps_counters_and_hours(tmp_path: Path) -> None:
    samples = list(history_samples(SPEC, SINCE, SINCE + 3 * 3600, Tariff(flat_price=PRICE)))
    async with SqliteStore(tmp_path / "pm.db") as store:
        await store.backfill(samples, {SPEC.device_id: "heater"}, now=SINCE + 3 * 3600)
        counters = await store.counters()
        assert counters[SPEC.device_id].total_wh == pytest.approx(samples[-1].total_wh)
        hours = await store.history(SPEC.device_id, SINCE, SINCE + 3 * 3600, "1h")
        assert sum(p.wh for p in hours) == pytest.approx(samples[-1].total_wh)
