"""PostgreSQL backend (asyncpg): one database shared by several collectors.

Design rules:

- **Same numbers as SQLite.** Rows, rollup increments and counter updates come from the same
  planner (``rollup.plan_batch``); only the SQL differs. Times are BIGINT milliseconds (UTC);
  in Grafana use ``to_timestamp(ts / 1000.0)``.
- **Own schema.** Tables live in a PostgreSQL schema (default ``powermonitor``), so the database
  can be shared with other applications; a schema that holds foreign tables is refused.
- **Safe for concurrent writers.** Every write is one transaction whose updates commute: samples
  are ``INSERT .. ON CONFLICT DO NOTHING`` (a duplicate adds nothing: only rows the insert
  RETURNs feed the rollups), rollups add sums and take LEAST/GREATEST, counters take
  ``GREATEST(total_wh)`` and add cost. Rows are written in key order so two writers lock in the
  same order; a deadlock or serialization failure is retried. Each plug must be OWNED by one
  collector: two collectors integrating the same plug would both add its energy.
- **TimescaleDB when present.** ``open`` tries ``CREATE EXTENSION IF NOT EXISTS timescaledb``;
  if that works, ``samples`` becomes a hypertable (7-day chunks on ``ts``) and retention drops
  whole chunks. Without the extension (or the right to create it) plain tables are used. The
  Timescale path is not exercised by the tests (the extension is not packaged for Debian 12).
- Migrations run under a transaction-scoped advisory lock, so collectors starting together
  migrate once.

The table description, the history queries and the retention plan are shared with SQLite
(tables.py, with this backend's dialect hooks). Longer than ~500 lines because what remains is
PostgreSQL only (pool, unnest bulk writes, TimescaleDB, error wording) and reads as one unit.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from itertools import starmap
from operator import itemgetter
from types import ModuleType
from typing import Any, Self
from urllib.parse import urlsplit

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
    Plan,
    SampleRow,
    only_new,
    period_map,
    plan_batch,
    retention_floors,
    to_ms,
)
from .schema import POSTGRES_MIGRATIONS, TIERS, pending
from .tables import (
    DAY_MS,
    DEVICES_SQL,
    ENERGY_TABLES,
    HOURS_SQL,
    ROLLUP_COLUMNS,
    SAMPLE_COLUMNS,
    Dialect,
    counter_from_row,
    days_rebuild,
    log_days_rebuilt,
    purge_in_chunks,
    purge_plan,
)

log = logging.getLogger(__name__)

CHUNK_MS = 7 * DAY_MS  # TimescaleDB chunk interval for samples
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _unnest(columns: Sequence[tuple[str, str]]) -> str:
    args = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(columns, 1))
    return f"({', '.join(c for c, _ in columns)}) SELECT * FROM unnest({args})"


_INSERT_SAMPLES = (
    f"INSERT INTO samples {_unnest(SAMPLE_COLUMNS)} ON CONFLICT DO NOTHING RETURNING device_id, ts"
)


def _upsert_rollup(tier: str) -> str:
    head = [("device_id", "text"), ("bucket_start", "bigint")]
    if tier == "1d":
        head.append(("bucket_end", "bigint"))
    t = f"rollup_{tier}"
    sets = []
    for c, _ in ROLLUP_COLUMNS:
        if c == "power_min":
            sets.append(f"{c} = LEAST({t}.{c}, excluded.{c})")
        elif c == "power_max":
            sets.append(f"{c} = GREATEST({t}.{c}, excluded.{c})")
        else:
            sets.append(f"{c} = {t}.{c} + excluded.{c}")
    return (
        f"INSERT INTO {t} {_unnest(head + list(ROLLUP_COLUMNS))}"
        f" ON CONFLICT (device_id, bucket_start) DO UPDATE SET {', '.join(sets)}"
    )


_UPSERT_ROLLUP = {tier: _upsert_rollup(tier) for tier in TIERS}
_UPSERT_COUNTERS = f"""
INSERT INTO counters {
    _unnest(
        [
            ("device_id", "text"),
            ("total_wh", "float8"),
            ("total_cost", "float8"),
            ("last_ts", "bigint"),
            ("last_power_w", "float8"),
        ]
    )
}
ON CONFLICT (device_id) DO UPDATE SET
    total_wh = GREATEST(counters.total_wh, excluded.total_wh),
    total_cost = counters.total_cost + excluded.total_cost,
    last_power_w = CASE WHEN counters.last_ts IS NULL OR excluded.last_ts >= counters.last_ts
                        THEN excluded.last_power_w ELSE counters.last_power_w END,
    last_ts = GREATEST(counters.last_ts, excluded.last_ts)"""
_UPSERT_NAMES = (
    "INSERT INTO devices (device_id, name) SELECT * FROM unnest($1::text[], $2::text[])"
    " ON CONFLICT (device_id) DO UPDATE SET name = excluded.name"
)
_INSERT_DEVICES = (
    "INSERT INTO devices (device_id, name) SELECT d, d FROM unnest($1::text[]) AS d"
    " ON CONFLICT DO NOTHING"
)
_SQL = Dialect(marker=lambda i: f"${i}", seconds="{}::float8 / 1000", integer="{}::int")


def _asyncpg() -> ModuleType:
    try:
        import asyncpg  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise StorageError(
            "PostgreSQL support needs the asyncpg package: "
            "pip install 'tuya-powermonitor[postgres]'"
        ) from exc
    mod: ModuleType = asyncpg
    return mod


def _dollar(sql: str) -> str:
    """``?`` placeholders (portable SQL, see Store.transact) as PostgreSQL's ``$1, $2, ...``."""
    parts = sql.split("?")
    return "".join(p + (_SQL.marker(i + 1) if i < len(parts) - 1 else "")
                   for i, p in enumerate(parts))


def redact_dsn(dsn: str) -> str:
    """``user@host:port/db`` for messages and logs: never the password or query options."""
    try:
        u = urlsplit(dsn)
        host = u.hostname or "localhost"
        port = u.port or 5432
    except ValueError:
        return "<unparsable PostgreSQL URL>"
    user = f"{u.username}@" if u.username else ""
    db = u.path.lstrip("/") or (u.username or "")
    return f"{user}{host}:{port}/{db}"


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    if not rows:
        return [[] for _ in range(width)]
    return [list(c) for c in zip(*rows, strict=True)]


class PostgresStore:
    """The :class:`~powermonitor.storage.base.Store` on a PostgreSQL database."""

    def __init__(
        self,
        dsn: str,
        *,
        timezone: str = "UTC",
        retention: Retention = DEFAULT_RETENTION,
        schema: str = "powermonitor",
        connect_timeout: float = 10.0,
        pool_size: int = 4,
        purge_chunk: int = 10_000,
    ) -> None:
        if not _IDENT.fullmatch(schema):
            raise StorageError(f"invalid PostgreSQL schema name {schema!r} (letters, digits, _)")
        self.dsn = dsn
        self.where = redact_dsn(dsn)
        self.timezone = timezone
        self.retention = retention
        self.schema = schema
        self.connect_timeout = connect_timeout
        self.pool_size = pool_size
        self.purge_chunk = purge_chunk
        self.timescale = False
        self._cal = Calendar(timezone)
        self._pg: ModuleType | None = None
        self._pool: Any = None
        self._names: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"PostgresStore({self.where!r}, schema={self.schema!r}, timezone={self.timezone!r})"

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ plumbing

    def _errors(self) -> tuple[type[BaseException], ...]:
        pg = self._pg or _asyncpg()
        return (pg.PostgresError, pg.InterfaceError, OSError, TimeoutError)

    def _error(self, doing: str, exc: BaseException) -> StorageError:
        detail = str(exc).strip() or type(exc).__name__
        if isinstance(exc, TimeoutError):
            detail = f"no answer within {self.connect_timeout:g} s"
        return StorageError(f"cannot {doing} PostgreSQL at {self.where}: {detail}")

    def _acquire(self) -> Any:
        if self._pool is None:
            raise StorageError(f"PostgreSQL at {self.where}: the store is not open")
        return self._pool.acquire()

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        try:
            async with self._acquire() as conn:
                rows: list[Any] = await conn.fetch(sql, *args)
                return rows
        except self._errors() as exc:
            raise self._error("read from", exc) from exc

    # ------------------------------------------------------------------ open / close

    async def open(self) -> None:
        if self._pool is not None:
            return
        pg = self._pg = _asyncpg()
        errors: tuple[type[BaseException], ...] = (*self._errors(), ValueError)
        try:
            pool = await pg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self.pool_size,
                timeout=self.connect_timeout,
                server_settings={
                    "search_path": f'"{self.schema}", public',
                    "application_name": "powermonitor",
                },
            )
        except errors as exc:
            raise self._error("connect to", exc) from exc
        self._pool = pool
        try:
            async with pool.acquire() as conn:
                await self._migrate(conn)
                self.timescale = await self._timescale(conn)
                self._names = {r[0]: r[1] for r in await conn.fetch("SELECT * FROM devices")}
        except BaseException as exc:
            self._pool = None
            await self._terminate(pool)
            if isinstance(exc, self._errors()):
                raise self._error("open the database on", exc) from exc
            raise

    @staticmethod
    async def _terminate(pool: Any) -> None:
        try:
            await asyncio.wait_for(pool.close(), 5.0)
        except asyncio.CancelledError:
            pool.terminate()
            raise
        except Exception:
            log.debug("PostgreSQL pool did not close cleanly: terminated", exc_info=True)
            pool.terminate()

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await self._terminate(pool)

    async def _migrate(self, conn: Any) -> None:
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"powermonitor:{self.schema}"
            )
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            where = f"schema {self.schema} of {self.where}"
            if await conn.fetchval("SELECT to_regclass($1)", f'"{self.schema}".schema_version'):
                found = int(
                    await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
                )
            else:
                others = await conn.fetchval(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = $1", self.schema
                )
                if others:
                    raise StorageError(
                        f"{where} is not a powermonitor database: it holds {others} tables that "
                        "are not powermonitor's; choose another schema (or database)"
                    )
                found = 0
            for m in pending(POSTGRES_MIGRATIONS, found, where):
                for statement in m.statements:
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_version VALUES ($1, $2, $3)",
                    m.version,
                    int(time.time()),
                    m.description,
                )
                log.info("%s: schema migrated to version %d (%s)", where, m.version, m.description)
            old = await conn.fetchval("SELECT value FROM meta WHERE key = 'timezone'")
            if old is not None and old != self.timezone:
                await self._rebuild_days(conn, old)
            if old != self.timezone:
                await conn.execute(
                    "INSERT INTO meta VALUES ('timezone', $1) ON CONFLICT (key) DO UPDATE"
                    " SET value = excluded.value",
                    self.timezone,
                )

    async def _rebuild_days(self, conn: Any, old: str) -> None:
        rebuild = days_rebuild(await conn.fetch(HOURS_SQL), self._cal)
        if rebuild is not None:
            first, days = rebuild
            await conn.execute(_SQL.delete_days_from(), first)
            await conn.execute(_UPSERT_ROLLUP["1d"], *_columns(days, 16))
        log_days_rebuilt(log, self.where, old, self.timezone)

    async def _timescale(self, conn: Any) -> bool:
        pg = self._pg
        assert pg is not None
        try:
            async with conn.transaction():
                await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb WITH SCHEMA public")
        except pg.PostgresError as exc:
            log.debug("%s: TimescaleDB not available (%s): plain tables", self.where, exc)
            return False
        try:
            async with conn.transaction():
                await conn.execute(
                    "SELECT create_hypertable($1::regclass, 'ts',"
                    " chunk_time_interval => $2::bigint,"
                    " migrate_data => true, if_not_exists => true)",
                    f'"{self.schema}".samples',
                    CHUNK_MS,
                )
        except pg.PostgresError as exc:
            log.warning(
                "%s: TimescaleDB is installed but samples could not become a "
                "hypertable (%s): using a plain table",
                self.where,
                exc,
            )
            return False
        return True

    # ------------------------------------------------------------------ writes

    async def _plan(self, samples: Sequence[Sample], floors: tuple[int | None, int | None]) -> Plan:
        if len(samples) > 500:  # keep the event loop free of long CPU bursts
            return await asyncio.to_thread(plan_batch, samples, self._cal, *floors)
        return plan_batch(samples, self._cal, *floors)

    async def write(self, samples: Sequence[Sample], names: dict[str, str]) -> None:
        await self._write(list(samples), dict(names), (None, None))

    async def backfill(
        self, samples: Sequence[Sample], names: dict[str, str], *, now: float | None = None
    ) -> None:
        """See :meth:`Store.backfill <powermonitor.storage.base.Store.backfill>`."""
        floors = retention_floors(self.retention, self._cal, time.time() if now is None else now)
        await self._write(list(samples), dict(names), floors)

    async def _write(
        self, samples: list[Sample], names: dict[str, str], floors: tuple[int | None, int | None]
    ) -> None:
        if not samples and not names:
            return
        plan = await self._plan(samples, floors)
        rows = sorted(plan.rows(), key=itemgetter(0, 1))  # lock order, see module doc
        pg = self._pg or _asyncpg()
        retry: tuple[type[BaseException], ...] = (pg.DeadlockDetectedError, pg.SerializationError)
        for attempt in range(5):
            try:
                renamed, unnamed = await self._write_once(samples, names, plan, rows, floors)
                break
            except retry as exc:
                if attempt == 4:
                    raise self._error("write to", exc) from exc
                await asyncio.sleep(0.02 * 2**attempt)
            except self._errors() as exc:
                raise self._error("write to", exc) from exc
        self._names.update(renamed)
        for dev in unnamed:
            self._names.setdefault(dev, dev)

    async def _write_once(
        self,
        samples: list[Sample],
        names: dict[str, str],
        plan: Plan,
        raw: list[SampleRow],
        floors: tuple[int | None, int | None],
    ) -> tuple[list[tuple[str, str]], list[str]]:
        async with self._acquire() as conn, conn.transaction():
            if raw:
                stored = await conn.fetch(_INSERT_SAMPLES, *_columns(raw, 10))
                if len(stored) != len(raw):  # duplicates: roll up only what was inserted
                    keys = {(r[0], r[1]) for r in stored}
                    lo = -(2**62) if floors[0] is None else floors[0]  # below: never stored raw
                    fresh = only_new(samples, lambda d, t: t < lo or (d, t) in keys)
                    plan = plan_batch(fresh, self._cal, *floors)
            for tier in TIERS:
                rows = plan.rollups.get(tier)
                if rows:
                    await conn.execute(_UPSERT_ROLLUP[tier], *_columns(rows, len(rows[0])))
            if plan.counters:
                await conn.execute(_UPSERT_COUNTERS, *_columns(plan.counters, 5))
            renamed = sorted((d, n) for d, n in names.items() if self._names.get(d) != n)
            if renamed:
                await conn.execute(_UPSERT_NAMES, *_columns(renamed, 2))
            unnamed = [c[0] for c in plan.counters if c[0] not in self._names and c[0] not in names]
            if unnamed:
                await conn.execute(_INSERT_DEVICES, unnamed)
        return renamed, unnamed

    # ------------------------------------------------------------------ reads

    async def counters(self) -> dict[str, Counter]:
        rows = await self._fetch("SELECT * FROM counters")
        return {r[0]: counter_from_row(r) for r in rows}

    async def devices(self) -> list[DeviceRow]:
        rows = await self._fetch("SELECT device_id, name FROM devices ORDER BY 1")
        return [DeviceRow(d, n) for d, n in rows]

    async def energy(
        self, by: Period, since: float, until: float, device_ids: Sequence[str] | None = None
    ) -> list[EnergyRow]:
        lo, hi = self._cal.span(by, to_ms(since), to_ms(until))
        if device_ids is not None and not device_ids:
            return []
        # the plugs drive the loop: one primary-key range per plug, not a scan of the table
        where = "r.device_id = d.device_id AND r.bucket_start >= $1 AND r.bucket_start < $2"
        args: list[Any] = [lo, hi]
        if device_ids is not None:
            where += " AND d.device_id = ANY($3::text[])"
            args.append(list(device_ids))
        if by in ("hour", "day"):
            table, end = ENERGY_TABLES[by]
            sql = (
                f"SELECT r.device_id, r.bucket_start::float8 / 1000, ({end})::float8 / 1000,"
                f" r.wh, r.cost, r.covered_s, r.uncovered_s FROM devices d"
                f" JOIN {table} r ON {where} ORDER BY d.device_id, r.bucket_start"
            )
        else:  # weeks and months: the database sums local days via a day → period map
            n = len(args)
            sql = (
                "SELECT r.device_id, p.ps::float8 / 1000, p.pe::float8 / 1000, sum(r.wh),"
                " sum(r.cost), sum(r.covered_s), sum(r.uncovered_s) FROM devices d"
                f" JOIN rollup_1d r ON {where}"
                f" JOIN unnest(${n + 1}::bigint[], ${n + 2}::bigint[], ${n + 3}::bigint[])"
                " AS p(day, ps, pe) ON p.day = r.bucket_start"
                " GROUP BY r.device_id, p.ps, p.pe ORDER BY r.device_id, p.ps"
            )
            args += _columns(period_map(by, lo, hi, self._cal), 3)
        return list(starmap(EnergyRow, await self._fetch(sql, *args)))

    async def history(
        self, device_id: str, since: float, until: float, resolution: Resolution
    ) -> list[SeriesPoint]:
        sql = _SQL.history(resolution)
        lo = self._cal.floor(resolution, to_ms(since))
        return list(starmap(SeriesPoint, await self._fetch(sql, device_id, lo, to_ms(until))))

    # ------------------------------------------------------------------ retention

    async def purge(self, now: float) -> int:
        """Delete rows older than each tier's retention, in chunks of ``purge_chunk`` rows per
        transaction (TimescaleDB: whole old chunks of samples are dropped first)."""
        devices = [row[0] for row in await self._fetch(DEVICES_SQL)]
        plan = purge_plan(self.retention, self._cal, now)

        async def drop_old_chunks(table: str, cutoff: int) -> None:
            if table == "samples" and self.timescale:
                await self._drop_chunks(cutoff)

        return await purge_in_chunks(plan, devices, self._purge_chunk, self.purge_chunk,
                                     before=drop_old_chunks)

    async def _drop_chunks(self, cutoff: int) -> None:
        try:
            async with self._acquire() as conn:
                await conn.execute(
                    "SELECT drop_chunks($1::regclass, older_than => $2::bigint)",
                    f'"{self.schema}".samples',
                    cutoff,
                )
        except self._errors() as exc:
            raise self._error("purge", exc) from exc

    async def _purge_chunk(self, table: str, key: str, dev: str, cutoff: int) -> int:
        try:
            async with self._acquire() as conn:
                bound = await conn.fetchval(
                    _SQL.purge_bound(table, key), dev, cutoff, self.purge_chunk - 1
                )
                limit = cutoff if bound is None else bound + 1
                status: str = await conn.execute(_SQL.purge_delete(table, key), dev, limit)
        except self._errors() as exc:
            raise self._error("purge", exc) from exc
        return int(status.split()[-1])

    async def transact(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        """Run ``?``-parameter statements in ONE transaction (``?`` becomes ``$n``)."""
        try:
            async with self._acquire() as conn, conn.transaction():
                out = []
                for sql, args in statements:
                    out.append([tuple(r) for r in await conn.fetch(_dollar(sql), *args)])
                return out
        except self._errors() as exc:
            raise self._error("write to", exc) from exc
