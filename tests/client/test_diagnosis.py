"""The client blames the right thing, and a misbehaving plug is cut off without hurting others.

Against the simulator on loopback: busy (accept, then close) is :class:`PlugBusyError` (8), a
silent plug a timeout (4) even during 3.4/3.5 negotiation and with version detection, non-Tuya
bytes a protocol error (7), a wrong key an integrity failure (5); an error that arrives between
requests is raised by the next one; DP floods and push floods are disconnected.
"""

from __future__ import annotations

import asyncio
import random
import resource
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from powermonitor import Plug, TuyaDevice
from powermonitor.client.reconnect import Backoff
from powermonitor.config import Config, Defaults, PlugConfig
from powermonitor.errors import (
    DeviceTimeoutError,
    IntegrityError,
    LimitExceededError,
    PlugBusyError,
    ProtocolError,
    UnreachableError,
    UsageError,
)
from powermonitor.limits import MAX_DPS_PER_PLUG
from powermonitor.models import Reading
from powermonitor.monitor.hub import Availability
from powermonitor.monitor.supervisor import Monitor
from powermonitor.protocol.commands import Cmd
from powermonitor.simulator.plug import PlugSpec, SimulatedPlug
from powermonitor.simulator.server import Faults, PlugServer
from powermonitor.transport.udp import local_address_for, open_listener, send_datagram

KEY = "0123456789abcdef"
VERSIONS = ["3.3", "3.4", "3.5"]


async def serve(faults: Faults, version: str, n: int = 0) -> PlugServer:
    spec = PlugSpec(f"bf0000000000000fau{n:02d}", KEY, version, "cz", "constant:100")
    srv = PlugServer(SimulatedPlug(spec), faults=faults)
    await srv.start()
    return srv


@pytest.fixture
async def servers() -> AsyncIterator[list[PlugServer]]:
    started: list[PlugServer] = []
    yield started
    for srv in started:
        await srv.stop()


async def poll_once(srv: PlugServer, version: str, timeout: float = 0.4) -> Reading:
    async with Plug(srv.plug.device_id, "127.0.0.1", KEY, version, port=srv.port,
                    timeout=timeout, retries=0) as plug:
        return await plug.status()


@pytest.mark.parametrize("version", [*VERSIONS, "auto"])
async def test_busy_plug_is_8_not_a_key_error(servers: list[PlugServer], version: str) -> None:
    srv = await serve(Faults(busy=True), "3.4" if version == "auto" else version)
    servers.append(srv)
    with pytest.raises(PlugBusyError, match="another app may be connected") as info:
        await poll_once(srv, version)
    assert info.value.exit_code == 8 and info.value.kind == "busy"
    assert "local key" not in str(info.value)


@pytest.mark.parametrize("version", VERSIONS)
async def test_second_client_of_a_held_plug_is_busy(servers: list[PlugServer], version: str) -> None:
    srv = await serve(Faults(), version)
    servers.append(srv)
    async with TuyaDevice(srv.plug.device_id, "127.0.0.1", KEY, version, port=srv.port) as first:
        await first.status()
        with pytest.raises(PlugBusyError):
            await poll_once(srv, version, timeout=2.0)
        assert (await first.status())["1"] is True  # the first client is untouched


@pytest.mark.parametrize("version", [*VERSIONS, "auto"])
async def test_silent_plug_is_a_timeout(servers: list[PlugServer], version: str) -> None:
    srv = await serve(Faults(silent=True), "3.5" if version == "auto" else version)
    servers.append(srv)
    with pytest.raises(DeviceTimeoutError) as info:
        await poll_once(srv, version, timeout=0.3)
    assert info.value.exit_code == 4 and "local key" not in str(info.value)
    if version == "auto":
        assert "within 0.3 s per version" in str(info.value)


@pytest.mark.parametrize("version", [*VERSIONS, "auto"])
async def test_non_tuya_answers_are_a_protocol_error(servers: list[PlugServer], version: str) -> None:
    srv = await serve(Faults(junk=True), "3.3" if version == "auto" else version)
    servers.append(srv)
    with pytest.raises(ProtocolError, match="not whole Tuya frames") as info:
        await poll_once(srv, version)
    assert info.value.exit_code == 7


@pytest.mark.parametrize("version", [*VERSIONS, "auto"])
async def test_wrong_key_is_an_integrity_failure(servers: list[PlugServer], version: str) -> None:
    srv = await serve(Faults(wrong_key=True), "3.5" if version == "auto" else version)
    servers.append(srv)
    with pytest.raises(IntegrityError if version != "auto" else Exception) as info:
        await poll_once(srv, version)
    assert info.value.exit_code == 5  # type: ignore[attr-defined]
    assert "local key" in str(info.value)


async def test_an_error_between_requests_is_raised_by_the_next(servers: list[PlugServer]) -> None:
    srv = await serve(Faults(), "3.3")
    servers.append(srv)
    async with TuyaDevice(srv.plug.device_id, "127.0.0.1", KEY, "3.3", port=srv.port) as dev:
        await dev.status()
        [session] = srv.sessions
        deep = b'{"dps":{"1":' + b"[" * 400 + b"]" * 400 + b"}}"
        session._write(session.conn._device_frame(Cmd.STATUS, deep, 0))
        await dev.wait_closed()
        with pytest.raises(LimitExceededError, match="deeper"):
            await dev.status()


async def test_close_between_requests_is_reported_as_such(servers: list[PlugServer]) -> None:
    srv = await serve(Faults(), "3.4")
    servers.append(srv)
    async with TuyaDevice(srv.plug.device_id, "127.0.0.1", KEY, "3.4", port=srv.port) as dev:
        await dev.status()
        [session] = srv.sessions
        session.close()
        await dev.wait_closed()
        with pytest.raises(Exception) as info:
            await dev.status()
        assert info.type.__name__ == "ConnectionClosedError"  # answered before: not "busy"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("fault", "message"), [("dp_flood", "data points"),
                                                ("push_flood", "per second")])
async def test_floods_are_cut_off(servers: list[PlugServer], version: str, fault: str,
                                  message: str) -> None:
    srv = await serve(Faults(**{fault: True}), version)
    servers.append(srv)
    dev = TuyaDevice(srv.plug.device_id, "127.0.0.1", KEY, version, port=srv.port, timeout=30)
    await dev.connect()
    try:
        with pytest.raises(LimitExceededError, match=message) as info:
            await dev.status()
        assert info.value.exit_code == 7
        assert len(dev.dps) <= MAX_DPS_PER_PLUG
    finally:
        await dev.close()


def _rss_kb() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() // 1024


async def test_monitor_cuts_off_flooding_plugs_and_keeps_reading_the_others(
    servers: list[PlugServer],
) -> None:
    good = [await serve(Faults(), v, n) for n, v in enumerate(VERSIONS)]
    bad = [await serve(Faults(dp_flood=True), "3.4", 10), await serve(Faults(push_flood=True),
                                                                       "3.3", 11)]
    servers.extend(good + bad)
    plugs = tuple(
        PlugConfig(name=f"p{i}", device_id=s.plug.device_id, host="127.0.0.1", local_key=KEY,
                   version=s.plug.spec.version, port=s.port)
        for i, s in enumerate(good + bad)
    )
    monitor = Monitor(Config(defaults=Defaults(poll_interval=1.0, timeout=2.0), plugs=plugs),
                      start_spread=0.0,
                      backoff_factory=lambda: Backoff(initial=0.05, cap=0.1, rng=random.Random(0)))
    sub = monitor.hub.subscribe(maxsize=100_000)
    bad_ids = {s.plug.device_id for s in bad}
    good_ids = {s.plug.device_id for s in good}
    readings: Counter[str] = Counter()
    offline: Counter[str] = Counter()
    kinds: set[str] = set()
    before = _rss_kb()
    task = asyncio.create_task(monitor.run())
    try:
        async with asyncio.timeout(60):  # a hang guard, not a speed assertion
            while min(readings[i] for i in good_ids) < 3 or min(
                    s.plug.connections_total for s in bad) < 3:
                event = await sub.get()
                if isinstance(event, Reading):
                    readings[event.device_id] += 1
                elif isinstance(event, Availability) and not event.online:
                    offline[event.device_id] += 1
                    if event.device_id in bad_ids:
                        kinds.add(event.kind)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    grown_mb = (_rss_kb() - before) / 1024
    assert all(readings[i] == 0 for i in bad_ids)
    assert kinds == {"protocol"}
    assert all(monitor.hub.states[i].online for i in good_ids)
    assert all(s.plug.connections_total >= 3 for s in bad)  # reconnected, cut off again
    for coordinator in monitor.coordinators.values():
        assert len(coordinator.dps) <= MAX_DPS_PER_PLUG
    assert grown_mb < 100, grown_mb  # a flood grew memory by 1.6 GB in 10 s before the caps


@pytest.mark.parametrize("then_close", [False, True])
async def test_a_frame_cut_short_is_a_protocol_error(then_close: bool) -> None:
    """A header announcing more bytes than ever come: garbage, not silence and not busy."""
    async def half_frame(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"\x00\x00\x55\xaa" + b"\x00\x00\x00\x01\x00\x00\x00\x0a\x00\x00\x01\x00"
                     + b"\x00" * 20)
        await writer.drain()
        if not then_close:
            await reader.read()  # until the client hangs up
        writer.close()

    srv = await asyncio.start_server(half_frame, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ProtocolError, match="not whole Tuya frames"):
            async with TuyaDevice("x" * 20, "127.0.0.1", KEY, "3.3", port=port,
                                  timeout=0.3) as dev:
                await dev.status()
    finally:
        srv.close()
        await srv.wait_closed()


MALFORMED_HOSTS = ["a" * 70 + ".example", "a\x00b", "..", "x" * 300]


@pytest.mark.parametrize("host", MALFORMED_HOSTS)
async def test_a_malformed_host_is_unreachable_not_a_crash(host: str) -> None:
    """A host name from a config file or a LAN beacon that no resolver accepts."""
    with pytest.raises(UnreachableError) as info:
        await poll_once_at(host)
    assert info.value.exit_code == 3


async def poll_once_at(host: str) -> None:
    async with Plug("x" * 20, host, KEY, "3.3", timeout=0.5, retries=0) as plug:
        await plug.status()


@pytest.mark.parametrize("host", MALFORMED_HOSTS)
async def test_udp_to_a_malformed_host_is_typed(host: str) -> None:
    try:  # asyncio may report the failure later (logged), or at once
        await send_datagram(host, 7000, b"x")
    except (UnreachableError, UsageError):
        pass
    with pytest.raises(UsageError):
        await open_listener(host, 0, None)
    assert local_address_for(host, 7000) in ("127.0.0.1", "::1")
