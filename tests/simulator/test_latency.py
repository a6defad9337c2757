"""``simulate --latency``: simulated plugs answer after a delay, like real plugs over Wi-Fi.

Only lower bounds are asserted (a reply never arrives early); how late it may come depends on
the machine's load, so no upper bound is. Times are ``time.monotonic()``, the simulator's clock.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from e2e.conftest import Simulator, run

from powermonitor.errors import UsageError
from powermonitor.protocol import events as ev
from powermonitor.protocol.connection import Connection, Role
from powermonitor.simulator.faults import Faults
from powermonitor.simulator.latency import MAX_PENDING_WRITES, Latency, ReplyQueue, parse_latency
from powermonitor.simulator.plug import SimulatedPlug
from powermonitor.simulator.server import Fleet, PlugServer, fleet_specs
from powermonitor.simulator.spec import parse_spec

pytestmark = pytest.mark.timeout(30)

KEY = "0123456789abcdef"


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [("5ms", 0.005, 0.005), ("0.02s", 0.02, 0.02), (" 5ms..20ms ", 0.005, 0.02),
     ("0ms", 0.0, 0.0), ("1.5MS", 0.0015, 0.0015), ("10s", 10.0, 10.0)],
)
def test_latency_text(text: str, low: float, high: float) -> None:
    latency = parse_latency(text)
    assert (latency.low_s, latency.high_s) == pytest.approx((low, high))
    assert bool(latency) == (high > 0) and latency.jitter == (high > low)


@pytest.mark.parametrize(
    ("text", "message"),
    [("5", "give a unit"), ("5m", "give a unit"), ("-1ms", "give a unit"),
     ("nan", "give a unit"), ("", "give a unit"), ("5ms..", "give a unit"),
     ("20ms..5ms", "the lower latency comes first"), ("11s", "at most 10s"),
     ("1e3ms", "give a unit"), ("5ms" * 30, "is text such as")],
)
def test_bad_latency_is_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        parse_latency(text)
    assert "\n" not in str(info.value)


class RawClient:
    """A client-role Connection over a real socket, timing each request to its answer."""

    def __init__(self, version: str, device_id: str, key: str) -> None:
        self.conn = Connection(Role.CLIENT, version, key, device_id)
        self.events: list[ev.Event] = []

    async def open(self, port: int) -> float:
        """Connect (and negotiate on 3.4/3.5); the handshake's round trip in seconds."""
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        start = self.conn.start()
        if not start:
            return 0.0
        began = time.monotonic()
        self.writer.write(start)
        await self.until(lambda: any(isinstance(e, ev.SessionEstablished) for e in self.events))
        took = time.monotonic() - began
        self.writer.write(self.conn.data_to_send())  # FINISH
        return took

    async def until(self, done: Any) -> None:
        while not done():
            data = await self.reader.read(65536)
            assert data, "the plug hung up"
            self.events += self.conn.receive_data(data)

    async def round_trip(self, request: bytes, kind: type) -> float:
        before = len([e for e in self.events if isinstance(e, kind)])
        began = time.monotonic()
        self.writer.write(request)
        await self.until(lambda: len([e for e in self.events if isinstance(e, kind)]) > before)
        return time.monotonic() - began

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def serve(version: str = "3.3", latency: Latency | None = None,
                faults: Faults | None = None) -> PlugServer:
    (spec,) = fleet_specs(1, [version], profiles=["constant:100"])
    server = PlugServer(SimulatedPlug(spec), faults=faults, latency=latency)
    await server.start()
    return server


@pytest.mark.parametrize("version", ["3.3", "3.4", "3.5"])
async def test_no_answer_arrives_before_the_latency(version: str) -> None:
    latency = 0.03
    server = await serve(version, Latency(latency, latency))
    spec = server.plug.spec
    client = RawClient(version, spec.device_id, spec.local_key)
    try:
        handshake = await client.open(server.port)
        if version != "3.3":
            assert handshake >= latency  # the session key's answer is delayed too
        t = int(time.time())
        assert await client.round_trip(client.conn.query(t), ev.StatusReply) >= latency
        assert await client.round_trip(client.conn.heartbeat(), ev.HeartbeatAck) >= latency
        assert await client.round_trip(client.conn.control({"1": False}, t), ev.DpsPush) >= latency
        assert server.plug.switches[1] is False and server.plug.controls == 1
    finally:
        await client.close()
        await server.stop()


async def test_jittered_answers_keep_the_order_of_the_requests() -> None:
    """Ten requests, each its own write, answered after 1..40 ms each: seqnos stay in order."""
    server = await serve("3.3", Latency(0.001, 0.04))
    spec = server.plug.spec
    client = RawClient("3.3", spec.device_id, spec.local_key)
    try:
        await client.open(server.port)
        began = time.monotonic()
        sent = []
        for i in range(10):
            frame = client.conn.heartbeat() if i % 2 else client.conn.query(int(time.time()))
            sent.append(client.conn.seqno)
            client.writer.write(frame)
            await client.writer.drain()
            await asyncio.sleep(0)  # let the plug read them one by one
        await client.until(lambda: len(client.events) >= 10)
        assert time.monotonic() - began >= 0.001
        got = [e.seqno for e in client.events if isinstance(e, ev.StatusReply | ev.HeartbeatAck)]
        assert got == sent
    finally:
        await client.close()
        await server.stop()


async def test_a_plug_that_hangs_up_sends_its_delayed_answer_first() -> None:
    """drop-after with a latency: the last answer leaves, then the connection closes."""
    server = await serve("3.3", Latency(0.02, 0.02), Faults(drop_after=1))
    spec = server.plug.spec
    client = RawClient("3.3", spec.device_id, spec.local_key)
    try:
        await client.open(server.port)
        assert await client.round_trip(client.conn.query(0), ev.StatusReply) >= 0.02
        client.writer.write(client.conn.query(0))  # the second request: dropped, then EOF
        assert await client.reader.read() == b""
    finally:
        await client.close()
        await server.stop()


async def test_a_pipelining_client_is_held_back_not_buffered() -> None:
    """Past MAX_PENDING_WRITES held answers the connection stops reading; resumes when sent."""
    calls: list[str] = []
    written: list[bytes] = []
    queue = ReplyQueue(asyncio.get_running_loop(), written.append,
                       lambda: calls.append("pause"), lambda: calls.append("resume"),
                       lambda: calls.append("closed"))
    for i in range(MAX_PENDING_WRITES + 5):
        queue.add(bytes([i % 256]), 0.01 + i * 0.001)  # each later than the one before
    assert len(queue) == MAX_PENDING_WRITES + 5 and calls == ["pause"]
    assert not written  # nothing is due yet
    while len(queue):
        await asyncio.sleep(0.01)
    assert calls == ["pause", "resume"]
    assert b"".join(written) == bytes(i % 256 for i in range(MAX_PENDING_WRITES + 5))
    queue.add(b"x", 0.01)
    assert queue.close_when_sent()
    while "closed" not in calls:
        await asyncio.sleep(0.005)
    assert written[-1] == b"x"


async def test_spec_latency_wins_over_the_fleet_default() -> None:
    entries = [{"id": "bf0000000000000000aa", "key": KEY, "dps": {"1": True}, "latency": "40ms"},
               {"id": "bf0000000000000000bb", "key": KEY, "dps": {"1": True}}]
    fleet = Fleet(parse_spec(entries, "spec.json"), latency=Latency(0.01, 0.02))
    await fleet.start()
    try:
        own, default = fleet.servers
        assert own.latency == Latency(0.04, 0.04) and default.latency == Latency(0.01, 0.02)
        client = RawClient("3.3", own.plug.device_id, KEY)
        await client.open(own.port)
        assert await client.round_trip(client.conn.query(0), ev.StatusReply) >= 0.04
        await client.close()
    finally:
        await fleet.stop()


@pytest.mark.parametrize(("value", "message"), [
    (5, "plug 1: 'latency' must be text"),
    ("5", "plug 1: 'latency': '5' is not a latency"),
    ("9ms..1ms", "plug 1: 'latency': '9ms..1ms': the lower latency comes first"),
])
def test_bad_spec_latency_is_one_clear_line(value: object, message: str) -> None:
    entry = {"id": "bf0000000000000000aa", "key": KEY, "dps": {"1": True}, "latency": value}
    with pytest.raises(UsageError, match="^spec.json: ") as info:
        parse_spec([entry], "spec.json")
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("value", ["5", "20ms..5ms", "fast"])
def test_simulate_rejects_a_bad_latency_in_one_line(tmp_path: Path, value: str) -> None:
    result = run("powermonitor", "simulate", "--latency", value, "--devices-file",
                 str(tmp_path / "d.json"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "latency" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "d.json").exists()


def test_simulate_spec_file_latency_error_names_the_file(tmp_path: Path) -> None:
    spec = tmp_path / "plugs.json"
    spec.write_text(json.dumps([{"id": "a1", "key": KEY, "dps": {"1": True}, "latency": "5"}]))
    result = run("powermonitor", "simulate", "--spec", str(spec), "--devices-file",
                 str(tmp_path / "d.json"))
    assert result.returncode == 2
    assert f"{spec}: plug 1: 'latency'" in result.stderr and result.stderr.count("\n") == 1


async def test_simulate_latency_option_reaches_every_plug(tmp_path: Path) -> None:
    """The CLI path: --latency is parsed, given to the fleet, and every plug answers after it."""
    sim = await asyncio.to_thread(Simulator, tmp_path, "--count", "2", "--protocol", "3.3,3.4",
                                  "--latency", "40ms")
    try:
        for dev in sim.devices:
            client = RawClient(dev["version"], dev["id"], dev["key"])
            await client.open(dev["port"])
            assert await client.round_trip(client.conn.query(0), ev.StatusReply) >= 0.04
            await client.close()
    finally:
        assert await asyncio.to_thread(sim.stop) == 0
