"""Fixtures for the storage suite: every test runs against SQLite AND a real PostgreSQL.

The PostgreSQL server is Debian's (``apt-get install postgresql``), started once per session by
``initdb`` + ``pg_ctl`` in a temporary directory, listening on 127.0.0.1 at a free port with its
socket in that directory, run as the ``postgres`` user when the tests run as root. Each test gets
its own PostgreSQL schema, dropped afterwards. Without the server binaries the PostgreSQL cases
are skipped, except under CI (``CI`` set), where that is an error.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from powermonitor.storage.base import DEFAULT_RETENTION, Retention, Store
from powermonitor.storage.postgres import PostgresStore
from powermonitor.storage.sqlite import SqliteStore

StoreFactory = Callable[..., Awaitable[Any]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pg_bin() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """DSN of a throw-away PostgreSQL server for the whole session."""
    bindir = _pg_bin()
    if bindir is None:
        msg = "PostgreSQL server binaries not found (apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    base = Path(tempfile.mkdtemp(prefix="powermonitor-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres", "postgres")
    data, log = base / "data", base / "server.log"
    port = _free_port()
    subprocess.run(
        [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    opts = (
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off"
    )
    subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-o",
            opts,
            "-w",
            "-t",
            "60",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


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
