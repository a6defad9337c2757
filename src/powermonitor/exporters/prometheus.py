"""Prometheus metrics computed at scrape time from the Hub's latest-state cache.

A scrape never touches a plug: Tuya plugs accept one connection, and the monitor's coordinator
owns it. Every value is the latest poll the Hub has cached (the HELP texts say so), and energy
is the recorder's persisted total, so ``powermonitor_energy_joules_total`` is a real counter
that survives restarts (Wh × 3600; use ``increase(...)/3.6e6`` for kWh).

Names follow the Prometheus naming guide: base units (watts, volts, amperes, joules, seconds),
``_total`` on the counter, an ``_info`` metric for rarely needed metadata, and two labels on
every series: ``device_id`` (stable) and ``name`` (human; renaming a plug starts new series).
Offline plugs keep ``powermonitor_device_up 0``, their energy counter and their last reading
time, but export no power, voltage, current, power factor or switch samples: absent, never a
made-up 0.

Two ways out, both built from one table of samples per scrape:

* :func:`render_metrics` writes the text exposition format (0.0.4) directly. It exists because
  ``prometheus_client.generate_latest`` spends about 65 ms on the ~9900 samples of 1000 plugs;
  the direct writer takes about 10 ms (bench/exporters_bench.py; the target is 20 ms).
* :class:`PlugCollector` is a regular ``prometheus_client`` custom collector over the same
  table, for a ``CollectorRegistry`` (OpenMetrics output, or an application that already uses
  prometheus_client).

Serving: :func:`metrics_asgi_app` is the ASGI app the web server routes at ``/metrics``; the
optional own listener (``--metrics-listen`` / ``[prometheus] listen``, :class:`MetricsServer`)
serves the same app with the same uvicorn setup as the dashboard.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.registry import CollectorRegistry

from ..client.reconnect import QuietLog
from .base import ServiceLike
from .prometheus_table import METRIC_NAMES, SPECS, Spec, Table, collect_table

__all__ = [
    "CONTENT_TYPE",
    "METRIC_NAMES",
    "MetricsApp",
    "MetricsServer",
    "PlugCollector",
    "metrics_asgi_app",
    "render_metrics",
    "render_openmetrics",
    "serve_metrics",
]

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


_SPECIAL = {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}


class _Prefixes:
    """``name{device_id="…",name="…"}`` strings, escaped once per plug, not once per scrape."""

    def __init__(self, limit: int = 200_000) -> None:
        self._by_spec: dict[Spec, dict[tuple[str, ...], str]] = {s: {} for s in SPECS}
        self._limit = limit

    def table(self, spec: Spec) -> dict[tuple[str, ...], str]:
        cache = self._by_spec[spec]
        if len(cache) >= self._limit:  # renamed plugs would otherwise pile up forever
            cache.clear()
        return cache

    @staticmethod
    def make(spec: Spec, values: tuple[str, ...]) -> str:
        if not spec.labels:
            return f"{spec.name} "
        pairs = ",".join(f'{n}="{_escape(v)}"' for n, v in zip(spec.labels, values, strict=True))
        return f"{spec.name}{{{pairs}}} "


_PREFIXES = _Prefixes()


def render_table(table: Table) -> bytes:
    out: list[str] = []
    append = out.append
    special = _SPECIAL
    for spec in SPECS:
        append(f"# HELP {spec.name} {spec.help}\n# TYPE {spec.name} {spec.kind}\n")
        prefixes = _PREFIXES.table(spec)
        rows = table.rows[spec]
        for values, value in zip(rows.keys, rows.values, strict=True):
            prefix = prefixes.get(values)
            if prefix is None:
                prefix = prefixes[values] = _Prefixes.make(spec, values)
            text = repr(value)
            append(f"{prefix}{special.get(text, text)}\n")
    return "".join(out).encode()


def render_metrics(service: ServiceLike) -> bytes:
    """The Prometheus text exposition (format 0.0.4) of every plug, computed now.

    Serve it with ``Content-Type: text/plain; version=0.0.4; charset=utf-8``
    (:data:`CONTENT_TYPE`). About 10 ms for 1000 plugs; call it in the event loop's thread.
    """
    return render_table(collect_table(service))


# --------------------------------------------------------------------------- prometheus_client


class PlugCollector:
    """A ``prometheus_client`` custom collector over the same per-scrape table.

    Register it on a private registry (``CollectorRegistry(auto_describe=False)``) or on the
    global one; :meth:`describe` returns the families without samples, so registering does not
    trigger a collection.
    """

    def __init__(self, service: ServiceLike) -> None:
        self.service = service

    def describe(self) -> Iterator[Metric]:
        yield from self._families(Table())

    def collect(self) -> Iterator[Metric]:
        yield from self._families(collect_table(self.service))

    @staticmethod
    def _families(table: Table) -> Iterator[Metric]:
        for spec in SPECS:
            family: GaugeMetricFamily | CounterMetricFamily
            if spec.kind == "counter":
                family = CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
            else:
                family = GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)
            rows = table.rows[spec]
            for values, value in zip(rows.keys, rows.values, strict=True):
                family.add_metric(list(values), value)
            yield family


def registry_for(service: ServiceLike) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PlugCollector(service))
    return registry


def render_openmetrics(service: ServiceLike) -> bytes:
    """The OpenMetrics exposition (slower; used when a scraper asks for it)."""
    data: bytes = openmetrics_latest(registry_for(service))  # type: ignore[no-untyped-call]
    return data


def _negotiate(service: ServiceLike, accept: str) -> tuple[bytes, str]:
    if "application/openmetrics-text" in accept:
        return render_openmetrics(service), OPENMETRICS_TYPE
    return render_metrics(service), CONTENT_TYPE


# --------------------------------------------------------------------------- ASGI


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class MetricsApp:
    """An ASGI app answering GET/HEAD with the metrics, wherever it is routed or mounted.

    A class rather than a function so Starlette treats it as an ASGI app in a ``Route`` too.
    Honours ``Accept: application/openmetrics-text`` and ``Accept-Encoding: gzip``. Runs in the
    event loop's thread (the Hub's cache is not locked: never render from a thread pool).
    """

    def __init__(self, service: ServiceLike, *, standalone: bool = False) -> None:
        self.service = service
        self.standalone = standalone  # its own listener: "/" links to /metrics, else 404
        self.requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        method = scope.get("method", "GET")
        path = scope.get("path", "/metrics") if self.standalone else "/metrics"
        self.requests += 1
        status, head, body = _respond(self.service, method, path, headers)
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [(k.lower().encode(), v.encode()) for k, v in head]
            + [(b"content-length", str(len(body)).encode())],
        })
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


def metrics_asgi_app(service: ServiceLike) -> MetricsApp:
    """The ASGI app for ``/metrics``. Starlette/FastAPI::

        app.add_route("/metrics", metrics_asgi_app(service), include_in_schema=False)

    (``app.mount("/metrics", …)`` works too, but Starlette then redirects ``/metrics`` to
    ``/metrics/``.)
    """
    return MetricsApp(service)


def _respond(
    service: ServiceLike, method: str, path: str, headers: dict[str, str]
) -> tuple[int, list[tuple[str, str]], bytes]:
    if method not in ("GET", "HEAD"):
        return 405, [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")], b"GET only\n"
    if path == "/":
        page = b'<html><body><a href="/metrics">/metrics</a></body></html>\n'
        return 200, [("Content-Type", "text/html; charset=utf-8")], page
    if path != "/metrics":
        return 404, [("Content-Type", "text/plain")], b"not found: try /metrics\n"
    try:
        body, content_type = _negotiate(service, headers.get("accept", ""))
    except Exception:
        log.exception("could not render the metrics")
        return 500, [("Content-Type", "text/plain")], b"could not render the metrics\n"
    head = [("Content-Type", content_type)]
    if "gzip" in headers.get("accept-encoding", ""):
        body = gzip.compress(body, compresslevel=1)
        head.append(("Content-Encoding", "gzip"))
    return 200, head, body


# --------------------------------------------------------------------------- own listener


class MetricsServer:
    """``/metrics`` on its own address (``--metrics-listen``), served by uvicorn through the
    web layer's :func:`~powermonitor.web.app.serve` -- the same server as the dashboard, not a
    hand-written one. ``run()`` serves until cancelled; if the address cannot be bound it logs
    once, clearly, and retries every ``retry_s`` seconds instead of stopping the service.
    """

    name = "prometheus"

    def __init__(self, service: ServiceLike, host: str = "127.0.0.1", port: int = 9108, *,
                 retry_s: float = 30.0) -> None:
        self.service = service
        self.host = host
        self.port = port
        self.retry_s = retry_s
        self.started = asyncio.Event()
        self.app = MetricsApp(service, standalone=True)
        self._quiet = QuietLog(log, "metrics")

    @property
    def requests(self) -> int:
        return self.app.requests

    async def run(self) -> None:
        from ..web.app import serve  # the one ASGI server setup (uvicorn)

        while True:
            try:
                await serve(self.app, self.host, self.port, on_started=self._started,
                            what="metrics")
            except OSError as exc:
                self._quiet.problem(
                    "bind", "metrics: cannot listen on %s:%s (%s); is another program using the "
                    "port? Retrying every %.0f s", self.host, self.port, exc, self.retry_s,
                )
                await asyncio.sleep(self.retry_s)

    def _started(self, port: int) -> None:
        self.port = port
        self._quiet.recovered("metrics: listening on %s:%s", self.host, self.port)
        self.started.set()


async def serve_metrics(service: ServiceLike, host: str = "127.0.0.1", port: int = 9108) -> None:
    """Serve ``http://host:port/metrics`` until cancelled (the ``--metrics-listen`` server)."""
    await MetricsServer(service, host, port).run()
