"""SQLite backend: the embedded default store.

Design rules:

- **One thread owns the connection.** Every sqlite3 call, including planning a batch, runs in a
  single-thread executor, so the event loop never blocks on disk I/O or the SQLite lock and no
  connection is ever shared between threads.
- **WAL, synchronous=NORMAL, busy_timeout.** Readers in other processes (``powermonitor energy``)
  never block the writer; a crash loses at most the last commits, never consistency. Writes take
  the lock up front (``BEGIN IMMEDIATE``), so two writers on one file queue instead of deadlocking.
- **One write = one transaction**: samples, rollups, counters and device names commit together
  or not at all (a full disk leaves the file exactly as before).
- **Look before writing.** A file is checked (SQLite header, ``application_id``, schema version,
  the first and last rows of each table) before anything is written; a foreign, damaged or newer
  file raises :class:`StorageError` naming the file and is left untouched.
- Duplicates (same plug, same millisecond) are ignored and add nothing to rollups or counters.
  The fast path inserts the batch and compares SQLite's change count; only when it differs is
  the batch redone without the rows already stored.

The table description, the history queries and the retention plan are shared with PostgreSQL
(tables.py, with this backend's dialect hooks). Longer than ~500 lines because what remains is
SQLite only (file checks before writing, the thread, error codes, the day cache) and reads as
one unit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import sqlite3
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby, repeat, starmap
from operator import add, itemgetter
from pathlib import Path
from typing import Any, Self, TypeVar

from ..errors import StorageError
from .base import (
    DEFAULT_RETENTION,
    Counter,
    DeviceRow,
    EnergyRow,
    Period,
    Resolution,
    Retention,
    Sample,
    SeriesPoint,
)
from .rollup import (
    Calendar,
    gc_paused,
    only_new,
    period_map,
    plan_batch,
    retention_floors,
    to_ms,
)
from .schema import APPLICATION_ID, SQLITE_HEADER, SQLITE_MIGRATIONS, TIERS, pending
from .tables import (
    DEVICES_SQL,
    ENERGY_TABLES,
    HOURS_SQL,
    ROLLUP_COLUMNS,
    Dialect,
    counter_from_row,
    days_rebuild,
    log_days_rebuilt,
    purge_in_chunks,
    purge_plan,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

MIN_SQLITE = (3, 37, 0)  # STRICT tables
_ROLLUP_COLUMNS = tuple(c for c, _ in ROLLUP_COLUMNS)
_INSERT_SAMPLES = "INSERT INTO samples VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING"
_UPSERT_COUNTER = """
INSERT INTO counters (device_id, total_wh, total_cost, last_ts, last_power_w) VALUES (?,?,?,?,?)
ON CONFLICT (device_id) DO UPDATE SET
    total_wh = max(total_wh, excluded.total_wh),
    total_cost = total_cost + excluded.total_cost,
    last_power_w = CASE WHEN last_ts IS NULL OR excluded.last_ts >= last_ts
                        THEN excluded.last_power_w ELSE last_power_w END,
    last_ts = CASE WHEN last_ts IS NULL OR excluded.last_ts >= last_ts
                   THEN excluded.last_ts ELSE last_ts END"""
_UPSERT_NAME = (
    "INSERT INTO devices VALUES (?, ?) ON CONFLICT (device_id) DO UPDATE SET name = excluded.name"
)
_INSERT_DEVICE = "INSERT INTO devices VALUES (?, ?) ON CONFLICT DO NOTHING"
# SQLite result codes (primary, low byte) used to word errors; classify by code, not text.
_FULL, _BUSY, _LOCKED, _CORRUPT, _NOTADB, _READONLY, _CANTOPEN, _IOERR, _PERM = (
    13,
    5,
    6,
    11,
    26,
    8,
    14,
    10,
    3,
)


def _upsert_rollup(tier: str) -> str:
    head = ["device_id", "bucket_start"] + (["bucket_end"] if tier == "1d" else [])
    cols = head + list(_ROLLUP_COLUMNS)
    sets = []
    for c in _ROLLUP_COLUMNS:
        if c in ("power_min", "power_max"):
            f = c[-3:]
            sets.append(f"{c} = {f}(coalesce({c}, excluded.{c}), coalesce(excluded.{c}, {c}))")
        else:
            sets.append(f"{c} = {c} + excluded.{c}")
    return (
        f"INSERT INTO rollup_{tier} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        f" ON CONFLICT (device_id, bucket_start) DO UPDATE SET {', '.join(sets)}"
    )


_UPSERT_ROLLUP = {tier: _upsert_rollup(tier) for tier in TIERS}
_SQL = Dialect(marker=lambda _: "?", seconds="{} / 1000.0")
_DAY_CACHE_ENTRIES = 4
_DAY_CACHE_ROWS = 200_000


_TUPLE_NEW = tuple.__new__  # EnergyRow straight from a fetched row, without a Python __new__


def _by_device(closed: list[EnergyRow], fresh: list[EnergyRow]) -> list[EnergyRow]:
    """Two row lists ordered by (device, start), where each device's ``fresh`` rows come after
    its ``closed`` ones, merged in that order: slices of ``closed``, found by bisection."""
    out: list[EnergyRow] = []
    i = 0
    for dev, rows in groupby(fresh, itemgetter(0)):
        j = bisect_right(closed, (dev, math.inf), i)
        out += closed[i:j]
        out += rows
        i = j
    out += closed[i:]
    return out


class SqliteStore:
    """The :class:`~powermonitor.storage.base.Store` on one SQLite file (or ``":memory:"``)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timezone: str = "UTC",
        retention: Retention = DEFAULT_RETENTION,
        busy_timeout: float = 5.0,
        purge_chunk: int = 10_000,
    ) -> None:
        raw = os.fspath(path)
        self.memory = raw == ":memory:"
        self.path = raw if self.memory else str(Path(raw).expanduser())
        self.timezone = timezone
        self.retention = retention
        self.busy_timeout = busy_timeout
        self.purge_chunk = purge_chunk
        self._cal = Calendar(timezone)
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._names: dict[str, str] = {}  # device names as stored (what the file holds)
        self._day_cache: dict[tuple[int, int, tuple[str, ...] | None], list[EnergyRow]]
        self._day_cache = {}
        self._data_version = -1

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r}, timezone={self.timezone!r})"

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ plumbing

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        executor = self._executor
        if executor is None:
            raise StorageError(f"{self.path}: the store is not open")
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError(f"{self.path}: the store is not open")
        return self._conn

    def _error(self, doing: str, exc: sqlite3.Error) -> StorageError:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        why = {
            _FULL: "the disk (or the database's size limit) is full",
            _BUSY: f"the database stayed locked by another writer for {self.busy_timeout:g} s",
            _LOCKED: "the database is locked",
            _CORRUPT: "the file is damaged (corrupt)",
            _NOTADB: "it is not a powermonitor database",
            _READONLY: "the file or its folder is read-only",
            _CANTOPEN: "the file cannot be opened (missing folder or permissions)",
            _IOERR: "an I/O error occurred (disk full or failing?)",
            _PERM: "permission denied",
        }.get(code)
        detail = f"{why} ({exc})" if why else str(exc)
        return StorageError(f"cannot {doing} {self.path}: {detail}")

    def _not_ours(self, reason: str) -> StorageError:
        return StorageError(
            f"{self.path} is not a powermonitor database ({reason}); it was left untouched: "
            "choose another database path or move the file away"
        )

    # ------------------------------------------------------------------ open / close

    async def open(self) -> None:
        if self._executor is not None:
            return
        executor = ThreadPoolExecutor(1, thread_name_prefix="powermonitor-sqlite")
        self._executor = executor
        try:
            await self._run(self._open_sync)
        except BaseException:
            self._executor = None
            executor.submit(self._close_sync)
            executor.shutdown(wait=False)
            raise

    async def close(self) -> None:
        executor = self._executor
        if executor is None:
            return
        try:
            await self._run(self._close_sync)
        finally:
            self._executor = None
            executor.shutdown(wait=False)

    def _close_sync(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.execute("PRAGMA optimize")
            except sqlite3.Error:
                pass
            conn.close()

    def _inspect(self) -> bool:
        """Check an existing file's header without SQLite; True if it needs a new schema."""
        p = Path(self.path)
        if p.is_dir():
            raise self._not_ours("it is a directory")
        try:
            with p.open("rb") as f:
                header = f.read(100)
        except OSError as exc:
            raise StorageError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        if not header:
            return True  # an empty file: SQLite treats it as a new database
        if len(header) < 100 or not header.startswith(SQLITE_HEADER):
            raise self._not_ours("it is not an SQLite file")
        app_id = int.from_bytes(header[68:72], "big")
        if app_id == APPLICATION_ID:
            return False
        if app_id != 0:
            raise self._not_ours(f"it belongs to another application, application_id {app_id:#x}")
        # application_id 0: a new, empty database, or ours in WAL mode with page 1 not yet
        # checkpointed into the file (another connection has it open); ask SQLite, read-only.
        try:
            uri = Path(self.path).resolve().as_uri() + "?mode=ro"
            probe = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout)
            try:
                app_id = probe.execute("PRAGMA application_id").fetchone()[0]
                tables = probe.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            finally:
                probe.close()
        except sqlite3.Error as exc:
            raise self._not_ours(f"it is damaged: {exc}") from exc
        if app_id == APPLICATION_ID:
            return False
        if tables:
            raise self._not_ours("it is an SQLite database with other tables")
        return True

    def _open_sync(self) -> None:
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise StorageError(
                f"SQLite {sqlite3.sqlite_version} is too old for {self.path}: powermonitor needs "
                f"{'.'.join(map(str, MIN_SQLITE))} or newer (Python's sqlite3 module links it)"
            )
        fresh = True
        if not self.memory:
            p = Path(self.path)
            if p.exists():
                fresh = self._inspect()
            else:
                try:
                    p.parent.mkdir(parents=True, exist_ok=True)
                    # private from the start (SQLite gives -wal/-shm the same mode): readings
                    # say when someone is home
                    os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise StorageError(
                        f"cannot create {self.path}: {exc.strerror or exc}"
                    ) from exc
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._error("open", exc) from exc
        self._conn = conn
        try:
            found = self._version(conn, fresh)
            todo = pending(SQLITE_MIGRATIONS, found, self.path)
            if found:
                self._probe(conn)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            if todo:
                self._migrate(conn)
            self._check_timezone(conn)
            self._forget_days(None)
            self._names = dict(conn.execute("SELECT device_id, name FROM devices").fetchall())
        except sqlite3.Error as exc:
            self._close_sync()
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            if code in (_CORRUPT, _NOTADB):
                raise self._not_ours(f"it is damaged: {exc}") from exc
            raise self._error("open", exc) from exc
        except BaseException:
            self._close_sync()
            raise

    def _version(self, conn: sqlite3.Connection, fresh: bool) -> int:
        has = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        if not has:
            if not fresh:
                raise self._not_ours("its schema_version table is missing: damaged?")
            return 0
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _probe(self, conn: sqlite3.Connection) -> None:
        """Touch the first and last row of every table: catches most damaged or cut files."""
        for table, key in (
            ("devices", "device_id"),
            ("counters", "device_id"),
            ("samples", "device_id, ts"),
            ("rollup_1m", "device_id, bucket_start"),
            ("rollup_1h", "device_id, bucket_start"),
            ("rollup_1d", "device_id, bucket_start"),
        ):
            desc = ", ".join(f"{k.strip()} DESC" for k in key.split(","))
            conn.execute(f"SELECT * FROM {table} ORDER BY {key} LIMIT 1").fetchall()
            conn.execute(f"SELECT * FROM {table} ORDER BY {desc} LIMIT 1").fetchall()

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with self._immediate(conn):
            found = self._version(conn, True)  # another process may have migrated meanwhile
            for m in pending(SQLITE_MIGRATIONS, found, self.path):
                for statement in m.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version VALUES (?, ?, ?)",
                    (m.version, int(time.time()), m.description),
                )
                log.info(
                    "%s: schema migrated to version %d (%s)", self.path, m.version, m.description
                )

    def _check_timezone(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'timezone'").fetchone()
        if row is not None and row[0] == self.timezone:
            return
        with self._immediate(conn):
            row = conn.execute("SELECT value FROM meta WHERE key = 'timezone'").fetchone()
            if row is not None and row[0] != self.timezone:
                self._rebuild_days(conn, row[0])
            conn.execute(
                "INSERT INTO meta VALUES ('timezone', ?) ON CONFLICT (key) DO UPDATE"
                " SET value = excluded.value",
                (self.timezone,),
            )

    def _rebuild_days(self, conn: sqlite3.Connection, old: str) -> None:
        rebuild = days_rebuild(conn.execute(HOURS_SQL).fetchall(), self._cal)
        if rebuild is not None:
            first, days = rebuild
            conn.execute(_SQL.delete_days_from(), (first,))
            conn.executemany(_UPSERT_ROLLUP["1d"], days)
        log_days_rebuilt(log, str(self.path), old, self.timezone)

    @classmethod
    @contextlib.contextmanager
    def _immediate(cls, conn: sqlite3.Connection) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error: the one transaction
        shape of this store (the write lock is taken up front, so writers queue)."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            cls._rollback(conn)
            raise

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    # ------------------------------------------------------------------ writes

    async def write(self, samples: Sequence[Sample], names: dict[str, str]) -> None:
        if not samples and not names:
            return
        await self._run(self._write_sync, list(samples), dict(names), (None, None))

    async def backfill(
        self, samples: Sequence[Sample], names: dict[str, str], *, now: float | None = None
    ) -> None:
        """See :meth:`Store.backfill <powermonitor.storage.base.Store.backfill>`."""
        floors = retention_floors(self.retention, self._cal, time.time() if now is None else now)
        await self._run(self._write_sync, list(samples), dict(names), floors)

    def _write_sync(
        self, samples: list[Sample], names: dict[str, str], floors: tuple[int | None, int | None]
    ) -> None:
        conn = self._db()
        plan = plan_batch(samples, self._cal, *floors)
        try:
            with self._immediate(conn):
                before = conn.total_changes
                conn.executemany(_INSERT_SAMPLES, plan.rows())
                if conn.total_changes - before != plan.row_count:  # duplicates: redo without
                    conn.execute("ROLLBACK")
                    conn.execute("BEGIN IMMEDIATE")
                    fresh = only_new(samples, self._absent(conn, plan.rows()))
                    plan = plan_batch(fresh, self._cal, *floors)
                    conn.executemany(_INSERT_SAMPLES, plan.rows())
                for tier in TIERS:
                    conn.executemany(_UPSERT_ROLLUP[tier], plan.rollups[tier])
                conn.executemany(_UPSERT_COUNTER, plan.counters)
                renamed = [(d, n) for d, n in names.items() if self._names.get(d) != n]
                conn.executemany(_UPSERT_NAME, renamed)
                unnamed = [
                    (c[0], c[0])
                    for c in plan.counters
                    if c[0] not in self._names and c[0] not in names
                ]
                conn.executemany(_INSERT_DEVICE, unnamed)
        except sqlite3.Error as exc:
            raise self._error("write to", exc) from exc
        self._names.update(renamed)
        for dev, _ in unnamed:
            self._names.setdefault(dev, dev)
        days = plan.rollups["1d"]
        if days and self._day_cache:
            self._forget_days(min(int(r[1]) for r in days))  # type: ignore[call-overload]

    @staticmethod
    def _absent(
        conn: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]
    ) -> Callable[[str, int], bool]:
        spans: dict[str, list[int]] = {}
        for row in rows:
            span = spans.setdefault(row[0], [row[1], row[1]])
            span[0] = min(span[0], row[1])
            span[1] = max(span[1], row[1])
        stored: set[tuple[str, int]] = set()
        for dev, (lo, hi) in spans.items():
            for (ts,) in conn.execute(
                "SELECT ts FROM samples WHERE device_id = ? AND ts BETWEEN ? AND ?", (dev, lo, hi)
            ):
                stored.add((dev, ts))
        return lambda dev, ts: (dev, ts) not in stored

    # ------------------------------------------------------------------ reads

    def _query(self, sql: str, args: Sequence[Any]) -> list[Any]:
        try:
            return self._db().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise self._error("read", exc) from exc

    async def counters(self) -> dict[str, Counter]:
        rows = await self._run(self._query, "SELECT * FROM counters", ())
        return {r[0]: counter_from_row(r) for r in rows}

    async def devices(self) -> list[DeviceRow]:
        rows = await self._run(self._query, "SELECT device_id, name FROM devices ORDER BY 1", ())
        return [DeviceRow(d, n) for d, n in rows]

    async def energy(
        self, by: Period, since: float, until: float, device_ids: Sequence[str] | None = None
    ) -> list[EnergyRow]:
        return await self._run(self._energy_sync, by, since, until, device_ids)

    def _energy_sync(
        self, by: Period, since: float, until: float, device_ids: Sequence[str] | None
    ) -> list[EnergyRow]:
        lo, hi = self._cal.span(by, to_ms(since), to_ms(until))
        if device_ids is not None and not device_ids:
            return []
        if by == "day":
            return self._days_cached(lo, hi, device_ids)
        return self._energy_rows(by, lo, hi, device_ids)

    def _energy_rows(
        self, by: Period, lo: int, hi: int, device_ids: Sequence[str] | None
    ) -> list[EnergyRow]:
        """Hours and days: one primary-key range per plug, a query each, so the plug's id is not
        read and decoded again for every row (a year of days is 18,000 rows for 50 plugs, and
        the per-value cost of the driver is most of the time: bench/README.md, "Storage")."""
        if by in ("hour", "day"):
            table, end = ENERGY_TABLES[by]
            sql = (
                f"SELECT r.bucket_start / 1000.0, ({end}) / 1000.0, r.wh, r.cost, r.covered_s,"
                f" r.uncovered_s FROM {table} r WHERE r.device_id = ? AND r.bucket_start >= ?"
                " AND r.bucket_start < ? ORDER BY r.bucket_start"
            )
            if device_ids is None:
                devices = [d for (d,) in self._query("SELECT device_id FROM devices ORDER BY 1", ())]
            else:
                devices = sorted(set(device_ids))
            out: list[EnergyRow] = []
            with gc_paused():  # many small objects, no cycles (see gc_paused)
                for dev in devices:
                    rows = self._query(sql, (dev, lo, hi))
                    out += map(_TUPLE_NEW, repeat(EnergyRow), map(add, repeat((dev,)), rows))
            return out
        # weeks and months: the database sums local days via a day → period map;
        # ``device_id IN (...)`` makes each plug's days one range of the primary key
        where = "r.bucket_start >= ? AND r.bucket_start < ? AND r.device_id IN "
        if device_ids is None:
            where += "(SELECT device_id FROM devices)"
        else:
            where += f"({','.join('?' * len(device_ids))})"
        self._load_periods(by, lo, hi)
        sql = (
            "SELECT r.device_id, p.ps / 1000.0, p.pe / 1000.0, total(r.wh), total(r.cost),"
            " total(r.covered_s), total(r.uncovered_s)"
            " FROM rollup_1d r JOIN temp.periods p ON p.day = r.bucket_start"
            f" WHERE {where} GROUP BY r.device_id, p.ps ORDER BY r.device_id, p.ps"
        )
        args: list[Any] = [lo, hi, *(device_ids or ())]
        return list(map(_TUPLE_NEW, repeat(EnergyRow), self._query(sql, args)))

    def _load_periods(self, by: Period, lo: int, hi: int) -> None:
        conn = self._db()
        try:
            conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS periods"
                " (day INTEGER PRIMARY KEY, ps INTEGER NOT NULL, pe INTEGER NOT NULL)"
            )
            conn.execute("DELETE FROM temp.periods")
            conn.executemany(
                "INSERT INTO temp.periods VALUES (?, ?, ?)", period_map(by, lo, hi, self._cal)
            )
        except sqlite3.Error as exc:
            raise self._error("read", exc) from exc

    def _days_cached(self, lo: int, hi: int, device_ids: Sequence[str] | None) -> list[EnergyRow]:
        """Local-day rows, with the days before today served from a small cache.

        Days before today rarely change, so repeated dashboard queries reuse their rows and read
        only today's. An entry is dropped when this store writes into one of its days (a late
        sample), purges or rebuilds days, and the whole cache when another connection has
        committed (``PRAGMA data_version``)."""
        conn = self._db()
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._day_cache.clear()
            self._data_version = version
        cut = min(hi, self._cal.day(to_ms(time.time()))[0])
        if cut <= lo:
            return self._energy_rows("day", lo, hi, device_ids)
        key = (lo, cut, None if device_ids is None else tuple(device_ids))
        closed = self._day_cache.pop(key, None)
        if closed is None:
            closed = self._energy_rows("day", lo, cut, device_ids)
        if len(closed) <= _DAY_CACHE_ROWS:
            self._day_cache[key] = closed  # most recently used last
            while len(self._day_cache) > _DAY_CACHE_ENTRIES:
                del self._day_cache[next(iter(self._day_cache))]
        if cut >= hi:
            return list(closed)  # a copy: the cached list stays as it is
        return _by_device(closed, self._energy_rows("day", cut, hi, device_ids))

    def _forget_days(self, since_ms: int | None) -> None:
        """Drop cached day rows from ``since_ms`` on (None: all): this store changed them."""
        if since_ms is None:
            self._day_cache.clear()
            return
        for key in [k for k in self._day_cache if k[1] > since_ms]:
            del self._day_cache[key]

    async def history(
        self, device_id: str, since: float, until: float, resolution: Resolution
    ) -> list[SeriesPoint]:
        sql = _SQL.history(resolution)
        lo = self._cal.floor(resolution, to_ms(since))
        rows = await self._run(self._query, sql, (device_id, lo, to_ms(until)))
        return list(starmap(SeriesPoint, rows))

    # ------------------------------------------------------------------ retention

    async def purge(self, now: float) -> int:
        """Delete rows older than each tier's retention, in chunks (one transaction each, so
        writes interleave); return the number of rows removed."""
        devices = [d for (d,) in await self._run(self._query, DEVICES_SQL, ())]
        plan = purge_plan(self.retention, self._cal, now)

        async def delete_chunk(table: str, key: str, device: str, cutoff: int) -> int:
            return await self._run(self._purge_chunk, table, key, device, cutoff)

        return await purge_in_chunks(plan, devices, delete_chunk, self.purge_chunk)

    def _purge_chunk(self, table: str, key: str, dev: str, cutoff: int) -> int:
        conn = self._db()
        try:
            row = conn.execute(
                _SQL.purge_bound(table, key), (dev, cutoff, self.purge_chunk - 1)
            ).fetchone()
            bound = cutoff if row is None else row[0] + 1
            cur = conn.execute(_SQL.purge_delete(table, key), (dev, bound))
            if table == "rollup_1d" and cur.rowcount:
                self._forget_days(None)
            return cur.rowcount
        except sqlite3.Error as exc:
            raise self._error("purge", exc) from exc

    # ------------------------------------------------------------------ extras

    async def check(self) -> str:
        """``PRAGMA quick_check`` (reads the whole file): ``"ok"`` or SQLite's findings."""
        rows = await self._run(self._query, "PRAGMA quick_check", ())
        return "\n".join(str(r[0]) for r in rows)

    async def transact(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        """Run ``?``-parameter statements in ONE transaction; the rows of each (for small
        additive tables such as alerts and cycles, in portable SQL: see insight/store.py)."""
        return await self._run(self._transact_sync, list(statements))

    def _transact_sync(self, statements: list[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        conn = self._db()
        try:
            with self._immediate(conn):
                out = [conn.execute(sql, tuple(args)).fetchall() for sql, args in statements]
        except sqlite3.Error as exc:
            raise self._error("write to", exc) from exc
        return out
