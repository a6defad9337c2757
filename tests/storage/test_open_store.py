"""open_store() picks the backend; default_db_path() follows XDG."""

from __future__ import annotations

from pathlib import Path

import pytest

from powermonitor import errors
from powermonitor.errors import PowermonitorError, StorageError
from powermonitor.storage import Retention, default_db_path, open_store
from powermonitor.storage.postgres import PostgresStore
from powermonitor.storage.sqlite import SqliteStore


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("/var/lib/pm/pm.db", "/var/lib/pm/pm.db"),
        ("rel/pm.db", "rel/pm.db"),
        ("sqlite:///var/lib/pm/pm.db", "/var/lib/pm/pm.db"),
        ("sqlite:////var/lib/pm/pm.db", "/var/lib/pm/pm.db"),
        (":memory:", ":memory:"),
        ("sqlite://", ":memory:"),
    ],
)
def test_paths_and_sqlite_urls_open_sqlite(target: str, path: str) -> None:
    store = open_store(target, timezone="Europe/Berlin", retention=Retention(raw_days=7))
    assert isinstance(store, SqliteStore)
    assert store.path == path and store.timezone == "Europe/Berlin"
    assert store.retention.raw_days == 7


def test_postgres_urls_open_postgres() -> None:
    for url in ("postgresql://pm@db:5432/energy", "postgres://pm:pw@db/energy"):
        store = open_store(url)
        assert isinstance(store, PostgresStore) and "pw" not in repr(store)


def test_other_urls_are_refused() -> None:
    with pytest.raises(StorageError, match="unsupported database URL mysql://"):
        open_store("mysql://u@h/db")


def test_tilde_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    store = open_store("~/pm.db")
    assert isinstance(store, SqliteStore) and store.path == str(tmp_path / "pm.db")


def test_default_db_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_db_path() == tmp_path / "data" / "powermonitor" / "powermonitor.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_db_path() == tmp_path / ".local" / "share" / "powermonitor" / "powermonitor.db"


def test_storage_error_is_in_the_tree() -> None:
    assert issubclass(StorageError, PowermonitorError) and StorageError.exit_code == 9
    assert "StorageError" in errors.__all__


def test_retention_validates() -> None:
    with pytest.raises(errors.UsageError, match="raw_days"):
        Retention(raw_days=0)
    assert Retention(hour_days=None).hour_days is None
