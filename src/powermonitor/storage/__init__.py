"""Storage of samples, energy counters and rollups behind one ``Store`` interface.

``open_store(target)`` picks the backend: a filesystem path (or ``sqlite:///path``) is the
embedded SQLite store, ``postgresql://user@host:port/db`` the PostgreSQL one. The store is
returned closed: ``await store.open()`` (or ``async with``) connects and migrates the schema.
All writes go through one :class:`StoreWriter`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

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
    Store,
)
from .writer import StoreWriter, WriterStats

__all__ = [
    "Counter",
    "DeviceRow",
    "EnergyRow",
    "Period",
    "Resolution",
    "Retention",
    "Sample",
    "SeriesPoint",
    "Store",
    "StoreWriter",
    "WriterStats",
    "default_db_path",
    "open_store",
]

_PG_SCHEMES = ("postgresql://", "postgres://")


def default_db_path() -> Path:
    """``$XDG_DATA_HOME/powermonitor/powermonitor.db`` (``~/.local/share/...`` by default)."""
    base = os.environ.get("XDG_DATA_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "share"
    return root / "powermonitor" / "powermonitor.db"


def open_store(
    url_or_path: str | os.PathLike[str],
    *,
    timezone: str = "UTC",
    retention: Retention = DEFAULT_RETENTION,
) -> Store:
    """The store for a path, ``sqlite:///path``, ``:memory:`` or ``postgresql://...`` URL.

    Returned unopened: ``await store.open()`` connects (raising :class:`StorageError` with a
    clear message) and creates or migrates the schema.
    """
    target = os.fspath(url_or_path)
    if target.startswith(_PG_SCHEMES):
        from .postgres import PostgresStore

        return PostgresStore(target, timezone=timezone, retention=retention)
    if target.startswith("sqlite://"):
        # URL semantics, as in file:///path: sqlite:///var/lib/pm.db is /var/lib/pm.db
        # (SQLAlchemy's four-slash form works too); sqlite:// alone is an in-memory database.
        target = "/" + target[len("sqlite://") :].lstrip("/")
        if target in ("/", "/:memory:"):
            target = ":memory:"
    elif re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", target):
        raise StorageError(
            f"unsupported database URL {target.split('://', 1)[0]}://...: use a file path, "
            "sqlite:///path or postgresql://user@host:port/database"
        )
    if not target:
        raise StorageError("empty database path")
    from .sqlite import SqliteStore

    return SqliteStore(target, timezone=timezone, retention=retention)
