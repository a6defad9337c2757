"""Publishing a burst of MQTT messages on an aiomqtt client: QoS 0 packed, QoS 1/2 acknowledged.

Why not ``aiomqtt.Client.publish`` for every message: per message it costs a coroutine, an
``asyncio.Event``, a ``wait_for``, a scan of every pending call, and in paho a packet of its
own, one ``send()`` each and an ``on_publish`` callback building ``Properties``: ~40 µs of CPU
per message, 4 % of a core for 1000 state messages a second. A QoS-0 message needs no
acknowledgement, so a run of them is encoded here (the PUBLISH packet, MQTT 3.1.1 §3.3 and
5.0 §3.3) and put on paho's outgoing queue as a few large entries: paho writes them in order
with everything else it sends (QoS-1 publishes, PINGREQ), resumes partial writes, and TLS
goes through the same socket. About 1 µs per message.

The one paho internal used is ``Client._packet_queue`` (paho 2.x, under aiomqtt 2.x's
``Client._client``); where it is missing the run goes through ``aiomqtt.Client.publish`` as
before (:func:`packing` says which path is taken; a test pins it for the installed versions).
The last message of a packed run always goes through ``aiomqtt.Client.publish``: it returns
once that message is written to the socket, so once the whole run is (paho writes in order),
and it raises when the connection is lost or stalls beyond the client's timeout, so a broker
that stops reading never lets the queue grow without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiomqtt
from paho.mqtt.client import MQTTMessageInfo  # aiomqtt 2.x is built on paho 2.x

__all__ = ["Item", "packing", "publish_items", "publish_packet"]

Item = tuple[str, bytes, bool, int]
"""topic, payload, retain, QoS"""

_ACKED_CHUNK = 100  # QoS 1/2 messages in flight at once (the client allows 100)
_PACKED_BYTES = 64 * 1024  # one queue entry: paho copies what is left after a partial write
_MAX_REMAINING = 268_435_455  # the largest remaining length MQTT can encode
_PUBLISH = 0x30
_MQTT_V5 = 5


def publish_packet(topic: str, payload: bytes, retain: bool, v5: bool = False) -> bytes:
    """A QoS-0 PUBLISH packet; ValueError for a topic MQTT refuses (as paho's ``publish``)."""
    raw = topic.encode()
    if not raw or len(raw) > 65535 or "+" in topic or "#" in topic or "\0" in topic:
        raise ValueError(f"invalid MQTT topic for a publish: {topic!r}")
    size = 2 + len(raw) + len(payload) + v5  # v5: an empty property list (one 0 byte)
    if size > _MAX_REMAINING:
        raise ValueError(f"MQTT payload too large ({len(payload)} bytes) for {topic!r}")
    first = _PUBLISH | retain
    if size < 0x80:
        head = bytes((first, size))
    elif size < 0x4000:
        head = bytes((first, 0x80 | (size & 0x7F), size >> 7))
    else:
        out = bytearray((first,))
        while True:
            byte, size = size & 0x7F, size >> 7
            out.append(byte | 0x80 if size else byte)
            if not size:
                break
        head = bytes(out)
    return b"".join((head, len(raw).to_bytes(2, "big"), raw, b"\0" if v5 else b"", payload))


def packing(client: aiomqtt.Client) -> bool:
    """True when QoS-0 runs are packed (the paho under ``client`` has the queue we use)."""
    return callable(getattr(getattr(client, "_client", None), "_packet_queue", None))


async def publish_items(client: aiomqtt.Client, items: Sequence[Item]) -> None:
    """Publish ``items`` in order, each at its QoS: runs of QoS 0 packed, the others through
    aiomqtt, many in flight, waiting for their acknowledgements. Raises what the client raises
    (``aiomqtt.MqttError`` when the connection is lost), after the run in flight finished."""
    start = 0
    while start < len(items):
        qos = items[start][3]
        end = start + 1
        while end < len(items) and items[end][3] == qos:
            end += 1
        if qos == 0 and end - start > 1 and packing(client):
            await _packed(client, items[start:end])
        else:
            await _acked(client, items[start:end])
        start = end


async def _acked(client: aiomqtt.Client, items: Sequence[Item]) -> None:
    for start in range(0, len(items), _ACKED_CHUNK):
        results = await asyncio.gather(
            *(client.publish(topic, payload, qos=qos, retain=retain)
              for topic, payload, retain, qos in items[start:start + _ACKED_CHUNK]),
            return_exceptions=True,  # wait for all: no orphan left failing on its own
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result


async def _packed(client: aiomqtt.Client, items: Sequence[Item]) -> None:
    paho: Any = client._client  # private: see the module docstring
    if not paho.is_connected():
        raise aiomqtt.MqttError("Could not publish: not connected")
    v5 = getattr(paho, "_protocol", None) == _MQTT_V5
    # mid 0: paho never uses it, so the on_publish callback aiomqtt gets once an entry is
    # written matches no pending call
    queue = paho._packet_queue
    parts: list[bytes] = []
    size = 0
    for topic, payload, retain, _ in items[:-1]:
        packet = publish_packet(topic, payload, retain, v5)
        parts.append(packet)
        size += len(packet)
        if size >= _PACKED_BYTES:
            queue(_PUBLISH, b"".join(parts), 0, 0, MQTTMessageInfo(0))
            parts, size = [], 0
    if parts:
        queue(_PUBLISH, b"".join(parts), 0, 0, MQTTMessageInfo(0))
    await _acked(client, items[-1:])  # in a task: 3.11's wait_for may swallow our cancel

