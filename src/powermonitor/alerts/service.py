"""The alerts consumer in the running service: Hub events and a clock tick into the engine,
cycles into the database, alert events into the outbox, and the outbox out to the channels.

The tick is what ends a flat plug's cycle and fires overload/offline timers while no reading
arrives; the engine computes each firing time exactly, so the tick only bounds the latency.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from ..config.alerts import AlertConfig
from ..errors import PowermonitorError
from ..insight.cycles import Cycle
from ..insight.store import InsightStore
from ..models import Reading
from ..monitor.consumer import HubConsumer
from ..monitor.hub import Availability, Hub, HubEvent
from ..storage.base import Store
from ..tariff import Tariff
from .engine import Engine, Output
from .notify import build_notifier
from .outbox import Dispatcher

log = logging.getLogger(__name__)

TICK_S = 1.0
MAX_HELD = 100_000
REPLAY_S = 6 * 3600.0
"""After a restart, the last hours of stored readings rebuild the cycles in progress."""


class AlertService(HubConsumer):
    """The in side (:meth:`take`) feeds the engine; the out side (:meth:`serve`) ticks it,
    stores what it produced and delivers the outbox."""

    name = "alerts"

    def __init__(self, hub: Hub, store: Store, config: AlertConfig, tariff: Tariff,
                 names: Mapping[str, str], *, mqtt_settings: Any = None,
                 tick_s: float = TICK_S, clock: Callable[[], float] = time.time) -> None:
        super().__init__(hub)
        self.config = config
        self.tick_s = tick_s
        self.clock = clock
        self.engine = Engine(config.rules, names, price=tariff.cost, price_at=tariff.price_at)
        self.insight = InsightStore(store)
        notifiers = {t.name: build_notifier(t, mqtt_settings) for t in config.targets}
        self.dispatcher = Dispatcher(self.insight, notifiers, config.rules,
                                     ZoneInfo(tariff.timezone), clock)
        self._outputs: asyncio.Queue[list[Output]] = asyncio.Queue()
        self._held: list[HubEvent] | None = []  # live events held while replaying
        self.cycles_recorded = 0
        self.events = 0

    def take(self, events: list[HubEvent]) -> None:
        if self._held is not None:
            self._held.extend(events)
            del self._held[:-MAX_HELD]  # bounded, like the Hub's queues: the newest matter
            return
        out: list[Output] = []
        for event in events:
            if isinstance(event, Reading):
                out += self.engine.reading(event.device_id, event.timestamp.timestamp(),
                                           event.power_w, event.switch)
            elif isinstance(event, Availability):
                out += self.engine.availability(event.device_id, event.timestamp.timestamp(),
                                                event.online, event.kind, event.reason,
                                                event.name)
        if out:
            self._outputs.put_nowait(out)

    async def replay(self) -> None:
        """Rebuild cycles in progress from the stored readings, then take the held events."""
        now = self.clock()
        try:
            for device_id in self.engine.cycle_devices():
                rows = await self.insight.readings(device_id, now - REPLAY_S, now)
                out: list[Output] = []
                for ts, power_w in rows:
                    out += self.engine.replay(device_id, ts, power_w)
                await self.handle(out)
        except PowermonitorError as exc:
            log.warning("alerts: could not replay recent readings: %s", exc)
        held, self._held = self._held or [], None
        self.take(held)

    async def serve(self) -> None:
        await self.replay()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._ticker(), name="alerts:tick")
            group.create_task(self._store_outputs(), name="alerts:store")
            group.create_task(self.dispatcher.run(), name="alerts:deliver")

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            out = self.engine.tick(self.clock())
            if out:
                self._outputs.put_nowait(out)

    async def _store_outputs(self) -> None:
        while True:
            await self.handle(await self._outputs.get())

    async def handle(self, outputs: list[Output]) -> None:
        for item in outputs:
            try:
                if isinstance(item, Cycle):
                    await self.insight.save_cycle(item)
                    self.cycles_recorded += 1
                else:
                    self.events += 1
                    await self.dispatcher.submit(item)
            except PowermonitorError as exc:  # the database is down: log, keep evaluating
                log.warning("alerts: could not store %s: %s", type(item).__name__, exc)
