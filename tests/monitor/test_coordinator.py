"""Coordinators and the Hub against simulated plugs over loopback.

Every test runs on a fake clock (fakeclock.py): polls, heartbeats, backoff and the simulator's
pushes wait on virtual time, so a "5 s" scenario takes milliseconds and never races the wall
clock; the plugs are real simulated servers on 127.0.0.1 in the same loop.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator

import pytest

from powermonitor.client.reconnect import Backoff
from powermonitor.config import Config, Defaults, PlugConfig
from powermonitor.limits import POLL_SLOT_S
from powermonitor.models import Reading
from powermonitor.monitor.coordinator import PlugCoordinator
from powermonitor.monitor.hub import Availability, Hub
from powermonitor.monitor.supervisor import Monitor
from powermonitor.simulator.plug import PlugSpec, SimulatedPlug, make_identity
from powermonitor.simulator.server import PlugServer

from .fakeclock import virtual_clock

pytestmark = pytest.mark.fake_clock


FAST = Defaults(poll_interval=1.0, timeout=1.0, heartbeat_interval=10.0)


async def serve(version: str = "3.4", layout: str = "cz", profile: str = "constant:100",
                index: int = 0, **kw: object) -> PlugServer:
    device_id, key = make_identity(index, seed=42)
    plug = SimulatedPlug(PlugSpec(device_id, key, version, layout, profile), clock=virtual_clock)
    srv = PlugServer(plug, **kw)  # type: ignore[arg-type]
    await srv.start()
    return srv


def plug_config(srv: PlugServer, *, key: str | None = None, version: str = "auto",
                interval: float | None = None, refresh: bool | None = None) -> PlugConfig:
    spec = srv.plug.spec
    return PlugConfig(name=f"p{spec.device_id[-4:]}", device_id=spec.device_id, host=srv.host,
                      local_key=spec.local_key if key is None else key, version=version,
                      port=srv.port, poll_interval=interval, refresh=refresh)


async def collect(sub_hub: Hub, seconds: float) -> list[object]:
    sub = sub_hub.subscribe()
    events: list[object] = []
    try:
        async with asyncio.timeout(seconds):
            async for event in sub:
                events.append(event)
    except TimeoutError:
        pass
    finally:
        sub.close()
    return events


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_polls_at_its_interval_and_detects_version(running: list[asyncio.Task[None]]) -> None:
    srv = await serve("3.5")
    hub = Hub()
    coordinator = PlugCoordinator(plug_config(srv), hub, FAST, start_spread=0, clock=virtual_clock)
    running.append(asyncio.create_task(coordinator.run()))
    events = await collect(hub, 3.5)
    readings = [e for e in events if isinstance(e, Reading)]
    assert 3 <= len(readings) <= 5
    assert all(r.power_w == pytest.approx(100.0) for r in readings)
    assert coordinator.version == "3.5"
    assert srv.plug.connections_total <= 4  # detection tried 3.3, 3.4, then 3.5 stayed connected
    assert srv.plug.max_concurrent == 1
    assert hub.states[srv.plug.device_id].online
    await srv.stop()


async def test_a_fleet_polls_on_the_shared_grid_without_drift(
    running: list[asyncio.Task[None]],
) -> None:
    servers = [await serve("3.4", index=i) for i in range(4)]
    hub = Hub()
    for srv in servers:  # random phases: each connects (and polls first) at its own moment
        coordinator = PlugCoordinator(plug_config(srv, version="3.4"), hub, FAST,
                                      start_spread=1.0, clock=virtual_clock)
        running.append(asyncio.create_task(coordinator.run()))
    events = await collect(hub, 5.5)
    by_plug: dict[str, list[float]] = {}
    for e in events:
        if isinstance(e, Reading):
            by_plug.setdefault(e.device_id, []).append(e.timestamp.timestamp())
    assert len(by_plug) == 4
    for times in by_plug.values():
        later = times[1:]  # the first poll follows the connect at once
        assert len(later) >= 3
        for t in later:  # virtual time: a poll's answer comes back at the instant it left
            steps = t / POLL_SLOT_S
            assert abs(steps - round(steps)) < 1e-3, t
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(1.0 - 1e-6 <= g < 1.0 + POLL_SLOT_S for g in gaps), gaps  # late, never drifting
    for srv in servers:
        await srv.stop()


async def test_heartbeats_keep_an_idle_connection(running: list[asyncio.Task[None]]) -> None:
    srv = await serve("3.3", idle_timeout=1.5)
    hub = Hub()
    defaults = Defaults(poll_interval=4.0, timeout=1.0, heartbeat_interval=0.5)
    coordinator = PlugCoordinator(plug_config(srv, version="3.3"), hub, defaults, start_spread=0, clock=virtual_clock)
    running.append(asyncio.create_task(coordinator.run()))
    await asyncio.sleep(5)
    assert srv.plug.heartbeats >= 5
    assert srv.plug.connections_total == 1  # never dropped for idleness
    await srv.stop()


async def test_offline_is_a_gap_and_recovery_is_logged_once(
    running: list[asyncio.Task[None]], caplog: pytest.LogCaptureFixture
) -> None:
    srv = await serve("3.4")
    hub = Hub()
    backoff = Backoff(initial=0.2, cap=0.5, rng=random.Random(1))
    coordinator = PlugCoordinator(plug_config(srv, version="3.4"), hub, FAST, backoff=backoff,
                                  start_spread=0, clock=virtual_clock)
    running.append(asyncio.create_task(coordinator.run()))
    sub = hub.subscribe()
    await asyncio.sleep(1.5)
    await srv.stop()  # the plug loses power
    await asyncio.sleep(2.5)
    await srv.start()  # and comes back on the same address
    await asyncio.sleep(2.5)
    events: list[object] = []
    while (e := sub.get_nowait()) is not None:
        events.append(e)
    sub.close()
    avail = [e for e in events if isinstance(e, Availability)]
    assert [a.online for a in avail] == [True, False, True]
    offline_at, back_at = avail[1].timestamp, avail[2].timestamp
    during = [e for e in events if isinstance(e, Reading) and offline_at < e.timestamp < back_at]
    assert during == []  # a gap, never zeros
    after = [e for e in events if isinstance(e, Reading) and e.timestamp >= back_at]
    assert after and all(r.power_w == pytest.approx(100.0) for r in after)
    offline_logs = [r for r in caplog.records if "is offline" in r.getMessage()]
    assert len(offline_logs) == 1
    assert srv.plug.max_concurrent == 1
    await srv.stop()


async def test_wrong_key_is_reported_and_retried_slowly(running: list[asyncio.Task[None]]) -> None:
    srv = await serve("3.4")
    hub = Hub()
    backoff = Backoff(initial=0.1, cap=0.2, key_error_delay=2.0, rng=random.Random(1))
    coordinator = PlugCoordinator(plug_config(srv, key="wrongwrongwrong0", version="3.4"), hub,
                                  FAST, backoff=backoff, start_spread=0, clock=virtual_clock)
    running.append(asyncio.create_task(coordinator.run()))
    await asyncio.sleep(2.5)
    state = hub.states[srv.plug.device_id]
    assert not state.online and state.kind == "key" and "key" in state.reason
    assert "wrongwrongwrong0" not in state.reason
    assert srv.plug.connections_total == 2  # one try, then one retry after the long wait
    assert hub.latest() == {}
    await srv.stop()


async def test_pushes_between_polls_arrive(running: list[asyncio.Task[None]]) -> None:
    srv = await serve("3.4", profile="ramp:0:1000:10", push_interval=0.2)
    hub = Hub()
    defaults = Defaults(poll_interval=30.0, timeout=1.0, heartbeat_interval=10.0)
    coordinator = PlugCoordinator(plug_config(srv, version="3.4"), hub, defaults, start_spread=0, clock=virtual_clock)
    running.append(asyncio.create_task(coordinator.run()))
    events = await collect(hub, 2.0)
    readings = [e for e in events if isinstance(e, Reading)]
    assert srv.plug.queries == 1  # one poll only...
    assert len(readings) >= 4  # ...but pushes kept the readings coming
    assert len({r.power_w for r in readings}) > 1
    await srv.stop()


@pytest.mark.parametrize("layout,expected", [("cz", True), ("legacy", False)])
async def test_refresh_is_learned(running: list[asyncio.Task[None]], layout: str,
                                  expected: bool) -> None:
    srv = await serve("3.3", layout=layout, profile="random:100:200")
    hub = Hub()
    coordinator = PlugCoordinator(plug_config(srv, version="3.3"), hub, FAST, start_spread=0, clock=virtual_clock)
    running.append(asyncio.create_task(coordinator.run()))
    for _ in range(80):
        if coordinator.polls >= 6:
            break
        await asyncio.sleep(0.1)
    assert coordinator.polls >= 6
    assert coordinator.refresh_active is expected
    refreshes = srv.plug.refreshes
    await asyncio.sleep(1.2)
    assert (srv.plug.refreshes > refreshes) is expected
    await srv.stop()


async def test_switch_goes_through_the_existing_connection(running: list[asyncio.Task[None]]) -> None:
    srv = await serve("3.5")
    config = Config(defaults=FAST, plugs=(plug_config(srv, version="3.5"),))
    monitor = Monitor(config, start_spread=0, clock=virtual_clock)
    running.append(asyncio.create_task(monitor.run()))
    for _ in range(50):
        if monitor.hub.states[srv.plug.device_id].online:
            break
        await asyncio.sleep(0.05)
    reading = await monitor.set_switch(config.plugs[0].name, False)
    assert reading.switch is False and srv.plug.switches[1] is False
    assert srv.plug.connections_total == 1
    await srv.stop()


def test_slow_subscriber_never_blocks_publishing() -> None:
    from datetime import UTC, datetime

    hub = Hub()
    slow = hub.subscribe(maxsize=5)
    fast = hub.subscribe(maxsize=1000)
    for i in range(100):
        hub.publish(Reading("dev", datetime.now(UTC), power_w=float(i)), "dev")
    assert slow.qsize() == 5 and slow.dropped == 95
    newest = [slow.get_nowait() for _ in range(5)]
    assert [r.power_w for r in newest if isinstance(r, Reading)] == [95.0, 96.0, 97.0, 98.0, 99.0]
    assert fast.qsize() == 100 and fast.dropped == 0
    assert hub.latest()["dev"].power_w == 99.0


def test_backoff_is_capped_with_jitter_and_jumps_on_key_errors() -> None:
    b = Backoff(initial=1.0, factor=2.0, cap=10.0, key_error_delay=300.0, jitter=0.1,
                rng=random.Random(3))
    delays = [b.next_delay() for _ in range(8)]
    assert delays[0] == pytest.approx(1.0, rel=0.11)
    assert all(d <= 11.0 for d in delays) and delays[-1] >= 9.0
    assert b.next_delay(key_error=True) >= 270.0
    b.reset()
    assert b.next_delay() <= 1.1


async def test_a_plug_without_its_key_is_reported_once_and_never_contacted(
    running: list[asyncio.Task[None]], caplog: pytest.LogCaptureFixture
) -> None:
    """scan --add keeps the version it heard; until the key is set the plug is not watched."""
    keyless, keyed = await serve("3.4", index=0), await serve("3.4", index=1)
    config = Config(plugs=(plug_config(keyless, key="", version="3.4"),
                           plug_config(keyed, version="3.4")), defaults=FAST)
    monitor = Monitor(config, start_spread=0, clock=virtual_clock)
    running.append(asyncio.create_task(monitor.run()))
    await asyncio.sleep(5)
    state = monitor.hub.states[keyless.plug.device_id]
    assert not state.online and state.kind == "config"
    assert "devices set" in state.reason and "--key -" in state.reason
    assert keyless.plug.connections_total == 0
    assert keyed.plug.device_id in monitor.hub.latest()  # the others are read as usual
    assert sum("is not watched" in r.getMessage() for r in caplog.records) == 1
    await keyless.stop()
    await keyed.stop()
