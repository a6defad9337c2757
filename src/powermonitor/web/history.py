"""History for charts: columns with explicit gaps, encoded once, cached for a few seconds.

A day of 1-minute buckets is 1440 points; turning them into JSON costs far more than routing
the request, and dashboards ask for the same few series over and over (every open page, every
refresh). So the encoded body is kept for a few seconds per (plug, resolution, bucket range),
and concurrent requests for the same body wait for one computation instead of each running
the query (single flight). Once a body is ``TTL_S[resolution]`` old, the next request still
gets it while a fresh one is computed behind it (stale while revalidate), so a busy chart never
waits for the database; a body more than twice that old is never served. Live values come from
/api/events anyway.

The body is written with ``json.dumps`` from plain lists (not through pydantic models); a
test validates it against :class:`~powermonitor.web.schemas.HistoryOut`, which documents it.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from ..precision import DECIMALS
from ..storage.base import SeriesPoint

COLUMNS: Final = ("ts", "power_w", "power_min_w", "power_max_w", "voltage_v", "current_a",
                  "wh", "covered_s", "uncovered_s", "readings")
_W, _V, _A, _WH = (DECIMALS[kind] for kind in ("power", "voltage", "current_a", "wh"))
TTL_S: Final[dict[str, float]] = {"raw": 2.0, "1m": 5.0, "1h": 30.0, "1d": 60.0}
MAX_CACHE_BYTES: Final = 32 * 1024 * 1024

Key = tuple[str, str, int, int]


def columns(points: Sequence[SeriesPoint], raw: bool, gap_s: float, step_s: float
            ) -> dict[str, list[Any]]:
    """The points as columns, with a null point wherever the plug was not measured, so a chart
    draws a gap there instead of a line across the missing time.

    Raw samples carry the recorder's verdict on the interval before them: uncovered seconds
    mean the plug was offline; an interval longer than ``gap_s`` that is not covered is
    unknown, so a gap too. Rollup buckets that saw only offline time are not returned by the
    store, so a missing bucket (neighbours more than ``gap_s`` apart) is a gap; a bucket that
    was measured but holds no reading (a plug polled less often than the bucket size) is left
    out without breaking the line.
    """
    kept: list[SeriesPoint] = []
    gaps: list[tuple[int, float]] = []  # (position in kept, ts of the null point)
    previous: float | None = None
    for p in points:
        if previous is not None:
            dt = p.ts - previous
            if raw:
                gap = p.uncovered_s > 0 or (dt > gap_s and p.covered_s < dt - gap_s)
            else:
                gap = dt > gap_s
            if gap:
                gaps.append((len(kept), previous + min(step_s, dt / 2)))
        previous = p.ts
        if not (p.power_w is None and p.readings == 0 and p.covered_s > 0):
            kept.append(p)
    # One comprehension per column (several times faster than appending point by point).
    # Means are rounded to what the plugs measure (the rule of powermonitor.precision; they
    # would print 17 digits); timestamps (whole ms), minima, maxima (readings) and seconds are
    # short already and left as they are.
    cols: dict[str, list[Any]] = {
        "ts": [p.ts for p in kept],
        "power_w": [None if (v := p.power_w) is None else round(v, _W) for p in kept],
        "power_min_w": [p.power_min_w for p in kept],
        "power_max_w": [p.power_max_w for p in kept],
        "voltage_v": [None if (v := p.voltage_v) is None else round(v, _V) for p in kept],
        "current_a": [None if (v := p.current_a) is None else round(v, _A) for p in kept],
        "wh": [round(p.wh, _WH) for p in kept],
        "covered_s": [p.covered_s for p in kept],
        "uncovered_s": [p.uncovered_s for p in kept],
        "readings": [p.readings for p in kept],
    }
    nulls = {"power_w", "power_min_w", "power_max_w", "voltage_v", "current_a"}
    for position, ts in reversed(gaps):  # gaps are few: inserting them is cheap
        for name, column in cols.items():
            column.insert(position, round(ts, 3) if name == "ts" else
                          None if name in nulls else 0)
    return cols


def encode(head: dict[str, Any], cols: dict[str, list[Any]]) -> bytes:
    """The HistoryOut JSON: ``head`` fields, the point count and the columns."""
    body = {**head, "points": len(cols["ts"]), "series": cols}
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def _retrieve(task: asyncio.Task[bytes]) -> None:
    """Mark a failed computation's error as seen (its requesters may all have gone)."""
    if not task.cancelled():
        task.exception()


class HistoryCache:
    """Encoded history bodies for a few seconds, bounded in bytes, with single flight and
    stale-while-revalidate."""

    def __init__(self, max_bytes: int = MAX_CACHE_BYTES, *, enabled: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self.enabled = enabled
        self._clock = clock
        self._entries: OrderedDict[Key, tuple[float, bytes]] = OrderedDict()
        self._pending: dict[Key, asyncio.Task[bytes]] = {}
        self.bytes = 0
        self.hits = 0  # served without waiting (fresh, or stale while it is refreshed)
        self.misses = 0  # computations started

    @staticmethod
    def key(device_id: str, resolution: str, since: float, until: float, step_s: float,
            *, rolling: bool = False) -> Key:
        """Requests whose ranges cover the same buckets share a key (for raw: the same
        seconds). A rolling window ("the last 24 h", until now) is keyed by its length, so its
        body is reused until it expires rather than until the next bucket starts: otherwise
        every plug's chart would miss at once at each minute boundary."""
        unit = 1.0 if resolution == "raw" else step_s
        if rolling:
            return (device_id, resolution, -1, round((until - since) / unit))
        return (device_id, resolution, math.floor(since / unit), math.floor(until / unit))

    async def get(self, key: Key, compute: Callable[[], Awaitable[bytes]]) -> bytes:
        """The cached body for ``key``, else the one being computed, else compute it (in a
        task of its own, so a client that goes away does not waste the work of the others)."""
        if not self.enabled:
            return await compute()
        entry = self._entries.get(key)
        if entry is not None:
            expires, body = entry
            now = self._clock()
            if now < expires + TTL_S[key[1]]:
                if now >= expires:  # stale: serve it, and refresh it behind this request
                    self._start(key, compute)
                self.hits += 1
                self._entries.move_to_end(key)
                return body
            self._drop(key)
        return await asyncio.shield(self._start(key, compute))

    def _start(self, key: Key, compute: Callable[[], Awaitable[bytes]]) -> asyncio.Task[bytes]:
        """The computation of ``key`` under way, or a new one."""
        task = self._pending.get(key)
        if task is None:
            self.misses += 1
            task = asyncio.get_running_loop().create_task(self._fill(key, compute))
            task.add_done_callback(_retrieve)
            self._pending[key] = task
        return task

    async def _fill(self, key: Key, compute: Callable[[], Awaitable[bytes]]) -> bytes:
        try:
            body = await compute()
            self._store(key, body, self._clock() + TTL_S[key[1]])
            return body
        finally:
            del self._pending[key]

    def _store(self, key: Key, body: bytes, expires: float) -> None:
        if key in self._entries:
            self._drop(key)
        if len(body) > self.max_bytes // 4:
            return  # one huge body would evict everything else
        self._entries[key] = (expires, body)
        self.bytes += len(body)
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: Key) -> None:
        _, body = self._entries.pop(key)
        self.bytes -= len(body)
