"""The web application: dashboard + JSON API over the running service.

``create_app(service)`` builds a FastAPI app over anything shaped like
:class:`~powermonitor.web.ports.WebService` (FastAPI validates requests and publishes
/openapi.json). Every request passes :class:`~powermonitor.web.guard.Guard` first (Host
check, token and body limits); :func:`~powermonitor.web.server.serve` runs it in the service's
loop with connection limits.

Binds are the caller's decision (the service binds 127.0.0.1 unless told otherwise). The
dashboard's files ship in ``static/`` (uPlot vendored, no CDN), so it works offline.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..limits import MAX_LIVE_CLIENTS
from .api import Api
from .guard import Guard
from .history import HistoryCache
from .insight_api import insight_router
from .live import HEARTBEAT_S, Live
from .ports import WebService, plug_directory
from .server import serve

__all__ = ["create_app", "serve"]

log = logging.getLogger(__name__)

STATIC_DIR: Final = Path(__file__).with_name("static")

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


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    """422 naming what is wrong where, without echoing the input back: a hostile value (NaN,
    megabytes of text) must neither break the JSON of the answer nor be reflected."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse(status_code=422, content={"detail": [
        {"type": str(e.get("type", "")), "loc": [str(p) for p in e.get("loc", ())],
         "msg": str(e.get("msg", ""))} for e in errors]})


def create_app(
    service: WebService,
    *,
    allowed_hosts: Collection[str] | None = None,
    heartbeat_s: float = HEARTBEAT_S,
    max_live_clients: int = MAX_LIVE_CLIENTS,
    cache_history: bool = True,
) -> FastAPI:
    """The dashboard and API over ``service``.

    ``allowed_hosts`` are the names (besides IP literals and localhost) the server answers to;
    None takes ``[web] allowed_hosts`` from the service's configuration. ``app.state.live`` is the SSE fan-out and
    ``app.state.history_cache`` the cache of encoded history bodies (``cache_history=False``
    turns it off, for measurements).
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
    plugs = plug_directory(service.config)
    names = plugs.names()
    live = Live(service.hub, lambda: names, heartbeat_s=heartbeat_s,
                max_clients=max_live_clients)
    cache = HistoryCache(enabled=cache_history)
    app.state.service = service
    app.state.live = live
    app.state.history_cache = cache
    api = Api(service, live, plugs, cache)
    app.include_router(api.router)
    app.include_router(insight_router(api))

    index = STATIC_DIR / "index.html"

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    app.add_exception_handler(RequestValidationError, _invalid)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(_SecurityHeaders)
    if allowed_hosts is None:
        allowed_hosts = service.config.web.allowed_hosts
    app.add_middleware(Guard, token=lambda: service.token, allowed_hosts=allowed_hosts)
    return app
