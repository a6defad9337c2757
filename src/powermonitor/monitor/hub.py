"""The Hub: fan readings out to subscribers and keep the latest state of every plug.

Subscribers (storage, exporters, the web page, ``watch``) each get a bounded queue. When a
subscriber falls behind, its oldest items are dropped (and counted) so polling never waits on
it. The latest-state cache answers "what is every plug doing now" without touching a plug:
Prometheus scrapes and the dashboard's first paint read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
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
    """A bounded queue of Hub events for one consumer; iterate it with ``async for``.

    A deque and the getters' futures rather than an ``asyncio.Queue``: :meth:`offer` runs for
    every reading and every subscriber, and the Queue's bookkeeping (full, qsize, put_nowait,
    waking a getter through three calls) was a measurable part of a 1000-plug service.
    """

    __slots__ = ("_getters", "_hub", "_items", "_maxsize", "closed", "dropped")

    def __init__(self, hub: Hub, maxsize: int) -> None:
        self._hub = hub
        self._items: deque[HubEvent] = deque()
        self._maxsize = maxsize  # <= 0: unbounded (as asyncio.Queue)
        self._getters: deque[asyncio.Future[None]] = deque()
        self.dropped = 0
        self.closed = False

    def offer(self, event: HubEvent) -> None:
        items = self._items
        if 0 < self._maxsize <= len(items):
            items.popleft()  # drop the oldest: the newest state matters most
            self.dropped += 1
        items.append(event)
        if self._getters:
            self._wake_next()

    async def get(self) -> HubEvent:
        items = self._items
        while not items:
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                with contextlib.suppress(ValueError):
                    self._getters.remove(getter)
                if items and not getter.cancelled():
                    self._wake_next()  # it was woken and then cancelled: pass the turn on
                raise
        return items.popleft()

    def _wake_next(self) -> None:
        getters = self._getters
        while getters:
            getter = getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    def get_nowait(self) -> HubEvent | None:
        items = self._items
        return items.popleft() if items else None

    def take(self, most: int) -> list[HubEvent]:
        """Up to ``most`` queued events, oldest first, without waiting."""
        items = self._items
        if len(items) <= most:
            out = list(items)
            items.clear()
            return out
        return [items.popleft() for _ in range(most)]

    async def burst(self, most: int, gather_s: float = 0.0) -> list[HubEvent]:
        """Wait for an event, let more gather for ``gather_s`` seconds, then take up to
        ``most`` events, oldest first: one wake-up of a consumer per burst, not per reading."""
        first = await self.get()
        if gather_s > 0:
            await asyncio.sleep(gather_s)  # what arrives meanwhile joins it
        events = self.take(most - 1)
        events.insert(0, first)
        return events

    def qsize(self) -> int:
        return len(self._items)

    def close(self) -> None:
        self.closed = True
        self._hub._subscribers.discard(self)

    async def __aiter__(self) -> AsyncIterator[HubEvent]:
        while not self.closed:
            yield await self.get()

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
