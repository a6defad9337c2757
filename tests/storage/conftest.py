"""Fixtures for the storage suite: every test runs against SQLite AND a real PostgreSQL.

The PostgreSQL server is ``pg_dsn`` (tests/conftest.py: tests/storage/pgserver.py's throw-away
server, once per session). Each test gets its own PostgreSQL schema, dropped afterwards. Without
the server binaries the PostgreSQL cases are skipped, except under CI (``CI`` set), where that is
an error.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from powermonitor.storage.base import DEFAULT_RETENTION, Retention, Store
from powermonitor.storage.postgres import PostgresStore
from powermonitor.storage.sqlite import SqliteStore

StoreFactory = Callable[..., Awaitable[Any]]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_store(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """``await make_store(timezone=..., retention=...)``: an OPEN store on this test's database
    (every call reaches the same SQLite file / PostgreSQL schema); all closed at teardown."""
    opened: list[Any] = []
    schema = f"t_{uuid.uuid4().hex[:12]}"
    dsn = request.getfixturevalue("pg_dsn") if backend == "postgres" else ""

    async def factory(timezone: str = "UTC", retention: Retention = DEFAULT_RETENTION) -> Any:
        s: SqliteStore | PostgresStore
        if backend == "sqlite":
            s = SqliteStore(tmp_path / "pm.db", timezone=timezone, retention=retention)
        else:
            s = PostgresStore(dsn, timezone=timezone, retention=retention, schema=schema)
        await s.open()
        opened.append(s)
        return s

    yield factory
    for s in opened:
        await s.close()
    if backend == "postgres":
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


@pytest.fixture
async def store(make_store: StoreFactory) -> Store:
    s: Store = await make_store()
    return s
