"""Server-sent events: the Hub's readings and availability changes, live, to each browser.

Polling and recording come first, so the cost of live clients is kept flat:

* **One Hub subscription, each event encoded once.** A pump drains the Hub while at least one
  client is connected and appends each burst, encoded, to a short shared backlog; clients
  take the bytes from there (a client that wants every plug takes one joined blob per burst).
* **Bursts, not single readings.** The pump gathers what arrives within ``coalesce_s`` (BURST_S)
  of a first event into one burst, so a client wakes and writes ten times a second however
  many plugs are polled, instead of once per reading.
* **Capped clients.** :meth:`Live.open` refuses beyond ``max_clients`` (:class:`LiveFull`;
  the route answers 503 and the refusal is logged once per burst).
* **Slow consumers are dropped.** A client further behind than the backlog has fallen
  ``LIVE_BACKLOG_BATCHES`` bursts behind: its stream ends (the browser reconnects by itself);
  a client whose socket stopped taking bytes is cut by the server's write-stall limit.

A comment line goes out every ``heartbeat_s`` so proxies keep the connection open and the
browser notices a dead server. :meth:`Live.close` ends every stream (the server is stopping).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection
from dataclasses import dataclass
from typing import Any

from ..limits import BURST_S, LIVE_BACKLOG_BATCHES, LIVE_HUB_QUEUE, MAX_LIVE_CLIENTS
from ..models import Reading
from ..monitor.hub import Availability, Hub, Subscription
from ..timeparse import iso_utc
from .once import Once

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0
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


def _since(backlog: deque[_Batch], cursor: int) -> list[_Batch]:
    """The batches numbered ``cursor`` or later, oldest first (walked from the new end: a
    client is usually one batch behind, and the backlog is long)."""
    fresh: list[_Batch] = []
    for batch in reversed(backlog):
        if batch.seq < cursor:
            break
        fresh.append(batch)
    fresh.reverse()
    return fresh


class LiveFull(Exception):
    """No room for another live client."""


@dataclass(frozen=True, slots=True)
class _Batch:
    seq: int
    frames: tuple[tuple[str, bytes], ...]  # (device id, encoded event)
    blob: bytes  # every frame, joined: what an unfiltered client sends


class Client:
    """One admitted live client: iterate it for its byte stream; :meth:`release` (idempotent)
    gives its slot back, whether or not the stream was ever started."""

    def __init__(self, live: Live, device_ids: Collection[str]) -> None:
        self._live = live
        self._wanted = frozenset(device_ids)
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._live._leave()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream()

    async def _stream(self) -> AsyncGenerator[bytes, None]:
        live = self._live
        loop = asyncio.get_running_loop()
        cursor = live._next_seq  # from admission on: nothing published since is missed
        try:
            yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
            next_beat = loop.time() + live.heartbeat_s
            while not live.closing:
                if cursor == live._next_seq:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(max(0.0, next_beat - loop.time())):
                            await live._wait_for(cursor)
                    if live.closing:
                        break
                backlog = live._backlog
                if backlog and cursor < backlog[0].seq:
                    live.dropped += 1
                    return  # a slow consumer: it missed events; the browser reconnects
                fresh = _since(backlog, cursor)
                if fresh:
                    cursor = fresh[-1].seq + 1
                    if self._wanted:
                        out = b"".join(f for b in fresh for d, f in b.frames if d in self._wanted)
                    else:
                        out = b"".join(b.blob for b in fresh)
                    if out:
                        yield out
                if loop.time() >= next_beat:
                    yield b": heartbeat\n\n"
                    next_beat = loop.time() + live.heartbeat_s
        finally:
            self.release()


class Live:
    """Turns Hub events into SSE byte streams for at most ``max_clients`` clients."""

    def __init__(
        self,
        hub: Hub,
        names: Callable[[], dict[str, str]],
        *,
        heartbeat_s: float = HEARTBEAT_S,
        max_clients: int = MAX_LIVE_CLIENTS,
        backlog: int = LIVE_BACKLOG_BATCHES,
        coalesce_s: float = BURST_S,
    ) -> None:
        self.hub = hub
        self.coalesce_s = coalesce_s
        self.names = names
        self.heartbeat_s = heartbeat_s
        self.max_clients = max_clients
        self.clients = 0
        self.dropped = 0  # slow consumers dropped so far
        self.refused = 0  # clients refused at the cap so far
        self.closing = False
        self._backlog: deque[_Batch] = deque(maxlen=backlog)
        self._next_seq = 0
        self._wakeup: asyncio.Future[None] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None
        self._bad_log = Once(log, "live events: an event of %s cannot be sent (%s): skipped")
        self._full_log = Once(log, "live events: %d clients already connected (the most allowed): "
                                   "further clients get 503")

    def open(self, device_ids: Collection[str] = ()) -> Client:
        """Admit one client (only ``device_ids`` when given), or raise LiveFull."""
        if self.clients >= self.max_clients:
            self.refused += 1
            self._full_log.warn(self.clients)
            raise LiveFull(f"too many live clients (at most {self.max_clients})")
        self._full_log.reset()
        self.clients += 1
        if self._pump is None:
            self._start()
        return Client(self, device_ids)

    def stream(self, device_ids: Collection[str] = ()) -> AsyncIterator[bytes]:
        """A client's byte stream (admitted like :meth:`open`)."""
        return aiter(self.open(device_ids))

    @property
    def batches(self) -> int:
        """Bursts encoded so far (each once, for every client)."""
        return self._next_seq

    def close(self) -> None:
        """End every open stream (the server is stopping)."""
        self.closing = True
        self._wake()

    # ------------------------------------------------------------------ internals

    def _leave(self) -> None:
        self.clients -= 1
        if self.clients == 0 and self._pump is not None:
            self._pump.cancel()
            self._pump = None
            if self._sub is not None:
                self._sub.close()
                self._sub = None

    def _start(self) -> None:
        sub = self._sub = self.hub.subscribe(maxsize=LIVE_HUB_QUEUE)  # now: no event missed

        async def pump() -> None:
            with sub:  # closed here too if the pump fails
                while True:
                    events = await sub.burst(LIVE_HUB_QUEUE + 1, self.coalesce_s)  # one batch
                    names = self.names()  # once per burst: it may build a dict of every plug
                    frames = tuple((e.device_id, f) for e in events
                                   if (f := self._encode_or_skip(e, names)) is not None)
                    if not frames:
                        continue
                    self._backlog.append(_Batch(self._next_seq, frames,
                                                b"".join(f for _, f in frames)))
                    self._next_seq += 1
                    self._wake()

        self._pump = asyncio.get_running_loop().create_task(pump(), name="live-events")

    def _encode_or_skip(self, event: Reading | Availability, names: dict[str, str]
                        ) -> bytes | None:
        """The event's frame; an event that cannot be JSON (a non-finite value that got this
        far) is skipped and logged, never the end of every live stream."""
        try:
            return self.encode(event, names)
        except (ValueError, TypeError) as exc:
            self._bad_log.warn(event.device_id, exc)
            return None

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)
        self._wakeup = None

    async def _wait_for(self, cursor: int) -> None:
        """Until a batch numbered ``cursor`` or later exists (or the server stops)."""
        while self._next_seq <= cursor and not self.closing:
            if self._wakeup is None:
                self._wakeup = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._wakeup)

    def encode(self, event: Reading | Availability, names: dict[str, str] | None = None) -> bytes:
        """One event as an SSE frame (``names``: device id → name, else asked for)."""
        names = self.names() if names is None else names
        if isinstance(event, Reading):
            data = reading_dict(event)
            data["id"] = event.device_id
            data["name"] = names.get(event.device_id, event.device_id)
            return _frame("reading", data)
        return _frame("availability", {
            "id": event.device_id,
            "name": event.name or names.get(event.device_id, event.device_id),
            "online": event.online,
            "timestamp": iso_utc(event.timestamp),
            "ts": event.timestamp.timestamp(),
            "reason": event.reason,
            "kind": event.kind,
        })
