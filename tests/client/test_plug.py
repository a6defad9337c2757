"""The asyncio client against the simulator over real loopback sockets: reads, switches,
version detection, pushes, and every error path with its typed exception."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from powermonitor import Plug, TuyaDevice
from powermonitor.errors import (
    ConnectionClosedError,
    DeviceReportedError,
    DeviceTimeoutError,
    KeyOrVersionError,
    ProtocolError,
    UnreachableError,
    UsageError,
)
from powermonitor.simulator.plug import PlugSpec, SimulatedPlug
from powermonitor.simulator.server import Faults, Fleet, PlugServer


def entry(fleet: Fleet, version: str) -> dict[str, Any]:
    return next(s.device_entry() for s in fleet.servers if s.plug.spec.version == version)


def server(fleet: Fleet, version: str) -> PlugServer:
    return next(s for s in fleet.servers if s.plug.spec.version == version)


@pytest.mark.parametrize("version", ["3.1", "3.2", "3.3", "3.4", "3.5"])
async def test_read_and_switch_every_version(fleet: Fleet, version: str) -> None:
    e = entry(fleet, version)
    srv = server(fleet, version)
    async with Plug(e["id"], "127.0.0.1", e["key"], version, port=e["port"], timeout=2) as plug:
        reading = await plug.status()
        assert reading.switch is True
        assert reading.power_w == pytest.approx(1210.0, abs=0.1)
        assert reading.voltage_v is not None and 220 < reading.voltage_v < 240
        assert reading.current_a == pytest.approx(1210 / (reading.voltage_v * 0.95), rel=0.01)
        assert reading.power_factor == pytest.approx(0.95, abs=0.01)
        off = await plug.turn_off()
        assert off.switch is False
        assert srv.plug.switches[1] is False  # switched on the plug side, not just in our view
        again = await plug.status()
        assert again.switch is False
        if srv.plug.spec.layout != "strip4":  # a strip still powers its other outlets
            assert again.power_w == 0.0
        await plug.turn_on()
        assert srv.plug.switches[1] is True
    assert srv.plug.max_concurrent == 1


@pytest.mark.parametrize("version", ["3.1", "3.3", "3.4", "3.5"])
async def test_auto_detects_version(fleet: Fleet, version: str) -> None:
    e = entry(fleet, version)
    async with Plug(e["id"], "127.0.0.1", e["key"], "auto", port=e["port"], timeout=2) as plug:
        reading = await plug.status()
        assert plug.version == version
        assert plug.tried_versions[-1] == version
        assert reading.power_w == pytest.approx(1210.0, abs=0.1)
    assert server(fleet, version).plug.max_concurrent == 1


async def test_auto_detects_device22(fleet: Fleet) -> None:
    e = entry(fleet, "3.2")
    async with Plug(e["id"], "127.0.0.1", e["key"], "auto", port=e["port"], timeout=2) as plug:
        reading = await plug.status()
        assert "device22" in plug.protocol_label or plug.version == "3.2"
        assert reading.power_w == pytest.approx(1210.0, abs=0.1)  # legacy layout, DPs 4/5/6


async def test_device22_plug_on_33_is_switched_to_device22_queries() -> None:
    spec = PlugSpec("bf00000000000000dev2", "0123456789abcdef", "3.3", "cz", "constant:50",
                    device22=True)
    srv = PlugServer(SimulatedPlug(spec))
    await srv.start()
    try:
        async with TuyaDevice(spec.device_id, "127.0.0.1", spec.local_key, "3.3", port=srv.port) as dev:
            dps = await dev.status()
            assert dev.device22 and dps["19"] == 500
    finally:
        await srv.stop()


async def test_strip_shows_every_outlet_and_switches_one(fleet: Fleet) -> None:
    e = entry(fleet, "3.3")  # strip4 layout
    async with Plug(e["id"], "127.0.0.1", e["key"], "3.3", port=e["port"]) as plug:
        reading = await plug.status()
        assert set(reading.switches) == {"1", "2", "3", "4", "7"}
        after = await plug.set_switch(False, outlet=3)
        assert after.switches["3"] is False and after.switches["1"] is True
    assert server(fleet, "3.3").plug.switches[3] is False


async def test_pushes_between_polls_arrive() -> None:
    spec = PlugSpec("bf000000000000000psh", "0123456789abcdef", "3.4", "cz", "ramp:0:3600:3600")
    srv = PlugServer(SimulatedPlug(spec, time_scale=100.0), push_interval=0.05)
    await srv.start()
    pushed: list[dict[str, Any]] = []
    try:
        async with TuyaDevice(spec.device_id, "127.0.0.1", spec.local_key, "3.4", port=srv.port,
                              on_push=pushed.append) as dev:
            await dev.status()
            for _ in range(100):
                if len(pushed) >= 2:
                    break
                await asyncio.sleep(0.02)
            assert len(pushed) >= 2 and "19" in pushed[-1]
            assert dev.dps["19"] == pushed[-1]["19"]  # merged into the device's view
    finally:
        await srv.stop()


async def test_heartbeat_and_refresh(fleet: Fleet) -> None:
    e = entry(fleet, "3.4")
    srv = server(fleet, "3.4")
    async with TuyaDevice(e["id"], "127.0.0.1", e["key"], "3.4", port=e["port"]) as dev:
        await dev.heartbeat()
        await dev.refresh([20, 21, 22])
        await dev.status()
    assert srv.plug.heartbeats == 1 and srv.plug.refreshes == 1


# ----------------------------------------------------------------- error paths


async def test_connection_refused_is_unreachable(unused_tcp_port: int) -> None:
    with pytest.raises(UnreachableError) as info:
        async with Plug("x" * 20, "127.0.0.1", "0123456789abcdef", "3.3",
                        port=unused_tcp_port, retries=0):
            pass
    assert info.value.exit_code == 3


@pytest.mark.parametrize("version", ["3.3", "3.4", "3.5"])
async def test_wrong_key_is_key_or_version_error(fleet: Fleet, version: str) -> None:
    e = entry(fleet, version)
    with pytest.raises(KeyOrVersionError) as info:
        async with Plug(e["id"], "127.0.0.1", "wrongwrongwrong0", version, port=e["port"],
                        timeout=2) as plug:
            await plug.status()
    assert info.value.exit_code == 5
    assert "wrongwrongwrong0" not in str(info.value)


@pytest.mark.parametrize("ours,theirs", [("3.3", "3.4"), ("3.4", "3.5"), ("3.5", "3.4"),
                                         ("3.4", "3.3")])
async def test_wrong_version_is_key_or_version_error(fleet: Fleet, ours: str, theirs: str) -> None:
    e = entry(fleet, theirs)
    with pytest.raises(KeyOrVersionError):
        async with Plug(e["id"], "127.0.0.1", e["key"], ours, port=e["port"], timeout=2) as plug:
            await plug.status()


async def test_wrong_key_is_never_retried(fleet: Fleet) -> None:
    e = entry(fleet, "3.4")
    srv = server(fleet, "3.4")
    with pytest.raises(KeyOrVersionError):
        async with Plug(e["id"], "127.0.0.1", "wrongwrongwrong0", "3.4", port=e["port"], retries=5):
            pass
    assert srv.plug.connections_total == 1


async def test_auto_with_wrong_key_says_check_the_key(fleet: Fleet) -> None:
    e = entry(fleet, "3.4")
    with pytest.raises(KeyOrVersionError, match="check the local key"):
        async with Plug(e["id"], "127.0.0.1", "wrongwrongwrong0", "auto", port=e["port"], timeout=1):
            pass


async def start_faulty(faults: Faults, version: str = "3.3") -> PlugServer:
    spec = PlugSpec("bf0000000000000fault", "0123456789abcdef", version, "cz", "constant:100")
    srv = PlugServer(SimulatedPlug(spec), faults=faults)
    await srv.start()
    return srv


async def test_silent_plug_times_out_and_is_retried() -> None:
    srv = await start_faulty(Faults(silent=True))
    try:
        with pytest.raises(DeviceTimeoutError) as info:
            async with Plug(srv.plug.device_id, "127.0.0.1", "0123456789abcdef", "3.3",
                            port=srv.port, timeout=0.3, retries=1) as plug:
                await plug.status()
        assert info.value.exit_code == 4
        assert srv.plug.connections_total == 2  # one retry on a fresh connection
    finally:
        await srv.stop()


async def test_silent_34_plug_is_a_timeout_not_a_key_error() -> None:
    srv = await start_faulty(Faults(silent=True), "3.4")
    try:
        with pytest.raises(DeviceTimeoutError, match="session negotiation within 0.3 s") as info:
            async with Plug(srv.plug.device_id, "127.0.0.1", "0123456789abcdef", "3.4",
                            port=srv.port, timeout=0.3, retries=0):
                pass
        assert info.value.exit_code == 4
    finally:
        await srv.stop()


async def test_garbage_before_replies_is_skipped() -> None:
    srv = await start_faulty(Faults(garbage=1.0))
    try:
        async with Plug(srv.plug.device_id, "127.0.0.1", "0123456789abcdef", "3.3",
                        port=srv.port, timeout=1) as plug:
            for _ in range(5):
                assert (await plug.status()).power_w == pytest.approx(100.0)
    finally:
        await srv.stop()


async def test_dropped_connection_is_retried_transparently() -> None:
    srv = await start_faulty(Faults(drop_after=1))
    try:
        async with Plug(srv.plug.device_id, "127.0.0.1", "0123456789abcdef", "3.3",
                        port=srv.port, timeout=1, retries=2) as plug:
            for _ in range(3):
                assert (await plug.status()).switch is True
        assert srv.plug.connections_total >= 3
        assert srv.plug.max_concurrent == 1
    finally:
        await srv.stop()


async def test_delay_longer_than_timeout() -> None:
    srv = await start_faulty(Faults(delay_s=0.5))
    try:
        with pytest.raises(DeviceTimeoutError):
            async with Plug(srv.plug.device_id, "127.0.0.1", "0123456789abcdef", "3.3",
                            port=srv.port, timeout=0.2, retries=0) as plug:
                await plug.status()
    finally:
        await srv.stop()


async def test_a_plug_that_is_busy_rejects_a_second_client(fleet: Fleet) -> None:
    e = entry(fleet, "3.3")
    async with TuyaDevice(e["id"], "127.0.0.1", e["key"], "3.3", port=e["port"]) as first:
        await first.status()
        with pytest.raises((ConnectionClosedError, KeyOrVersionError, UnreachableError)):
            async with TuyaDevice(e["id"], "127.0.0.1", e["key"], "3.3", port=e["port"],
                                  timeout=1) as second:
                await second.status()
        assert (await first.status())["1"] is True
    assert server(fleet, "3.3").plug.rejected_connections == 1


async def test_device_error_reply_is_typed() -> None:
    spec = PlugSpec("bf0000000000000dev22", "0123456789abcdef", "3.5", "cz", "constant:1",
                    device22=True)
    srv = PlugServer(SimulatedPlug(spec))
    await srv.start()
    try:
        async with TuyaDevice(spec.device_id, "127.0.0.1", spec.local_key, "3.5", port=srv.port) as dev:
            with pytest.raises(DeviceReportedError, match="data unvalid") as info:
                await dev.status()  # 3.5 never switches to device22: the error surfaces
            assert info.value.exit_code == 6
    finally:
        await srv.stop()


async def test_not_a_tuya_port_gives_protocol_error() -> None:
    async def junk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"\x00\x00\x55\xaa" + b"\xff" * 12 + b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        await reader.read()  # until the client hangs up
        writer.close()

    srv = await asyncio.start_server(junk, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ProtocolError) as info:
            async with TuyaDevice("x" * 20, "127.0.0.1", "0123456789abcdef", "3.3", port=port,
                                  timeout=1) as dev:
                await dev.status()
        assert info.value.exit_code == 7
    finally:
        srv.close()
        await srv.wait_closed()


def test_bad_key_length_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        Plug("x" * 20, "127.0.0.1", "short", "3.3")
    with pytest.raises(UsageError):
        Plug("x" * 20, "127.0.0.1", "k", "3.9")


def test_repr_masks_the_key() -> None:
    plug = Plug("x" * 20, "127.0.0.1", "0123456789abcdef", "3.3")
    assert "0123456789abcdef" not in repr(plug) and "01" in repr(plug)
