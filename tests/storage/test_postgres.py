"""PostgreSQL specifics: unreachable servers, foreign schemas, DSNs in messages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]
import pytest

from powermonitor.errors import StorageError
from powermonitor.storage.postgres import PostgresStore, redact_dsn
from powermonitor.storage.schema import SCHEMA_VERSION

from .util import series


async def test_unreachable_server_is_a_clear_storage_error(refused_port: int) -> None:
    port = refused_port
    store = PostgresStore(f"postgresql://pm:s3cret@127.0.0.1:{port}/energy", connect_timeout=5)
    with pytest.raises(StorageError) as info:
        await store.open()
    msg = str(info.value)
    assert msg.startswith(f"cannot connect to PostgreSQL at pm@127.0.0.1:{port}/energy: ")
    assert "s3cret" not in msg and "s3cret" not in repr(store)
    assert info.value.exit_code == 9


async def test_missing_database_is_a_clear_storage_error(pg_dsn: str) -> None:
    dsn = pg_dsn.rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(
        StorageError, match='cannot connect to PostgreSQL at .*/no_such_db: .*"no_such_db"'
    ):
        await PostgresStore(dsn).open()


@pytest.fixture
async def scratch_schema(pg_dsn: str) -> AsyncIterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield schema
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def test_schema_with_foreign_tables_is_refused(pg_dsn: str, scratch_schema: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute(f'CREATE SCHEMA "{scratch_schema}"')
        await conn.execute(f'CREATE TABLE "{scratch_schema}".samples (x int)')
    finally:
        await conn.close()
    with pytest.raises(StorageError, match=f"schema {scratch_schema} of .* is not a powermonitor"):
        await PostgresStore(pg_dsn, schema=scratch_schema).open()


async def test_plain_tables_without_timescaledb(pg_dsn: str, scratch_schema: str) -> None:
    async with PostgresStore(pg_dsn, schema=scratch_schema) as store:
        assert store.timescale is False  # Debian's PostgreSQL has no TimescaleDB
        await store.write(series("p", 0.0, 3), {})
        version = await store._fetch("SELECT max(version) FROM schema_version")
        assert version[0][0] == SCHEMA_VERSION


async def test_two_collectors_migrate_once(pg_dsn: str, scratch_schema: str) -> None:
    import asyncio

    stores = [PostgresStore(pg_dsn, schema=scratch_schema) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        rows = await stores[0]._fetch("SELECT count(*) FROM schema_version")
        assert rows[0][0] == SCHEMA_VERSION  # each migration recorded once
    finally:
        await asyncio.gather(*(s.close() for s in stores))


def test_bad_schema_name_and_dsn_redaction() -> None:
    with pytest.raises(StorageError, match="invalid PostgreSQL schema name"):
        PostgresStore("postgresql://x@h/db", schema="a; DROP TABLE x")
    assert redact_dsn("postgresql://u:pw@db.lan:5433/pm?sslmode=require&password=x") == (
        "u@db.lan:5433/pm"
    )
    assert redact_dsn("postgresql:///pm") == "localhost:5432/pm"


async def test_insight_tables_share_portable_sql(pg_dsn: str, scratch_schema: str) -> None:
    """Cycles and the alert outbox run the same ``?`` SQL on PostgreSQL as on SQLite."""
    from powermonitor.alerts.events import AlertEvent
    from powermonitor.insight.cycles import Cycle
    from powermonitor.insight.store import InsightStore

    async with PostgresStore(pg_dsn, schema=scratch_schema) as store:
        insight = InsightStore(store)
        await insight.save_cycle(Cycle("p", 10.0, 70.0, 5.0, 0.01, 900.0))
        assert [c.wh for c in await insight.cycles("p", 0, 100)] == [5.0]
        event = AlertEvent("a", "P", "p", "finished", 70.0, notify=("hook",))
        assert await insight.enqueue(event, event.notify, 70.0) is True
        assert await insight.enqueue(event, event.notify, 70.0) is False  # de-duplicated
        (due,) = await insight.due(71.0)
        await insight.failed(due.event_id, due.channel, 80.0, "down")
        assert await insight.due(75.0) == [] and await insight.next_due() == 80.0
        await insight.delivered(due.event_id, due.channel, 81.0)
        (logged,) = await insight.recent()
        assert logged["deliveries"] == [{"channel": "hook", "attempts": 2, "delivered": True,
                                         "error": None}]
