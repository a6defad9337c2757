"""SQLite specifics: files that are not ours, damaged files, a full disk, settings, threading."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import subprocess
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from powermonitor.errors import StorageError
from powermonitor.storage.sqlite import SqliteStore

from .util import at, series


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def _make_db(path: Path, days: int = 3) -> None:
    store = SqliteStore(path)
    await store.open()
    await store.write(series("p", at("2026-01-01 00:00"), days * 24 * 60), {"p": "Fridge"})
    await store.close()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"device_id,ts,power\nabc,1,2\n", "not an SQLite file"),
        (os.urandom(8192), "not an SQLite file"),
        (b"SQLite format 3\x00" + b"\xff" * 52 + bytes(4) + b"\xff" * 4024, "damaged"),
        (b"SQLite format 3\x00" + b"\xff" * 200, "another application"),
    ],
    ids=["csv", "random", "bad-header", "foreign-app-id"],
)
async def test_foreign_or_garbage_file_is_refused_untouched(
    tmp_path: Path, content: bytes, why: str
) -> None:
    path = tmp_path / "data.db"
    path.write_bytes(content)
    with pytest.raises(StorageError, match=f"{path} is not a powermonitor database.*{why}"):
        await SqliteStore(path).open()
    assert path.read_bytes() == content
    assert not (tmp_path / "data.db-wal").exists()


async def test_another_applications_sqlite_db_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE songs (title TEXT)")
        conn.commit()
    before = _digest(path)
    with pytest.raises(StorageError, match="not a powermonitor database.*other tables"):
        await SqliteStore(path).open()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA application_id = 1234")
        conn.commit()
    before = _digest(path)
    with pytest.raises(StorageError, match="another application, application_id 0x4d2"):
        await SqliteStore(path).open()
    assert _digest(path) == before


async def test_empty_file_and_missing_folders_become_a_new_database(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    deep = tmp_path / "a" / "b" / "pm.db"
    for path in (empty, deep):
        async with SqliteStore(path) as store:
            await store.write(series("p", 0.0, 2), {})
            assert len(await store.devices()) == 1


@pytest.mark.parametrize("damage", ["truncated", "scribbled"])
async def test_damaged_powermonitor_file_is_refused_untouched(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "pm.db"
    await _make_db(path)
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:  # overwrite the b-tree pages after the header page
        data[4096 : 4096 * 8] = os.urandom(4096 * 7)
    path.write_bytes(bytes(data))
    before = _digest(path)
    with pytest.raises(StorageError, match=f"{path} is not a powermonitor database.*damaged"):
        await SqliteStore(path).open()
    assert _digest(path) == before


async def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="is a directory"):
        await SqliteStore(tmp_path).open()


async def test_wal_settings_and_one_worker_thread(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "pm.db") as store:
        mode = await store._run(store._query, "PRAGMA journal_mode", ())
        sync = await store._run(store._query, "PRAGMA synchronous", ())
        busy = await store._run(store._query, "PRAGMA busy_timeout", ())
        assert mode == [("wal",)] and sync == [(1,)] and busy == [(5000,)]
        names = set()
        for _ in range(5):
            names.add(await store._run(lambda: threading.current_thread().name))
        await store.write(series("p", 0.0, 10), {})
        names.add(await store._run(lambda: threading.current_thread().name))
        assert len(names) == 1 and next(iter(names)).startswith("powermonitor-sqlite")
        assert threading.current_thread().name not in names
        assert await store.check() == "ok"


async def test_memory_database(tmp_path: Path) -> None:
    async with SqliteStore(":memory:") as store:
        await store.write(series("p", 0.0, 3), {})
        assert (await store.counters())["p"].total_wh == pytest.approx(5.0)


# ---------------------------------------------------------------------------- full disk


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (needs root and mount); skipped where that is not allowed."""
    mnt = tmp_path / f"tiny-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
        check=False,
        capture_output=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True)


async def _check_full_then_recovers(
    store: SqliteStore, free: Callable[[], Awaitable[object]]
) -> None:
    t0 = at("2026-01-01 00:00")
    first = series("p", t0, 60, step=60.0, price=0.3)
    await store.write(first, {"p": "Fridge"})
    counters = await store.counters()
    energy = await store.energy("day", t0, t0 + 86400)
    rest = series("p", first[-1].ts, 20000, step=1.0, price=0.3, total_wh=first[-1].total_wh)
    with pytest.raises(StorageError, match=r"cannot write to .*full"):
        await store.write(rest, {})
    # nothing half-written: counters, rollups and raw rows are exactly as before
    assert await store.counters() == counters
    assert await store.energy("day", t0, t0 + 86400) == energy
    assert len(await store.history("p", t0, t0 + 86400, "raw")) == 60
    await free()
    await store.write(rest[:300], {})
    assert (await store.counters())["p"].total_wh == pytest.approx(rest[299].total_wh)
    assert len(await store.history("p", t0, t0 + 86400, "raw")) == 360


async def test_full_disk_write_fails_cleanly_then_recovers(tiny_disk: Path) -> None:
    filler = tiny_disk / "filler"
    async with SqliteStore(tiny_disk / "pm.db") as store:
        await store.write(series("warmup", 0.0, 1), {})
        # take all but ~48 KiB of what is left
        st = os.statvfs(tiny_disk)
        filler.write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - 48 * 1024))

        async def free() -> None:
            filler.unlink()

        await _check_full_then_recovers(store, free)


async def test_database_size_limit_behaves_like_a_full_disk(tmp_path: Path) -> None:
    """The same guarantees where mounting is not possible: SQLite's own page limit."""
    async with SqliteStore(tmp_path / "pm.db") as store:
        await store.write(series("warmup", 0.0, 1), {})
        pages = (await store._run(store._query, "PRAGMA page_count", ()))[0][0]
        await store._run(store._query, f"PRAGMA max_page_count = {pages + 12}", ())

        async def free() -> None:
            await store._run(store._query, "PRAGMA max_page_count = 1000000", ())

        await _check_full_then_recovers(store, free)
