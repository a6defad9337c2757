"""A deliberately minimal asyncio status client over our sans-IO ``Connection`` - a bench-only
PROTOTYPE that shows how much of ``TuyaDevice.status()``'s CPU is request machinery rather than
protocol or event loop. Not a proposed replacement: no pushes, no control, no device22
fallback, no reconnect, one request in flight (a second concurrent call raises).

What it does differently from ``powermonitor.client.device.TuyaDevice`` (each a suggestion):
  - no ``asyncio.Lock`` and no ``asyncio.timeout()`` per request: the in-flight future is
    stored, a per-connection deadline is a float, and ONE long-lived TimerHandle (re-armed
    only when it fires) fails the future when the deadline passed - no timer-heap churn per poll;
  - no nested coroutines (``_request``/``_wait``/``_dps_from``) - one coroutine per poll;
  - the wanted-command test is an int comparison with a value computed once per connection,
    not a set/frozenset built per request; the reply is matched with ``type(e) is StatusReply``
    before any generic dispatch;
  - the Protocol subclass calls straight into the device (no TcpLink -> callback hop), and
    ``data_to_send()`` is only called when the outbox is non-empty.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

from _common import ensure_importable

ensure_importable()

from powermonitor.protocol import events as ev
from powermonitor.protocol.connection import Connection, Role


class LeanDevice(asyncio.Protocol):
    def __init__(
        self,
        device_id: str,
        host: str,
        local_key: str,
        version: str,
        *,
        port: int = 6668,
        timeout: float = 5.0,
    ) -> None:
        self.device_id, self.host, self.port = device_id, host, port
        self.timeout = timeout
        self._key, self._version = local_key, version
        self.dps: dict[str, Any] = {}
        self._conn: Connection | None = None
        self._t: asyncio.Transport | None = None
        self._fut: asyncio.Future[Any] | None = None
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._qcmd = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._t = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def data_received(self, data: bytes) -> None:
        conn = self._conn
        assert conn is not None
        events = conn.receive_data(data)
        if conn._outbox:
            self._t.write(conn.data_to_send())  # type: ignore[union-attr]
        for e in events:
            fut = self._fut
            te = type(e)
            if fut is not None and (
                (te is ev.StatusReply and e.cmd == self._qcmd) or te is ev.SessionEstablished
            ):
                self._fut = None
                if not fut.done():
                    fut.set_result(e)
            elif te is ev.DpsPush:
                self.dps.update(e.dps)

    def connection_lost(self, exc: Exception | None) -> None:
        self._t = None
        self._fail(ConnectionError("connection lost"))

    # -- API
    async def connect(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        conn = self._conn = Connection(Role.CLIENT, self._version, self._key, self.device_id)
        self._qcmd = int(conn.spec.query_cmd)
        async with asyncio.timeout(self.timeout):  # once per connection is fine
            await loop.create_connection(lambda: self, self.host, self.port)
            first = conn.start()
            if first:
                fut = self._begin()
                self._t.write(first)  # type: ignore[union-attr]
                await fut

    async def status(self) -> dict[str, Any]:
        conn = self._conn
        assert conn is not None and self._t is not None
        fut = self._begin()
        self._t.write(conn.query(int(time.time())))
        reply = await fut
        self.dps.update(reply.dps)
        return dict(self.dps)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._t is not None:
            self._t.close()
            await asyncio.sleep(0)

    # -- internals
    def _begin(self) -> asyncio.Future[Any]:
        if self._fut is not None:
            raise RuntimeError("one request at a time")
        loop = self._loop
        assert loop is not None
        fut = self._fut = loop.create_future()
        self._deadline = loop.time() + self.timeout
        if self._timer is None:  # one timer per connection, re-armed lazily
            self._timer = loop.call_at(self._deadline, self._check)
        return fut

    def _check(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        if self._fut is None:  # idle: stop; the next request re-arms
            self._timer = None
            return
        if now >= self._deadline:
            self._fail(TimeoutError("no answer"))
            self._timer = None
            return
        self._timer = loop.call_at(max(self._deadline, now + 0.5), self._check)

    def _fail(self, exc: Exception) -> None:
        fut, self._fut = self._fut, None
        if fut is not None and not fut.done():
            fut.set_exception(exc)
