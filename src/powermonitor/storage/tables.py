"""One description of the tables the stores read and write, and the SQL both backends share.

SQLite and PostgreSQL differ in small ways only -- parameter markers (``?`` / ``$1``), casts,
bulk inserts -- so the columns, the history queries and the retention plan live here once, and
each store supplies a :class:`Dialect` (its hooks). What is really backend-specific (SQLite's
file checks and thread, asyncpg's pool, TimescaleDB chunks, ``unnest`` bulk inserts) stays in
sqlite.py / postgres.py. The DDL itself is in schema.py's versioned migrations.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import StorageError
from .base import Counter, Resolution, Retention
from .rollup import Calendar, days_from_hours, to_ms
from .schema import TIERS

__all__ = [
    "DAY_MS",
    "ENERGY_TABLES",
    "PURGE_TABLES",
    "ROLLUP_COLUMNS",
    "SAMPLE_COLUMNS",
    "Dialect",
    "counter_from_row",
    "days_rebuild",
    "log_days_rebuilt",
    "purge_in_chunks",
    "purge_plan",
]

DAY_MS = 86_400_000

ROLLUP_COLUMNS: tuple[tuple[str, str], ...] = (
    ("n", "bigint"),
    ("power_n", "bigint"),
    ("power_sum", "float8"),
    ("power_min", "float8"),
    ("power_max", "float8"),
    ("voltage_n", "bigint"),
    ("voltage_sum", "float8"),
    ("current_n", "bigint"),
    ("current_sum", "float8"),
    ("wh", "float8"),
    ("cost", "float8"),
    ("covered_s", "float8"),
    ("uncovered_s", "float8"),
)
"""A rollup row's additive columns after its key, in table order, with the PostgreSQL type."""

SAMPLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("device_id", "text"),
    ("ts", "bigint"),
    ("power_w", "float8"),
    ("voltage_v", "float8"),
    ("current_a", "float8"),
    ("switch_on", "bool"),
    ("wh", "float8"),
    ("covered_s", "float8"),
    ("uncovered_s", "float8"),
    ("cost", "float8"),
)
"""The ``samples`` table's columns in table order, with the PostgreSQL type."""

PURGE_TABLES: tuple[tuple[str, str, Resolution], ...] = (
    ("samples", "ts", "raw"),
    ("rollup_1m", "bucket_start", "1m"),
    ("rollup_1h", "bucket_start", "1h"),
    ("rollup_1d", "bucket_start", "1d"),
)
"""Each table retention applies to: (table, time key, tier)."""

ENERGY_TABLES: dict[str, tuple[str, str]] = {
    "hour": ("rollup_1h", "r.bucket_start + 3600000"),
    "day": ("rollup_1d", "r.bucket_end"),
}
"""Where hourly and daily energy rows come from: (rollup table, bucket end in ms). Weeks and
months are summed from local days."""


def counter_from_row(r: Sequence[Any]) -> Counter:
    """A ``counters`` row (``SELECT *``) as a :class:`Counter`; times in the table are ms."""
    return Counter(r[0], r[1], r[2], None if r[3] is None else r[3] / 1000.0, r[4])


_MEAN = "CASE WHEN {0}_n > 0 THEN {0}_sum / {0}_n END"


@dataclass(frozen=True, slots=True)
class Dialect:
    """The hooks a backend gives the shared SQL."""

    marker: Callable[[int], str]
    """The 1-based parameter marker: ``?`` (SQLite) or ``$n`` (PostgreSQL)."""
    seconds: str
    """Milliseconds column ``{}`` as float seconds."""
    integer: str = "{}"
    """A bigint column ``{}`` as the driver's int."""

    def history(self, resolution: Resolution) -> str:
        """The query for ``Store.history``: (device_id, since_ms, until_ms) → SeriesPoint rows."""
        p1, p2, p3 = self.marker(1), self.marker(2), self.marker(3)
        if resolution == "raw":
            return (
                f"SELECT {self.seconds.format('ts')}, power_w, power_w, power_w, voltage_v,"
                " current_a, wh, covered_s, uncovered_s, 1 FROM samples"
                f" WHERE device_id = {p1} AND ts >= {p2} AND ts < {p3} ORDER BY ts"
            )
        if resolution not in TIERS:
            raise StorageError(f"unknown resolution {resolution!r} (raw, 1m, 1h or 1d)")
        return (
            f"SELECT {self.seconds.format('bucket_start')}, {_MEAN.format('power')},"
            f" power_min, power_max, {_MEAN.format('voltage')}, {_MEAN.format('current')},"
            f" wh, covered_s, uncovered_s, {self.integer.format('n')} FROM rollup_{resolution}"
            f" WHERE device_id = {p1} AND bucket_start >= {p2} AND bucket_start < {p3}"
            " AND (n > 0 OR covered_s > 0) ORDER BY bucket_start"
        )

    def purge_bound(self, table: str, key: str) -> str:
        """(device_id, cutoff, offset) → the key ``offset`` rows into what is older than cutoff."""
        return (
            f"SELECT {key} FROM {table} WHERE device_id = {self.marker(1)} AND {key} <"
            f" {self.marker(2)} ORDER BY {key} LIMIT 1 OFFSET {self.marker(3)}"
        )

    def delete_days_from(self) -> str:
        """(first hour ms) → delete the local days that end after it (they are rebuilt)."""
        return f"DELETE FROM rollup_1d WHERE bucket_end > {self.marker(1)}"

    def purge_delete(self, table: str, key: str) -> str:
        """(device_id, bound) → delete one chunk."""
        return f"DELETE FROM {table} WHERE device_id = {self.marker(1)} AND {key} < {self.marker(2)}"


DEVICES_SQL = "SELECT device_id FROM counters UNION SELECT device_id FROM devices"
"""Every device a store has rows for (what retention walks)."""

HOURS_SQL = (
    "SELECT device_id, bucket_start, " + ", ".join(c for c, _ in ROLLUP_COLUMNS) + " FROM rollup_1h"
)
"""The hourly rollups, as :func:`days_rebuild` takes them."""


def days_rebuild(hours: Sequence[Sequence[Any]], cal: Calendar
                 ) -> tuple[int, list[tuple[object, ...]]] | None:
    """After a time zone change, the local days again from the hourly rollups: (the first hour
    kept, the day rows to upsert); None when there are no hours. Days from ``first`` on are
    deleted first (``Dialect.delete_days_from``); older days stay in the old zone."""
    if not hours:
        return None
    return min(int(r[1]) for r in hours), days_from_hours(hours, cal)


def log_days_rebuilt(logger: logging.Logger, where: str, old: str, new: str) -> None:
    logger.warning(
        "%s: timezone changed from %s to %s: local days rebuilt from the hourly rollups "
        "(days older than the oldest hour kept are left in %s)", where, old, new, old,
    )


def purge_plan(retention: Retention, cal: Calendar, now: float) -> list[tuple[str, str, int]]:
    """(table, key, cutoff ms) for each tier retention limits: rows before cutoff go (a cutoff
    is aligned to its tier's bucket, so a partly expired bucket is kept whole)."""
    keep = {"raw": retention.raw_days, "1m": retention.minute_days,
            "1h": retention.hour_days, "1d": retention.day_days}
    now_ms = to_ms(now)
    plan = []
    for table, key, tier in PURGE_TABLES:
        days = keep[tier]
        if days is not None:
            plan.append((table, key, cal.floor(tier, now_ms - round(days * DAY_MS))))
    return plan


async def purge_in_chunks(
    plan: Sequence[tuple[str, str, int]],
    devices: Sequence[str],
    delete_chunk: Callable[[str, str, str, int], Awaitable[int]],
    chunk: int,
    before: Callable[[str, int], Awaitable[None]] | None = None,
) -> int:
    """Run a purge plan: per table and device, ``delete_chunk(table, key, device, cutoff)``
    (one transaction of at most ``chunk`` rows, so writes interleave) until a chunk comes back
    short; ``before(table, cutoff)`` is a backend's hook (TimescaleDB drops whole chunks)."""
    removed = 0
    for table, key, cutoff in plan:
        if before is not None:
            await before(table, cutoff)
        for device in devices:
            while True:
                n = await delete_chunk(table, key, device, cutoff)
                removed += n
                if n < chunk:
                    break
    return removed
