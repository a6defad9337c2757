"""The database schema and its ordered migrations, one list per backend.

Design rules:

- A migration is a numbered list of SQL statements; version N is reached by applying migrations
  1..N in order, each in the same transaction as the row that records it in ``schema_version``.
  Never edit a released migration: append a new one. Both backends keep the same version numbers
  so one number describes one shape of data.
- A database whose version is NEWER than the last migration this code knows is refused, never
  touched: an older powermonitor must not write rows a newer one would misread.
- SQLite files are marked with ``PRAGMA application_id`` (bytes 68..71 of the header), so a
  foreign SQLite file is recognised from its header, before anything is written.

Storage choices (same on both backends):

- Times are integer **milliseconds** since the Unix epoch, UTC (``BIGINT``/``INTEGER``): exact,
  compact, orderable and free of float rounding in primary keys. The ``Store`` API speaks float
  seconds; the conversion happens at the boundary.
- ``samples`` is keyed ``(device_id, ts)`` (SQLite: ``WITHOUT ROWID``, a clustered index).
- Rollups ``rollup_1m`` and ``rollup_1h`` use UTC-aligned buckets; ``rollup_1d`` holds LOCAL
  calendar days of the store's timezone (``bucket_end`` - ``bucket_start`` is 23 h or 25 h on
  DST days). Weeks and months are summed from ``rollup_1d`` at query time.
- Rollup rows hold sums (``n``, ``*_n``, ``*_sum``, ``wh``, ``cost``, ``covered_s``,
  ``uncovered_s``) and extremes (``power_min``/``power_max``), so two writers' increments
  combine by addition and min/max in any order (``INSERT .. ON CONFLICT DO UPDATE``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import StorageError

APPLICATION_ID = 0x706D6F6E  # "pmon": PRAGMA application_id of a powermonitor SQLite file
SQLITE_HEADER = b"SQLite format 3\x00"
TIERS = ("1m", "1h", "1d")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


def _rollup_sqlite(tier: str) -> str:
    end = "bucket_end INTEGER NOT NULL," if tier == "1d" else ""
    return f"""
CREATE TABLE rollup_{tier} (
    device_id TEXT NOT NULL,
    bucket_start INTEGER NOT NULL,
    {end}
    n INTEGER NOT NULL,
    power_n INTEGER NOT NULL,
    power_sum REAL NOT NULL,
    power_min REAL,
    power_max REAL,
    voltage_n INTEGER NOT NULL,
    voltage_sum REAL NOT NULL,
    current_n INTEGER NOT NULL,
    current_sum REAL NOT NULL,
    wh REAL NOT NULL,
    cost REAL NOT NULL,
    covered_s REAL NOT NULL,
    uncovered_s REAL NOT NULL,
    PRIMARY KEY (device_id, bucket_start)
) STRICT, WITHOUT ROWID"""


def _rollup_postgres(tier: str) -> str:
    end = "bucket_end BIGINT NOT NULL," if tier == "1d" else ""
    return f"""
CREATE TABLE rollup_{tier} (
    device_id TEXT NOT NULL,
    bucket_start BIGINT NOT NULL,
    {end}
    n BIGINT NOT NULL,
    power_n BIGINT NOT NULL,
    power_sum DOUBLE PRECISION NOT NULL,
    power_min DOUBLE PRECISION,
    power_max DOUBLE PRECISION,
    voltage_n BIGINT NOT NULL,
    voltage_sum DOUBLE PRECISION NOT NULL,
    current_n BIGINT NOT NULL,
    current_sum DOUBLE PRECISION NOT NULL,
    wh DOUBLE PRECISION NOT NULL,
    cost DOUBLE PRECISION NOT NULL,
    covered_s DOUBLE PRECISION NOT NULL,
    uncovered_s DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (device_id, bucket_start)
)"""


SQLITE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "devices, samples, counters, rollups 1m/1h/1d",
        (
            f"PRAGMA application_id = {APPLICATION_ID}",
            (
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
                " applied_at INTEGER NOT NULL, description TEXT NOT NULL) STRICT"
            ),
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT, WITHOUT ROWID",
            (
                "CREATE TABLE devices (device_id TEXT PRIMARY KEY, name TEXT NOT NULL)"
                " STRICT, WITHOUT ROWID"
            ),
            """
CREATE TABLE samples (
    device_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    power_w REAL,
    voltage_v REAL,
    current_a REAL,
    switch_on INTEGER,
    wh REAL NOT NULL,
    covered_s REAL NOT NULL,
    uncovered_s REAL NOT NULL,
    cost REAL NOT NULL,
    PRIMARY KEY (device_id, ts)
) STRICT, WITHOUT ROWID""",
            """
CREATE TABLE counters (
    device_id TEXT PRIMARY KEY,
    total_wh REAL NOT NULL,
    total_cost REAL NOT NULL,
    last_ts INTEGER,
    last_power_w REAL
) STRICT, WITHOUT ROWID""",
            *(_rollup_sqlite(t) for t in TIERS),
        ),
    ),
)

POSTGRES_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "devices, samples, counters, rollups 1m/1h/1d",
        (
            (
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
                " applied_at BIGINT NOT NULL, description TEXT NOT NULL)"
            ),
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE devices (device_id TEXT PRIMARY KEY, name TEXT NOT NULL)",
            """
CREATE TABLE samples (
    device_id TEXT NOT NULL,
    ts BIGINT NOT NULL,
    power_w DOUBLE PRECISION,
    voltage_v DOUBLE PRECISION,
    current_a DOUBLE PRECISION,
    switch_on BOOLEAN,
    wh DOUBLE PRECISION NOT NULL,
    covered_s DOUBLE PRECISION NOT NULL,
    uncovered_s DOUBLE PRECISION NOT NULL,
    cost DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (device_id, ts)
)""",
            """
CREATE TABLE counters (
    device_id TEXT PRIMARY KEY,
    total_wh DOUBLE PRECISION NOT NULL,
    total_cost DOUBLE PRECISION NOT NULL,
    last_ts BIGINT,
    last_power_w DOUBLE PRECISION
)""",
            *(_rollup_postgres(t) for t in TIERS),
        ),
    ),
)

def _insight(big: str, real: str, strict: str) -> tuple[str, ...]:
    """Migration 2 (both backends): appliance cycles and the alert log/outbox (alerts/)."""
    return (
        f"""CREATE TABLE cycles (device_id TEXT NOT NULL, start_ts {big} NOT NULL,
    end_ts {big} NOT NULL, wh {real} NOT NULL, cost {real} NOT NULL, peak_w {real} NOT NULL,
    PRIMARY KEY (device_id, start_ts)){strict}""",
        f"""CREATE TABLE alert_events (id TEXT PRIMARY KEY, ts {big} NOT NULL,
    device_id TEXT NOT NULL, alert TEXT NOT NULL, event TEXT NOT NULL, body TEXT NOT NULL){strict}""",
        "CREATE INDEX alert_events_ts ON alert_events (ts)",
        f"""CREATE TABLE alert_outbox (event_id TEXT NOT NULL, channel TEXT NOT NULL,
    attempts {big} NOT NULL, next_ts {big} NOT NULL, delivered_ts {big},
    last_error TEXT NOT NULL, PRIMARY KEY (event_id, channel)){strict}""",
        "CREATE INDEX alert_outbox_due ON alert_outbox (delivered_ts, next_ts)",
    )


SQLITE_MIGRATIONS += (
    Migration(2, "appliance cycles, alert events and outbox",
              _insight("INTEGER", "REAL", " STRICT, WITHOUT ROWID")),
)
POSTGRES_MIGRATIONS += (
    Migration(2, "appliance cycles, alert events and outbox",
              _insight("BIGINT", "DOUBLE PRECISION", "")),
)

# Migration 3 (both backends): energy by day reads only these columns of rollup_1d; a covering
# index in key order lets a year of days be read without the 9 power/voltage/current columns
# (bench/README.md, "Storage"). It adds one index entry per plug and day: nothing for ingest.
_ENERGY_INDEX = (
    (
        "CREATE INDEX rollup_1d_energy ON rollup_1d"
        " (device_id, bucket_start, bucket_end, wh, cost, covered_s, uncovered_s)"
    ),
)
SQLITE_MIGRATIONS += (Migration(3, "covering index for energy by day", _ENERGY_INDEX),)
POSTGRES_MIGRATIONS += (Migration(3, "covering index for energy by day", _ENERGY_INDEX),)

SCHEMA_VERSION = len(SQLITE_MIGRATIONS)
assert [m.version for m in SQLITE_MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
assert [m.version for m in POSTGRES_MIGRATIONS] == [m.version for m in SQLITE_MIGRATIONS]


def pending(migrations: tuple[Migration, ...], found: int, where: str) -> tuple[Migration, ...]:
    """The migrations to apply to a database at version ``found``; refuse a newer database."""
    latest = migrations[-1].version
    if found > latest:
        raise StorageError(
            f"{where} has schema version {found}, written by a newer powermonitor (this one "
            f"knows versions up to {latest}); upgrade powermonitor or use another database"
        )
    return tuple(m for m in migrations if m.version > found)
