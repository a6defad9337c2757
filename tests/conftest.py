"""Shared fixtures: a simulated fleet on loopback, and a check that no test leaves tasks behind."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from hypothesis import HealthCheck, settings
from monitor.fakeclock import VirtualClockLoop
from portpick import refusing_port

from powermonitor.simulator.server import Fleet, fleet_specs

# The first text strategy of a run builds Hypothesis' Unicode table (about a second, then cached
# in .hypothesis/). On a fresh clone, as in CI, that failed whichever test drew text first as
# "input generation is slow". Generation speed is not what any test here checks.
settings.register_profile("powermonitor", suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("powermonitor")


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item
                                  ) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Tests marked ``fake_clock`` run on a loop whose time is virtual (monitor/fakeclock.py)."""
    if item.get_closest_marker("fake_clock"):
        return {"fake_clock": VirtualClockLoop}
    return {"asyncio": asyncio.new_event_loop}


@pytest.fixture(scope="session", autouse=True)
def _private_xdg_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The commands the tests run read no user config and write no user data: XDG config, data
    and state dirs of the session's own (one per xdist worker, so workers share no files)."""
    base = tmp_path_factory.mktemp("xdg")
    with pytest.MonkeyPatch.context() as mp:
        for name in ("CONFIG", "DATA", "STATE"):
            mp.setenv(f"XDG_{name}_HOME", str(base / name.lower()))
        yield


@pytest.fixture(autouse=True)
async def _no_lingering_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves a task running (a leak that would hang a long-lived service)."""
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    left = {t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()}
    for _ in range(20):
        if not left:
            break
        await asyncio.sleep(0.01)
        left = {t for t in left if not t.done()}
    for task in left:
        task.cancel()
    assert not left, f"test left tasks running: {left}"


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    """Five plugs, one per protocol version, on 127.0.0.1 ephemeral ports."""
    f = Fleet(
        fleet_specs(
            5,
            ["3.1", "3.2", "3.3", "3.4", "3.5"],
            ["cz", "legacy", "strip4", "switch20", "cz"],
            ["constant:1210:0.95"],
        )
    )
    await f.start()
    yield f
    await f.stop()


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """DSN of a throw-away PostgreSQL server for the whole session (per
    xdist worker), shared by the storage suite (a schema per test) and the soak (a database of its own)."""
    from storage.pgserver import pg_bin, throwaway_postgres

    bindir = pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    with throwaway_postgres(bindir) as dsn:
        yield dsn


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback TCP port where connections are refused (held for the test: see portpick)."""
    with refusing_port() as port:
        yield port


SERVICE_FIXTURES = frozenset({
    "mosquitto", "mosquitto_factory", "influxd", "pg_dsn", "pg_dsn_or_none", "scratch_schema",
    "stack",  # tests/web: the whole service (monitor, recorder, store, uvicorn) in-process
})
"""Fixtures that start an outside server or the full service: a test using one is ``service``."""


def _mark_tiers(items: list[pytest.Item]) -> None:
    """``service`` for tests on SERVICE_FIXTURES (or the postgres store backend), so the fast
    tier ``-m "not slow and not service"`` needs nothing but Python; ``slow`` is marked by hand."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        if names & SERVICE_FIXTURES or params.get("backend") == "postgres":
            item.add_marker(pytest.mark.service)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the test tiers."""
    _mark_tiers(items)


# Under CI (``CI`` set) nothing may be skipped for want of a service or a test dependency: a
# skip there is a failure, whether a ``skipif`` mark, a ``pytest.skip`` in a fixture or test
# (a missing mosquitto, promtool...), or a module-level ``importorskip``. A skip for a real
# reason (another platform) has a condition that is false on CI's Linux and never fires.


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):  # type: ignore[no-untyped-def]
    """Under CI a module skipped while collecting is a failure."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI (a required service or dependency is missing): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Under CI a skipped test (a skipif mark, a runtime ``pytest.skip``) is a failure."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and call.excinfo is not None \
            and call.excinfo.errisinstance(pytest.skip.Exception):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI (a required service is missing): {call.excinfo.value}"
