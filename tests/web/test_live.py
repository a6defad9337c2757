"""The SSE fan-out on its own: framing, heartbeats, bounded queues, filters and cleanup."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from powermonitor.models import Reading
from powermonitor.monitor.hub import Availability, Hub
from powermonitor.web.live import Live, LiveFull


def reading(device_id: str, power_w: float, ts: float = 1_800_000_000.0) -> Reading:
    return Reading(device_id, datetime.fromtimestamp(ts, UTC), switch=True, switches={"1": True},
                   power_w=power_w, voltage_v=230.0, current_a=power_w / 230.0)


def events_of(chunk: bytes) -> list[tuple[str, dict[str, object]]]:
    out = []
    for block in chunk.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


async def test_frames_readings_and_availability_with_names() -> None:
    hub = Hub()
    live = Live(hub, lambda: {"a": "fridge"}, heartbeat_s=60)
    stream = live.stream()
    assert (await anext(stream)).startswith(b"retry: ")
    assert hub.subscribers == 1 and live.clients == 1
    hub.publish(reading("a", 12.5))
    hub.set_availability(Availability("a", "fridge", False, datetime.now(UTC), "gone", "timeout"))
    got = events_of(await anext(stream))
    assert [e for e, _ in got] == ["reading", "availability"]
    assert got[0][1]["name"] == "fridge" and got[0][1]["power_w"] == 12.5
    assert got[0][1]["timestamp"] == "2027-01-15T08:00:00Z"
    assert got[1][1] == {**got[1][1], "online": False, "reason": "gone", "kind": "timeout"}
    await stream.aclose()
    assert hub.subscribers == 0 and live.clients == 0


async def test_heartbeat_comment_when_idle() -> None:
    hub = Hub()
    live = Live(hub, dict, heartbeat_s=0.05)
    stream = live.stream()
    await anext(stream)
    chunk = await asyncio.wait_for(anext(stream), 5)
    assert chunk == b": heartbeat\n\n"
    await stream.aclose()


async def test_a_slow_client_is_dropped_and_never_blocks_the_hub() -> None:
    hub = Hub()
    live = Live(hub, dict, heartbeat_s=60, backlog=8)
    slow = live.stream()
    await anext(slow)
    for i in range(20):  # 20 bursts while the client reads nothing; publishing never waits
        hub.publish(reading("a", float(i), 1_800_000_000.0 + i))
        await until_batches(live, i + 1)
    assert [chunk async for chunk in slow] == []  # it missed events: its stream ends
    assert live.dropped == 1 and live.clients == 0 and hub.subscribers == 0


async def until_batches(live: Live, n: int) -> None:
    """Until the pump has encoded ``n`` bursts (it runs as soon as the loop lets it)."""
    async with asyncio.timeout(5):
        while live.batches < n:
            await asyncio.sleep(0)


async def test_each_event_is_encoded_once_for_all_clients() -> None:
    hub = Hub()
    calls = []
    live = Live(hub, lambda: calls.append(1) or {"a": "fridge"}, heartbeat_s=60)
    streams = [live.stream() for _ in range(10)]
    for s in streams:
        await anext(s)
    assert hub.subscribers == 1  # one subscription for every client
    hub.publish(reading("a", 7.0))
    chunks = [await anext(s) for s in streams]
    assert len(calls) == 1 and live.batches == 1
    assert all(c is chunks[0] for c in chunks)  # the same bytes object, not ten encodings
    assert events_of(chunks[0])[0][1]["name"] == "fridge"
    for s in streams:
        await s.aclose()  # type: ignore[attr-defined]
    assert hub.subscribers == 0 and live.clients == 0


async def test_clients_are_capped_and_slots_come_back() -> None:
    hub = Hub()
    live = Live(hub, dict, heartbeat_s=60, max_clients=2)
    first, second = live.open(), live.open()
    with pytest.raises(LiveFull, match="at most 2"):
        live.open()
    assert live.refused == 1 and live.clients == 2
    first.release()  # released without ever being started (a client that left early)
    first.release()  # idempotent
    third = live.open()
    assert live.clients == 2
    second.release()
    third.release()
    assert live.clients == 0 and hub.subscribers == 0


async def test_device_filter() -> None:
    hub = Hub()
    live = Live(hub, dict, heartbeat_s=60)
    stream = live.stream(["b"])
    await anext(stream)
    hub.publish(reading("a", 1.0))
    hub.publish(reading("b", 2.0))
    got = events_of(await anext(stream))
    assert [(d["id"], d["power_w"]) for _, d in got] == [("b", 2.0)]
    await stream.aclose()


async def test_close_ends_every_stream() -> None:
    hub = Hub()
    live = Live(hub, dict, heartbeat_s=60)
    streams = [live.stream() for _ in range(3)]
    for s in streams:
        await anext(s)
    live.close()
    for s in streams:
        assert [chunk async for chunk in s] == []
    assert hub.subscribers == 0 and live.clients == 0


async def test_cancelled_client_cleans_up() -> None:
    hub = Hub()
    live = Live(hub, dict, heartbeat_s=60)

    async def client() -> None:
        async for _ in live.stream():
            pass

    task = asyncio.create_task(client())
    while hub.subscribers == 0:  # bounded by the test timeout
        await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert hub.subscribers == 0 and live.clients == 0


async def test_an_event_that_cannot_be_json_is_skipped_not_fatal() -> None:
    hub = Hub()
    live = Live(hub, dict, heartbeat_s=60)
    stream = live.stream()
    await anext(stream)
    hub.publish(reading("a", float("nan")))  # allow_nan=False: this one cannot be sent
    hub.publish(reading("a", 3.0))
    got = events_of(await anext(stream))
    assert [d["power_w"] for _, d in got] == [3.0]
    await stream.aclose()  # type: ignore[attr-defined]
