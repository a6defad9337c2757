"""The HTTP server: uvicorn in the *current* event loop, beside the monitor, with a door that
keeps it from ever being the way the service stops polling.

uvicorn (h11) has no connection cap and no time limit for a request that is being received:
a thousand clients trickling header bytes would hold a thousand file descriptors, and once
the process has none left the plugs can no longer be reconnected, silently. So the server's
protocol is h11's with three limits (values and reasons in :mod:`powermonitor.limits`):

* at most ``max_connections`` open connections (further ones get a 503 and are closed at
  once), never more than a share of the process's descriptor limit, which is first raised
  from its soft value toward the hard one;
* a client has ``request_timeout_s`` to send a whole request (and a connection that sends
  nothing at all is closed after it too);
* a client that takes no response bytes for ``write_stall_s`` is disconnected.

Each limit is logged when it is hit, once per burst. ``serve`` stops cleanly when its task is
cancelled: the live streams are ended first, so shutdown never waits on an open page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..limits import (
    FD_SHARE_FOR_WEB,
    KEEP_ALIVE_S,
    MAX_HEADER_BYTES,
    MAX_WEB_CONNECTIONS,
    REQUEST_TIMEOUT_S,
    WRITE_STALL_S,
)
from .live import Live
from .once import Once

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S: Final = 5
_BUSY_TEXT: Final = b"too many connections: try again later\n"
_BUSY: Final = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_BUSY_TEXT), _BUSY_TEXT))


@dataclass
class Door:
    """The limits of one server and what they have refused so far (shared by its
    connections)."""

    max_connections: int = MAX_WEB_CONNECTIONS
    request_timeout_s: float = REQUEST_TIMEOUT_S
    write_stall_s: float = WRITE_STALL_S
    refused: int = 0
    timed_out: int = 0
    stalled: int = 0
    full_log: Once = field(default_factory=lambda: Once(
        log, "web: %d connections open (the most allowed): further connections are refused"))
    slow_log: Once = field(default_factory=lambda: Once(
        log, "web: a client did not send its request within %g s: connection closed"))
    stall_log: Once = field(default_factory=lambda: Once(
        log, "web: a client took no data for %g s: connection closed"))


class GuardedH11(H11Protocol):
    """h11's protocol with the door's limits (``door`` is set by :func:`protocol_for`)."""

    door: ClassVar[Door]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused = False
        self._request_timer: asyncio.TimerHandle | None = None
        self._stall_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        door = self.door
        if len(self.connections) >= door.max_connections:
            door.refused += 1
            door.full_log.warn(len(self.connections))
            self._refused = True
            self.transport = transport
            transport.write(_BUSY)
            transport.close()
            return
        door.full_log.reset()
        super().connection_made(transport)
        self._arm_request_timer(door.request_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._request_timer is not None and self.conn.their_state is not h11.IDLE \
                and self.conn.their_state is not h11.SEND_BODY:
            self._request_timer.cancel()  # the whole request is in
            self._request_timer = None
            self.door.slow_log.reset()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():  # the next request on this connection, if any
            self._arm_request_timer(self.timeout_keep_alive + self.door.request_timeout_s)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stall_timer is None:
            self._stall_timer = self.loop.call_later(self.door.write_stall_s, self._stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
            self.door.stall_log.reset()

    def _arm_request_timer(self, delay: float) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
        self._request_timer = self.loop.call_later(delay, self._too_slow)

    def _too_slow(self) -> None:
        self._request_timer = None
        if self.conn.their_state is h11.IDLE or self.conn.their_state is h11.SEND_BODY:
            self.door.timed_out += 1
            self.door.slow_log.warn(self.door.request_timeout_s)
            self.transport.abort()

    def _stalled(self) -> None:
        self._stall_timer = None
        self.door.stalled += 1
        self.door.stall_log.warn(self.door.write_stall_s)
        self.transport.abort()

    def _cancel_timers(self) -> None:
        for timer in (self._request_timer, self._stall_timer):
            if timer is not None:
                timer.cancel()
        self._request_timer = self._stall_timer = None


def protocol_for(door: Door) -> type[GuardedH11]:
    """The protocol class of one server (uvicorn instantiates it per connection)."""
    return type("GuardedH11", (GuardedH11,), {"door": door})


def raise_fd_limit() -> int:
    """Raise the soft limit of open files to the hard one (where allowed); the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connection_cap(wanted: int = MAX_WEB_CONNECTIONS) -> int:
    """``wanted``, but never more than a share of the descriptors (raised first)."""
    soft = raise_fd_limit()
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft // FD_SHARE_FOR_WEB))


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the service owns SIGINT/SIGTERM and cancels us."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.ready.set()


def _listen(host: str, port: int) -> socket.socket:
    """Bind here, not in uvicorn (which calls sys.exit on a bind error): a clear OSError."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


async def serve(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    on_started: Callable[[int], None] | None = None,
    door: Door | None = None,
    what: str = "dashboard",
) -> None:
    """Serve ``app`` (the one :func:`~powermonitor.web.app.create_app` made, or any ASGI app)
    on host:port in the running loop until cancelled.

    ``port`` 0 picks a free port; ``on_started`` receives the bound port once the server
    accepts connections. A port that cannot be bound raises OSError with the address in it.
    ``door`` sets the connection limits (the defaults of :mod:`powermonitor.limits`, with the
    connection cap lowered to a share of the descriptor limit). ``what`` names the server in
    the log line (the ``--metrics-listen`` listener serves here too).
    """
    if door is None:
        door = Door(max_connections=connection_cap())
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, log_level="warning", access_log=False, lifespan="off",
        ws="none", timeout_graceful_shutdown=SHUTDOWN_TIMEOUT_S, server_header=False,
        http=protocol_for(door), timeout_keep_alive=int(KEEP_ALIVE_S),
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )
    server = _Server(config)
    loop = asyncio.get_running_loop()
    task = loop.create_task(server.serve(sockets=[sock]), name=f"web:{host}:{bound}")
    ready = loop.create_task(server.ready.wait())
    try:
        await asyncio.wait((task, ready), return_when=asyncio.FIRST_COMPLETED)
        if server.started:
            log.info("%s at http://%s:%d/", what, f"[{host}]" if ":" in host else host, bound)
            if on_started is not None:
                on_started(bound)
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await _stop(app, server, task)
        raise
    finally:
        ready.cancel()
        sock.close()


async def _stop(app: ASGIApp, server: _Server, task: asyncio.Task[None]) -> None:
    """End the live streams, then let uvicorn finish the requests in flight (bounded)."""
    live = getattr(getattr(app, "state", None), "live", None)
    if isinstance(live, Live):
        live.close()
    server.should_exit = True
    try:
        await asyncio.wait_for(asyncio.shield(task), SHUTDOWN_TIMEOUT_S + 2.0)
    except (TimeoutError, asyncio.CancelledError):  # too slow, or cancelled again: stop now
        server.force_exit = True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait((task,), timeout=1.0)
    except Exception:  # the server failed while stopping; we are stopping anyway
        log.exception("the web server failed while stopping")
