"""The whole chain against analytic truth: simulated plugs → client → coordinators → Hub →
recorder (energy + tariff) → writer → SQLite, for a simulated hour (time scaled ×60).

Stored kWh must be within 0.5 % of the exact integral of each load profile over the measured
span; an offline stretch adds nothing and shows as uncovered time; the cost of a time-of-use
tariff across a window boundary on a DST-change day is exact to the cent.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from powermonitor.config import Config, Defaults, PlugConfig
from powermonitor.monitor.hub import Hub
from powermonitor.monitor.supervisor import Monitor
from powermonitor.recorder import Recorder
from powermonitor.simulator.profiles import make_profile
from powermonitor.simulator.server import Fleet, fleet_specs
from powermonitor.storage.sqlite import SqliteStore
from powermonitor.storage.writer import StoreWriter
from powermonitor.tariff import Tariff

SCALE = 60.0  # simulated seconds per real second
# Polls every real second (60 simulated s) plus pushes every 0.1 s (6 simulated s): an edge of
# the square wave that falls between two samples costs at most half a sample step of energy.
SIM_HOUR = 3600.0
# 2026-03-29 00:30 UTC = 01:30 CET; at 01:00 UTC Berlin jumps to 03:00 CEST.
EPOCH = datetime(2026, 3, 29, 0, 30, tzinfo=UTC).timestamp()
PROFILES = ["constant:1000", "square:1500:100:1200:0.5", "ramp:0:2000:3600"]
TARIFF = Tariff.from_config({
    "currency": "EUR", "timezone": "Europe/Berlin",
    "windows": [{"days": "all", "start": "00:00", "end": "03:00", "price": 0.20},
                {"days": "all", "start": "03:00", "end": "24:00", "price": 0.40}],
})


def exact_wh(spec: str, t0: float, t1: float, steps: int = 200_000) -> float:
    """The load's integral over simulated [t0, t1] (fine midpoint sum of the exact shape)."""
    profile = make_profile(spec, 0)
    dt = (t1 - t0) / steps
    return sum(profile.power_w(t0 + (i + 0.5) * dt) for i in range(steps)) * dt / 3600.0


@pytest.mark.fake_clock
async def test_simulated_hour_matches_the_analytic_integral(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()  # the fake clock: the hour costs only its CPU time
    start = loop.time()

    def clock() -> float:
        return EPOCH + (loop.time() - start) * SCALE

    fleet = Fleet(fleet_specs(4, ["3.3", "3.4", "3.5", "3.4"], ["cz"],
                              [*PROFILES, "constant:800"], seed=3), clock=clock,
                  push_interval=0.1)  # plugs push their values ~10×/s: 6 simulated seconds
    await fleet.start()
    plugs = tuple(
        PlugConfig(name=f"p{i}", device_id=s.plug.device_id, host="127.0.0.1",
                   local_key=s.plug.spec.local_key, version=s.plug.spec.version, port=s.port)
        for i, s in enumerate(fleet.servers)
    )
    config = Config(defaults=Defaults(poll_interval=1.0, timeout=1.0), plugs=plugs)
    store = SqliteStore(tmp_path / "truth.db", timezone="Europe/Berlin")
    await store.open()
    hub = Hub()
    monitor = Monitor(config, hub, start_spread=0, clock=clock)
    writer = StoreWriter(store)
    writer.start()
    recorder = Recorder(hub, writer, TARIFF, max_gap_s=300.0)
    tasks = [asyncio.create_task(recorder.run()), asyncio.create_task(monitor.run())]
    offline = fleet.servers[3]
    try:
        await asyncio.sleep(20.0)  # 20 simulated minutes
        await offline.stop()  # plug 3 loses power for ~10 simulated minutes (> max gap)
        await asyncio.sleep(10.0)
        await offline.start()
        await asyncio.sleep(SIM_HOUR / SCALE - 30.0)
    finally:
        tasks[1].cancel()
        await asyncio.gather(tasks[1], return_exceptions=True)
        tasks[0].cancel()
        await asyncio.gather(tasks[0], return_exceptions=True)
        await writer.stop()
        await fleet.stop()

    try:
        for i, spec in enumerate(PROFILES):
            device_id = plugs[i].device_id
            points = await store.history(device_id, EPOCH - 60, EPOCH + 2 * SIM_HOUR, "raw")
            first, last = points[0].ts, points[-1].ts
            assert last - first > 0.9 * SIM_HOUR
            stored = sum(p.wh for p in points)
            truth = exact_wh(spec, first - EPOCH, last - EPOCH)
            assert stored == pytest.approx(truth, rel=0.005), spec
            counters = await store.counters()
            assert counters[device_id].total_wh == pytest.approx(stored, rel=1e-9)
            # the energy report (daily rollup of the 23-hour local day) agrees with the samples
            day = await store.energy("day", EPOCH - 86400, EPOCH + 86400, [device_id])
            assert sum(r.wh for r in day) == pytest.approx(stored, rel=1e-9)

        # constant 1000 W: the cost is exact to the cent across the 03:00 boundary on a DST day
        points = await store.history(plugs[0].device_id, EPOCH - 60, EPOCH + 2 * SIM_HOUR, "raw")
        first, last = points[0].ts, points[-1].ts
        boundary = datetime(2026, 3, 29, 1, 0, tzinfo=UTC).timestamp()
        expected = (boundary - first) / 3600 * 0.20 + (last - boundary) / 3600 * 0.40  # 1 kW
        stored_cost = sum(r.cost for r in await store.energy("day", EPOCH - 86400, EPOCH + 86400,
                                                             [plugs[0].device_id]))
        assert round(stored_cost, 2) == round(expected, 2)

        # the offline stretch adds nothing and shows as uncovered
        device_id = plugs[3].device_id
        points = await store.history(device_id, EPOCH - 60, EPOCH + 2 * SIM_HOUR, "raw")
        gaps = [b.ts - a.ts for a, b in itertools.pairwise(points) if b.ts - a.ts > 300]
        assert len(gaps) == 1 and gaps[0] >= 550
        stored = sum(p.wh for p in points)
        covered = sum(p.covered_s for p in points)
        span = points[-1].ts - points[0].ts
        assert span - covered == pytest.approx(gaps[0], abs=1.0)
        assert stored == pytest.approx(800 * covered / 3600, rel=0.005)
    finally:
        await store.close()
