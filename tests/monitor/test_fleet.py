"""200 plugs of mixed versions watched for a minute, with plugs dying and coming back.

On the fake clock (fakeclock.py): the minute is virtual, so it costs only the CPU of the
polls, and the counts below do not depend on how busy the machine is.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from powermonitor.client.reconnect import Backoff
from powermonitor.config import Config, Defaults, PlugConfig
from powermonitor.models import Reading
from powermonitor.monitor.hub import Availability, HubEvent
from powermonitor.monitor.supervisor import Monitor
from powermonitor.simulator.server import Fleet, fleet_specs

from .fakeclock import virtual_clock

pytestmark = pytest.mark.fake_clock

COUNT = 200
DURATION = 60.0
INTERVAL = 2.0


async def test_fleet_of_200_for_a_minute() -> None:
    fleet = Fleet(fleet_specs(COUNT, ["3.1", "3.3", "3.4", "3.5"], ["cz", "legacy", "switch20"],
                              ["constant:60", "fridge", "pc"], seed=5),
                  clock=virtual_clock)
    await fleet.start()
    plugs = []
    for i, server in enumerate(fleet.servers):
        e = server.device_entry()
        key = "wrongwrongwrong0" if i == 7 else e["key"]  # plug 7: a wrong key in the config
        plugs.append(PlugConfig(name=e["name"], device_id=e["id"], host=e["ip"], local_key=key,
                                version="auto" if i % 10 == 0 else e["version"], port=e["port"]))
    config = Config(defaults=Defaults(poll_interval=INTERVAL, timeout=2.0), plugs=tuple(plugs))
    monitor = Monitor(config, start_spread=INTERVAL, clock=virtual_clock,
                      backoff_factory=lambda: Backoff(initial=0.5, cap=3.0, key_error_delay=20.0,
                                                      rng=random.Random(0)))
    sub = monitor.hub.subscribe(maxsize=1_000_000)
    task = asyncio.create_task(monitor.run())
    victims = [fleet.servers[i] for i in range(20, 30)]
    try:
        await asyncio.sleep(DURATION / 3)
        await asyncio.gather(*(s.stop() for s in victims))  # ten plugs lose power
        await asyncio.sleep(6.0)
        for s in victims:
            await s.start()
        await asyncio.sleep(DURATION * 2 / 3 - 6.0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await fleet.stop()

    events: list[HubEvent] = []
    while (event := sub.get_nowait()) is not None:
        events.append(event)
    readings = Counter(e.device_id for e in events if isinstance(e, Reading))
    offline = Counter(e.device_id for e in events if isinstance(e, Availability) and not e.online)
    expected = DURATION / INTERVAL
    victim_ids = {s.plug.device_id for s in victims}
    wrong = fleet.servers[7].plug.device_id
    for server in fleet.servers:
        device_id = server.plug.device_id
        assert server.plug.max_concurrent == 1, device_id  # never two connections to one plug
        if device_id == wrong:
            continue
        floor = expected - 6 - (6.0 / INTERVAL if device_id in victim_ids else 0)
        assert readings[device_id] >= floor, (device_id, readings[device_id])
        assert readings[device_id] <= expected + 3  # never polled faster than its interval
    for device_id in victim_ids:
        assert offline[device_id] == 1  # went offline once...
        assert monitor.hub.states[device_id].online  # ...and recovered
    state = monitor.hub.states[wrong]
    assert not state.online and state.kind == "key" and readings[wrong] == 0
    assert fleet.servers[7].plug.connections_total <= 2 * 5 + 1  # slow retries, not a hammering
