"""A real running service for the web tests: simulated plugs on loopback, a real Monitor and
Hub, the Recorder and writer feeding a real SqliteStore (seeded with three days of history),
and the app served by uvicorn on a free 127.0.0.1 port in the test's own event loop.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from powermonitor.client.reconnect import Backoff
from powermonitor.config import Config, Defaults, PlugConfig
from powermonitor.monitor.supervisor import Monitor
from powermonitor.recorder import Recorder
from powermonitor.service import Service
from powermonitor.simulator.server import Fleet, fleet_specs
from powermonitor.storage.base import Sample
from powermonitor.storage.sqlite import SqliteStore
from powermonitor.storage.writer import StoreWriter
from powermonitor.tariff import Tariff
from powermonitor.web import create_app, serve

TOKEN = "test-token-3f9a1c7e5b"
TIMEZONE = "Europe/Berlin"
PRICE = 0.30
NAMES = ["fridge", "strip", "heater"]
SEED_DAYS = 3
SEED_STEP_S = 300.0
GAP = (6 * 3600.0, 8 * 3600.0)  # the seeded history has no data from 8 h to 6 h ago


async def until(predicate: Callable[[], Any], timeout: float = 15.0, step: float = 0.05) -> None:
    """Wait (bounded) until ``predicate()`` is true."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(step)


def seed_samples(device_id: str, now: float, power_w: float) -> list[Sample]:
    """Regular samples for the last SEED_DAYS days, with a hole (the GAP) in them."""
    samples = []
    total = 0.0
    ts = now - SEED_DAYS * 86400.0
    previous: float | None = None
    while ts < now - 120.0:
        age = now - ts
        if not GAP[0] <= age <= GAP[1]:
            covered = 0.0 if previous is None or ts - previous > SEED_STEP_S else ts - previous
            uncovered = 0.0 if previous is None else ts - previous - covered
            wh = power_w * covered / 3600.0
            total += wh
            samples.append(Sample(device_id, ts, power_w, 230.0, power_w / 230.0, True,
                                  interval_wh=wh, covered_s=covered, uncovered_s=uncovered,
                                  cost=wh / 1000.0 * PRICE, total_wh=total))
            previous = ts
        ts += SEED_STEP_S
    return samples


@dataclass
class Stack:
    fleet: Fleet
    service: Service
    base_url: str
    port: int
    client: httpx.AsyncClient
    app: FastAPI

    @property
    def ids(self) -> list[str]:
        return [s.plug.device_id for s in self.fleet.servers]

    @property
    def keys(self) -> list[str]:
        return [s.plug.spec.local_key for s in self.fleet.servers]

    def server(self, name: str) -> Any:
        return self.fleet.servers[NAMES.index(name)]


@contextlib.asynccontextmanager
async def running_stack(tmp_path: Path, *, heartbeat_s: float = 15.0) -> AsyncIterator[Stack]:
    """Fleet → Monitor → Hub → Recorder → writer → SqliteStore, and the app on 127.0.0.1:0."""
    fleet = Fleet(fleet_specs(3, ["3.3", "3.4", "3.5"], ["cz", "strip4", "cz"],
                              ["random:50:500", "constant:60:0.9", "square:1500:0:6:0.5"],
                              names=NAMES, seed=11))
    await fleet.start()
    plugs = tuple(
        PlugConfig(name=e["name"], device_id=e["id"], host=e["ip"], local_key=e["key"],
                   version=e["version"], port=e["port"])
        for e in fleet.devices()
    )
    config = Config(defaults=Defaults(poll_interval=1.0, timeout=2.0, heartbeat_interval=5.0),
                    plugs=plugs)
    tariff = Tariff(currency="EUR", timezone=TIMEZONE, flat_price=PRICE)
    # a short busy timeout: a test holding the write lock sees the writer fail within a second
    store = SqliteStore(tmp_path / "powermonitor.db", timezone=TIMEZONE, busy_timeout=1.0)
    await store.open()
    now = time.time()
    for i, plug in enumerate(plugs):
        await store.write(seed_samples(plug.device_id, now, 100.0 * (i + 1)),
                          {plug.device_id: plug.name})
    monitor = Monitor(config, start_spread=0.1,
                      backoff_factory=lambda: Backoff(initial=0.2, cap=1.0))
    writer = StoreWriter(store, flush_interval=0.2)
    recorder = Recorder(monitor.hub, writer, tariff, counters=await store.counters(),
                        poll_intervals={p.device_id: 1.0 for p in plugs},
                        names={p.device_id: p.name for p in plugs})
    service = Service(config=config, hub=monitor.hub, monitor=monitor, store=store,
                      writer=writer, recorder=recorder, tariff=tariff, token=TOKEN)
    app = create_app(service, heartbeat_s=heartbeat_s)
    loop = asyncio.get_running_loop()
    bound: asyncio.Future[int] = loop.create_future()
    writer.start()
    tasks = [
        loop.create_task(monitor.run()),
        loop.create_task(recorder.run()),
        loop.create_task(serve(app, "127.0.0.1", 0, on_started=bound.set_result)),
    ]
    try:
        port = await asyncio.wait_for(bound, 10)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=10.0, trust_env=False) as client:
            stack = Stack(fleet, service, base, port, client, app)
            await until(lambda: all(s.online and s.reading for s in monitor.hub.states.values()))
            yield stack
    finally:
        for task in reversed(tasks):
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await writer.stop()
        await store.close()
        await fleet.stop()


class served:  # used like a function: async with served(app) as client
    """Serve ``app`` on a free 127.0.0.1 port for the block; yields a client for it."""

    def __init__(self, app: object) -> None:
        self.app = app

    async def __aenter__(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        bound: asyncio.Future[int] = loop.create_future()
        self.task = loop.create_task(serve(self.app, "127.0.0.1", 0,  # type: ignore[arg-type]
                                           on_started=bound.set_result))
        port = await asyncio.wait_for(bound, 10)
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10,
                                        trust_env=False)
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
