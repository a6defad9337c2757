"""A throw-away PostgreSQL for the soak (the storage suite's server, started the same way)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from storage.pgserver import pg_bin, throwaway_postgres


@pytest.fixture(scope="session")
def soak_pg_dsn() -> Iterator[str]:
    bindir = pg_bin()
    if bindir is None:
        msg = "PostgreSQL server binaries not found (apt-get install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    with throwaway_postgres(bindir) as dsn:
        yield dsn
