"""CPU per QoS-0 MQTT state message, three ways, against a real mosquitto (issue 13, session 3).

* ``aiomqtt``: ``aiomqtt.Client.publish`` per message, 100 in flight (``asyncio.gather``), as
  exporters/mqtt.py did before;
* ``paho``: paho's ``publish`` per message straight on the client under aiomqtt (no coroutine,
  no event), the last one through aiomqtt to wait for the socket;
* ``packed``: ``powermonitor.exporters.mqtt_publish.publish_items`` (the run encoded by us and
  queued on paho as a few 64 KiB writes).

Bursts of 1000 retained state-like messages (~230 bytes); this process (uvloop) pinned to core
0, mosquitto to core 1; CPU is this process's ``time.process_time()`` over 20 bursts after 3 of
warm-up, interleaved ``--rounds`` times::

    python3 bench/mqtt_publish.py --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import _common as C

C.ensure_importable()

import aiomqtt

from powermonitor.exporters.mqtt_publish import Item, publish_items

PAYLOAD = json.dumps({"power": 123.4, "voltage": 230.1, "current": 0.536, "power_factor": 0.98,
                      "switch": "ON", "switches": {"1": "ON"}, "energy_kwh": 12.345678,
                      "timestamp": "2026-12-06T07:14:01.123Z"}).encode()
ITEMS: list[Item] = [(f"powermonitor/bf{i:020d}/state", PAYLOAD, True, 0) for i in range(1000)]


async def via_aiomqtt(client: aiomqtt.Client) -> None:
    for start in range(0, len(ITEMS), 100):
        await asyncio.gather(*(client.publish(t, p, qos=q, retain=r)
                               for t, p, r, q in ITEMS[start:start + 100]))


async def via_paho(client: aiomqtt.Client) -> None:
    paho: Any = client._client
    for topic, payload, retain, qos in ITEMS[:-1]:
        if paho.publish(topic, payload, qos, retain).rc:
            raise RuntimeError("publish failed")
    topic, payload, retain, qos = ITEMS[-1]
    await client.publish(topic, payload, qos=qos, retain=retain)


async def packed(client: aiomqtt.Client) -> None:
    await publish_items(client, ITEMS)


WAYS: dict[str, Callable[[aiomqtt.Client], Awaitable[None]]] = {
    "aiomqtt": via_aiomqtt, "paho": via_paho, "packed": packed}


async def measure(port: int, way: str, bursts: int = 20) -> float:
    fn = WAYS[way]
    async with aiomqtt.Client("127.0.0.1", port) as client:
        client.pending_calls_threshold = 10_000
        for _ in range(3):
            await fn(client)
        t0 = time.process_time()
        for _ in range(bursts):
            await fn(client)
            await asyncio.sleep(0.02)  # the broker drains; an idle loop costs ~nothing
        return (time.process_time() - t0) / (bursts * len(ITEMS)) * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    import uvloop

    C.pin(C.CLIENT_CORE)
    with tempfile.TemporaryDirectory() as work:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        conf = Path(work) / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        broker = subprocess.Popen([*C.taskset(C.DEVICE_CORE), "mosquitto", "-c", str(conf)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            got: dict[str, list[float]] = {w: [] for w in WAYS}
            for _ in range(a.rounds):
                for way in WAYS:
                    got[way].append(uvloop.run(measure(port, way)))
        finally:
            broker.terminate()
            broker.wait(5)
    for way, values in got.items():
        print(f"{way:8s} µs of CPU per message: {', '.join(f'{v:.1f}' for v in values)}"
              f" (median {statistics.median(values):.1f})")


if __name__ == "__main__":
    main()
