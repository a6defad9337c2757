"""The fault soak's checks on what the service stored (run after the service stopped).

Through the project's own APIs: ``open_store`` for the counters and raw samples, and
:class:`~powermonitor.energy.EnergyIntegrator` to integrate the stored readings again, so the
integration rules are not written twice. Each check returns a list of problems (empty: holds).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from powermonitor.energy import EnergyIntegrator
from powermonitor.storage import open_store
from powermonitor.storage.base import Counter, SeriesPoint

TS_ROUNDING_S = 0.001
"""The stores keep timestamps in whole milliseconds: re-integration may differ by that much."""


@dataclass
class Stored:
    counters: dict[str, Counter]
    samples: dict[str, list[SeriesPoint]]
    day_wh: dict[str, float] = field(default_factory=dict)  # from the daily rollups


async def read_store(db: str, ids: Sequence[str], since: float) -> Stored:
    store = open_store(db)
    await store.open()
    try:
        now = time.time() + 60
        counters = await store.counters()
        samples = {d: await store.history(d, since - 3600, now, "raw") for d in ids}
        day_wh: dict[str, float] = {}
        for row in await store.energy("day", since - 2 * 86400, now, list(ids)):
            day_wh[row.device_id] = day_wh.get(row.device_id, 0.0) + row.wh
        return Stored(counters, samples, day_wh)
    finally:
        await store.close()


async def read_counters(db: str) -> dict[str, float]:
    store = open_store(db)
    await store.open()
    try:
        return {d: c.total_wh for d, c in (await store.counters()).items()}
    finally:
        await store.close()


def check_energy(stored: Stored, max_gap_s: float) -> tuple[list[str], int]:
    """Stored kWh == the integral of the stored readings, gaps recorded as gaps, totals finite
    and never backwards. Returns (problems, gaps seen)."""
    problems: list[str] = []
    gaps = 0
    for device_id, points in stored.samples.items():
        counter = stored.counters.get(device_id)
        if counter is None:
            if points:
                problems.append(f"{device_id}: {len(points)} samples but no counter")
            continue
        if not (math.isfinite(counter.total_wh) and counter.total_wh >= 0):
            problems.append(f"{device_id}: counter total {counter.total_wh!r} Wh")
            continue
        integ = EnergyIntegrator(device_id, max_gap_s=max_gap_s)
        stored_sum = slack = 0.0
        bad: list[str] = []
        for p in points:
            before = integ.last_power_w or 0.0
            inc = integ.add(p.ts, p.power_w)
            stored_sum += p.wh
            # timestamps are stored in whole ms: allow 2 ms of the interval's power
            ms = 2 * TS_ROUNDING_S * max(before, p.power_w or 0.0) / 3600
            slack += ms
            if abs(inc.wh - p.wh) > ms + 1e-9 or abs(inc.uncovered_s - p.uncovered_s) > 0.002:
                bad.append(f"at {p.ts:.3f}: stored {p.wh!r} Wh / {p.uncovered_s!r} s uncovered, "
                           f"the readings give {inc.wh!r} Wh / {inc.uncovered_s!r} s")
            if p.uncovered_s > 0:
                gaps += 1
        if bad:
            problems.append(f"{device_id}: {len(bad)} samples disagree with their readings, "
                            f"first {bad[0]}")
        if abs(integ.total_wh - counter.total_wh) > slack + 1e-6:
            problems.append(f"{device_id}: counter {counter.total_wh!r} Wh, integral of the "
                            f"stored readings {integ.total_wh!r} Wh")
        if abs(stored_sum - counter.total_wh) > 1e-6 * max(1, len(points)):
            problems.append(f"{device_id}: samples add up to {stored_sum!r} Wh, counter "
                            f"{counter.total_wh!r} Wh")
        day = stored.day_wh.get(device_id, 0.0)
        if abs(day - counter.total_wh) > 1e-3:
            problems.append(f"{device_id}: daily rollups {day!r} Wh, counter "
                            f"{counter.total_wh!r} Wh")
    return problems, gaps


def check_counters_forward(snapshots: Sequence[dict[str, float]]) -> list[str]:
    """Each snapshot's per-plug total is >= the previous one's."""
    problems = []
    for before, after in itertools.pairwise(snapshots):
        for device_id, wh in before.items():
            if after.get(device_id, 0.0) < wh:
                problems.append(f"{device_id}: counter went from {wh!r} to "
                                f"{after.get(device_id)!r} Wh")
    return problems


def check_recovery(
    samples: dict[str, list[SeriesPoint]],
    downs: dict[str, list[tuple[float, float, float]]],
    run_end: float,
) -> tuple[list[str], int, int, float]:
    """After every outage (start, end, bound) a plug has a reading within ``bound`` s of its
    end (or by the deadline of an earlier outage, if later), unless the next one starts first. Returns (problems, checked, pending, worst)."""
    problems: list[str] = []
    checked = pending = 0
    worst = 0.0
    for device_id, outages in downs.items():
        times = [p.ts for p in samples.get(device_id, [])]
        carry = -math.inf  # an earlier outage's wait may still run (a wrong key waits 5 min)
        for n, (_, end, bound) in enumerate(outages):
            limit = max(end + bound, carry)
            carry = limit
            if n + 1 < len(outages) and outages[n + 1][0] < limit:
                continue  # the next outage is already here: covered by that one
            after = [t for t in times if t > end]
            if not after or after[0] > limit:
                if limit > run_end:
                    pending += 1
                    continue
                problems.append(f"{device_id}: no reading within {limit - end:.0f} s of the "
                                f"outage ending at {end:.1f} (next at "
                                f"{after[0] - end if after else math.inf:.1f} s)")
                continue
            checked += 1
            worst = max(worst, after[0] - end)
    return problems, checked, pending, worst


def missed_readings(points: Sequence[SeriesPoint], healthy: Sequence[tuple[float, float]],
                    interval: float) -> tuple[int, int]:
    """(expected, missed) polls while the plug was healthy: a stretch without a reading that
    is longer than 1.5 intervals counts the polls it skipped."""
    expected = missed = 0
    times = [p.ts for p in points]
    for start, end in healthy:
        inside = [start, *[t for t in times if start <= t <= end], end]
        expected += int((end - start) / interval)
        for a, b in itertools.pairwise(inside):
            if b - a > 1.5 * interval:
                missed += int((b - a) / interval) - 1
    return expected, missed
