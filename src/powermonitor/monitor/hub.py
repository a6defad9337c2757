"""The Hub: fan readings out to subscribers and keep the latest state of every plug.

Subscribers (storage, exporters, the web page, ``watch``) each get a bounded queue. When a
subscriber falls behind, its oldest items are dropped (and counted) so polling never waits on
it. The latest-state cache answers "what is every plug doing now" without touching a plug:
Prometheus scrapes and the dashboard's first paint read it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from ..models import Reading

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Availability:
    """A plug went offline (``online=False`` with the reason) or came back."""

    device_id: str
    name: str
    online: bool
    timestamp: datetime
    reason: str = ""
    kind: str = ""  # PowermonitorError.kind: "key", "unreachable", "busy", "timeout", "protocol"...


HubEvent = Reading | Availability


@dataclass(slots=True)
class PlugState:
    """What the Hub knows about one plug right now."""

    device_id: str
    name: str
    online: bool = False
    reading: Reading | None = None
    since: datetime | None = None  # when ``online`` last changed
    reason: str = ""
    kind: str = ""
    protocol: str = ""
    readings: int = 0


class Subscription:
    """A bounded queue of Hub events for one consumer; iterate it with ``async for``."""

    def __init__(self, hub: Hub, maxsize: int) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[HubEvent] = asyncio.Queue(maxsize)
        self.dropped = 0
        self.closed = False

    def offer(self, event: HubEvent) -> None:
        queue = self._queue
        if queue.full():
            queue.get_nowait()  # drop the oldest: the newest state matters most
            self.dropped += 1
        queue.put_nowait(event)

    async def get(self) -> HubEvent:
        return await self._queue.get()

    def get_nowait(self) -> HubEvent | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def qsize(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        self.closed = True
        self._hub._subscribers.discard(self)

    async def __aiter__(self) -> AsyncIterator[HubEvent]:
        while not self.closed:
            yield await self._queue.get()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Hub:
    """Fan-out point between the coordinators and everything that consumes readings."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()
        self.states: dict[str, PlugState] = {}

    def register(self, device_id: str, name: str) -> PlugState:
        state = self.states.get(device_id)
        if state is None:
            state = self.states[device_id] = PlugState(device_id, name)
        return state

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        sub = Subscription(self, maxsize)
        self._subscribers.add(sub)
        return sub

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, reading: Reading, name: str = "") -> None:
        state = self.states.get(reading.device_id) or self.register(reading.device_id, name)
        state.reading = reading
        state.readings += 1
        state.protocol = reading.protocol or state.protocol
        for sub in self._subscribers:
            sub.offer(reading)

    def set_availability(self, event: Availability) -> bool:
        """Record a plug's availability; return True when it changed (so it is logged once)."""
        state = self.states.get(event.device_id) or self.register(event.device_id, event.name)
        changed = state.online != event.online or state.since is None
        state.reason, state.kind = event.reason, event.kind
        if not changed:
            return False
        state.online = event.online
        state.since = event.timestamp
        for sub in self._subscribers:
            sub.offer(event)
        return True

    def latest(self) -> dict[str, Reading]:
        """The last reading of every plug that has one (online or not: check ``states``)."""
        return {k: s.reading for k, s in self.states.items() if s.reading is not None}
