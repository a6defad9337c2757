"""The web application (dashboard + JSON API) and the server that runs it in the service's loop.

``create_app(service)`` builds a FastAPI app over a running :class:`~powermonitor.service.Service`
(FastAPI validates requests and publishes /openapi.json and /docs). ``serve(app, host, port)``
runs uvicorn in the *current* event loop, beside the monitor, and stops cleanly when its task
is cancelled: the live streams are ended first, so shutdown never waits on an open page.

Binds are the caller's decision (the service binds 127.0.0.1 unless told otherwise). The
dashboard's files ship in ``static/`` (uPlot vendored, no CDN), so it works offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

import uvicorn
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from .api import Api
from .history import HistoryCache
from .insight_api import insight_router
from .live import HEARTBEAT_S, QUEUE_SIZE, Live

if TYPE_CHECKING:
    from ..service import Service

log = logging.getLogger(__name__)

STATIC_DIR: Final = Path(__file__).with_name("static")
SHUTDOWN_TIMEOUT_S: Final = 5

_SECURITY_HEADERS: Final = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     (b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
     b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")),
]


class _SecurityHeaders:
    """Adds the security headers to every response (a plain ASGI wrapper: streams stay streams)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    service: Service,
    *,
    heartbeat_s: float = HEARTBEAT_S,
    queue_size: int = QUEUE_SIZE,
    cache_history: bool = True,
) -> FastAPI:
    """The dashboard and API over ``service``.

    ``app.state.live`` is the SSE fan-out and ``app.state.history_cache`` the cache of encoded
    history bodies (``cache_history=False`` turns it off, for measurements).
    """
    app = FastAPI(
        title="powermonitor",
        version=__version__,
        summary="Live power, measured energy and cost of Tuya WiFi smart plugs.",
        # Swagger UI and ReDoc would load their scripts from a CDN, which this page never
        # does (it must work offline); /openapi.json describes the API instead.
        docs_url=None,
        redoc_url=None,
    )
    live = Live(service.hub, service.names, heartbeat_s=heartbeat_s, queue_size=queue_size)
    cache = HistoryCache(enabled=cache_history)
    app.state.service = service
    app.state.live = live
    app.state.history_cache = cache
    api = Api(service, live, cache)
    app.include_router(api.router)
    app.include_router(insight_router(api))

    index = STATIC_DIR / "index.html"

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(_SecurityHeaders)
    return app


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
    what: str = "dashboard",
) -> None:
    """Serve ``app`` (the one :func:`create_app` made, or any ASGI app) on host:port in the
    running loop until cancelled.

    ``port`` 0 picks a free port; ``on_started`` receives the bound port once the server
    accepts connections. A port that cannot be bound raises OSError with the address in it.
    ``what`` names the server in the log line (the ``--metrics-listen`` listener serves here too).
    """
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, log_level="warning", access_log=False, lifespan="off",
        ws="none", timeout_graceful_shutdown=SHUTDOWN_TIMEOUT_S, server_header=False,
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
