"""Server-sent events: the Hub's readings and availability changes, live, to each browser.

Every client gets its own bounded Hub subscription (the Hub drops the oldest events when a
client falls behind, so a stalled browser never slows polling). A comment line goes out every
``heartbeat_s`` so proxies keep the connection open and the browser notices a dead server.
When the client goes away the stream is cancelled and the subscription closed; when the web
server stops, :meth:`Live.close` ends every stream so shutdown never waits on an open page.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable, Collection
from typing import Any

from ..models import Reading
from ..monitor.hub import Availability, Hub
from ..timeparse import iso_utc

HEARTBEAT_S = 15.0
QUEUE_SIZE = 256
RETRY_MS = 3000


def reading_dict(reading: Reading) -> dict[str, Any]:
    """A reading as the API shows it (shared by REST and SSE)."""
    ts = reading.timestamp.timestamp()
    return {
        "timestamp": iso_utc(reading.timestamp),
        "ts": ts,
        "switch": reading.switch,
        "switches": dict(reading.switches),
        "power_w": reading.power_w,
        "voltage_v": reading.voltage_v,
        "current_a": reading.current_a,
        "power_factor": reading.power_factor,
        "apparent_power_va": reading.apparent_power_va,
        "source": reading.source,
        "notes": list(reading.notes),
    }


def _frame(event: str, data: dict[str, Any]) -> bytes:
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, default=str)
    return f"event: {event}\ndata: {text}\n\n".encode()


class Live:
    """Turns Hub events into SSE byte streams, one per connected client."""

    def __init__(
        self,
        hub: Hub,
        names: Callable[[], dict[str, str]],
        *,
        heartbeat_s: float = HEARTBEAT_S,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.hub = hub
        self.names = names
        self.heartbeat_s = heartbeat_s
        self.queue_size = queue_size
        self.clients = 0
        self._closing = asyncio.Event()

    def close(self) -> None:
        """End every open stream (the server is stopping)."""
        self._closing.set()

    def encode(self, event: Reading | Availability) -> bytes:
        if isinstance(event, Reading):
            data = reading_dict(event)
            data["id"] = event.device_id
            data["name"] = self.names().get(event.device_id, event.device_id)
            return _frame("reading", data)
        return _frame("availability", {
            "id": event.device_id,
            "name": event.name or self.names().get(event.device_id, event.device_id),
            "online": event.online,
            "timestamp": iso_utc(event.timestamp),
            "ts": event.timestamp.timestamp(),
            "reason": event.reason,
            "kind": event.kind,
        })

    async def stream(self, device_ids: Collection[str] = ()) -> AsyncGenerator[bytes, None]:
        """The event stream of one client (only ``device_ids`` when given)."""
        wanted = set(device_ids)
        sub = self.hub.subscribe(maxsize=self.queue_size)
        loop = asyncio.get_running_loop()
        stop = loop.create_task(self._closing.wait())
        getter: asyncio.Task[Reading | Availability] | None = None
        self.clients += 1
        try:
            yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
            next_beat = loop.time() + self.heartbeat_s
            while not self._closing.is_set():
                if getter is None:
                    getter = loop.create_task(sub.get())
                timeout = max(0.0, next_beat - loop.time())
                await asyncio.wait((getter, stop), timeout=timeout,
                                   return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    event, getter = getter.result(), None
                    chunks = [event]
                    while (more := sub.get_nowait()) is not None:  # drain a burst in one write
                        chunks.append(more)
                    out = b"".join(
                        self.encode(e) for e in chunks if not wanted or e.device_id in wanted
                    )
                    if out:
                        yield out
                if loop.time() >= next_beat:
                    yield b": heartbeat\n\n"
                    next_beat = loop.time() + self.heartbeat_s
        finally:
            self.clients -= 1
            sub.close()
            stop.cancel()
            if getter is not None:
                getter.cancel()
