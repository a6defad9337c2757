"""exporters/mqtt_publish.py against a real mosquitto: QoS-0 runs packed into few writes arrive
whole, in order, with the right retain flags, next to acknowledged QoS-1 messages."""

from __future__ import annotations

import asyncio
import signal
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from powermonitor.exporters.mqtt_publish import Item, packing, publish_items, publish_packet

from .conftest import Mosquitto, make_certificates, until


@asynccontextmanager
async def collector(port: int, topic: str, tls: ssl.SSLContext | None = None
                    ) -> AsyncIterator[list[tuple[str, bytes, bool]]]:
    """Every message on ``topic`` in arrival order (subscribed at QoS 0: one delivery order)."""
    got: list[tuple[str, bytes, bool]] = []
    ready = asyncio.Event()

    async def run() -> None:
        async with aiomqtt.Client("127.0.0.1", port, tls_context=tls) as client:
            await client.subscribe(topic, qos=0)
            ready.set()
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else b""
                got.append((message.topic.value, payload, message.retain))

    task = asyncio.create_task(run())
    try:
        async with asyncio.timeout(10):
            await ready.wait()
        yield got
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def burst() -> list[Item]:
    """Many small state-like messages, sizes across the remaining-length encoding's steps
    (1, 2 and 3 bytes: 127/128 and 16383/16384), an empty payload, a non-ASCII topic, retained
    and not, and a QoS-1 message in the middle."""
    items: list[Item] = []
    for n in range(2500):
        items.append((f"t/burst/{n % 50}", b'{"power": %d, "pad": "%s"}' % (n, b"x" * (n % 300)),
                      n % 7 != 0, 0))
    topic = "t/sizes/a"  # remaining length = 2 + len(topic) + len(payload)
    for size in (127, 128, 16383, 16384, 200_000):
        items.append((topic, b"s" * (size - 2 - len(topic)), False, 0))
    items.insert(1200, ("t/qos1", b"acknowledged", True, 1))
    items += [("t/ünïcode/état", b"\xc3\xa9t\xc3\xa9", True, 0), ("t/cleared", b"gone", True, 0),
              ("t/cleared", b"", True, 0), ("t/last", b"end", False, 0)]
    return items


async def test_a_packed_burst_arrives_whole_in_order_and_retained_right(
        mosquitto: Mosquitto) -> None:
    items = burst()
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        assert packing(client), "the installed aiomqtt/paho lost the packed path: see the module"
        async with collector(mosquitto.port, "t/#") as got:
            await publish_items(client, items)
            await until(lambda: len(got) >= len(items), 20)
            assert [(t, p) for t, p, _ in got] == [(t, p) for t, p, _, _ in items]
            assert not any(retained for _, _, retained in got)  # live, not the broker's copy
    latest: dict[str, bytes] = {}
    for topic, payload, retain, _ in items:
        if retain and payload:
            latest[topic] = payload
        elif retain:
            latest.pop(topic, None)  # an empty retained payload clears the topic
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client, \
            collector(mosquitto.port, "t/#") as late:
        # the broker sends a new subscription's retained messages before anything newer
        await client.publish("t/marker", b"after the retained ones", qos=1)
        await until(lambda: any(t == "t/marker" for t, _, _ in late))
    assert {t: p for t, p, r in late if r} == latest
    assert [t for t, _, r in late if not r] == ["t/marker"]


async def test_a_packed_burst_over_tls(mosquitto_factory: Any, tmp_path: Path) -> None:
    """The packed entries go through paho's TLS socket like its own packets (partial writes
    of 64 KiB entries and a 200 kB one included)."""
    ca, cert, key = make_certificates(tmp_path / "tls")
    broker: Mosquitto = mosquitto_factory(tls=(ca, cert, key))
    context = ssl.create_default_context(cafile=str(ca))
    items = burst()
    async with aiomqtt.Client("127.0.0.1", broker.port, tls_context=context) as client, \
            collector(broker.port, "t/#", context) as got:
        assert packing(client)
        await publish_items(client, items)
        await until(lambda: len(got) >= len(items), 20)
        assert [(t, p) for t, p, _ in got] == [(t, p) for t, p, _, _ in items]


async def test_a_broker_that_stops_reading_fails_the_burst(mosquitto: Mosquitto) -> None:
    """The run's last message waits for the socket, with the client's timeout: a broker that
    stops reading ends the burst with an error (the bridge reconnects) instead of a queue that
    grows without bound."""
    big = b"x" * 60_000
    items: list[Item] = [(f"t/stall/{n % 10}", big, False, 0) for n in range(1000)]  # 60 MB
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, timeout=1.0) as client:
        assert mosquitto.proc is not None
        mosquitto.proc.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(aiomqtt.MqttError):
                await publish_items(client, items)
        finally:
            mosquitto.proc.send_signal(signal.SIGCONT)


async def test_not_connected_and_bad_topics_raise(mosquitto: Mosquitto) -> None:
    items: list[Item] = [("t/a", b"1", False, 0), ("t/b", b"2", False, 0)]
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        with pytest.raises(ValueError, match="invalid MQTT topic"):
            await publish_items(client, [("t/a", b"1", False, 0), ("t/+/b", b"2", False, 0),
                                         ("t/c", b"3", False, 0)])
        await publish_items(client, items)  # the session is still good
    with pytest.raises(aiomqtt.MqttError):
        await publish_items(client, items)


@pytest.mark.parametrize("topic", ["", "a/#", "a/+/b", "a\0b", "t" * 65536])
def test_publish_packet_refuses_what_mqtt_refuses(topic: str) -> None:
    with pytest.raises(ValueError, match="invalid MQTT topic"):
        publish_packet(topic, b"x", False)


def test_publish_packet_v5_has_an_empty_property_list() -> None:
    v3 = publish_packet("a/b", b"xy", True)
    v5 = publish_packet("a/b", b"xy", True, v5=True)
    assert v3 == b"\x31\x07\x00\x03a/bxy"
    assert v5 == b"\x31\x08\x00\x03a/b\x00xy"
