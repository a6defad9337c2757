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

Serving: :func:`serve_metrics` is a tiny asyncio HTTP server for ``--metrics-listen`` /
``[prometheus] listen``; :func:`metrics_asgi_app` is an ASGI app the web server can mount at
``/metrics``.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.registry import CollectorRegistry

from ..client.reconnect import QuietLog
from .base import ServiceLike, device_metas, plug_ids, totals_wh

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
NS = "powermonitor"
_CACHED = " (latest poll cached by the monitor; a scrape never contacts a plug)"

_BASE = ("device_id", "name")
_INFO_LABELS = ("device_id", "name", "host", "protocol", "layout", "model")


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    kind: str  # "gauge" or "counter" (a counter's name ends in _total)
    help: str
    labels: tuple[str, ...] = _BASE


UP = _Spec(f"{NS}_device_up", "gauge",
           "1 if the plug answers its polls, 0 if it is offline or not reached yet")
POWER = _Spec(f"{NS}_power_watts", "gauge", "Active power drawn through the plug" + _CACHED)
VOLTAGE = _Spec(f"{NS}_voltage_volts", "gauge", "Mains voltage measured by the plug" + _CACHED)
CURRENT = _Spec(f"{NS}_current_amperes", "gauge", "Current through the plug" + _CACHED)
PF = _Spec(f"{NS}_power_factor", "gauge",
           "Power factor P/(V*I), 0 to 1, derived from the latest poll" + _CACHED)
SWITCH = _Spec(f"{NS}_switch_on", "gauge", "1 if the outlet's relay is on, 0 if off" + _CACHED,
               ("device_id", "name", "outlet"))
ENERGY = _Spec(f"{NS}_energy_joules_total", "counter",
               "Energy drawn through the plug, integrated from its power readings and persisted "
               "(never decreases; 1 kWh = 3.6e6 J)")
LAST = _Spec(f"{NS}_last_reading_timestamp_seconds", "gauge",
             "Unix time of the plug's latest reading")
READINGS = _Spec(f"{NS}_readings_total", "counter",
                 "Readings received from the plug since this process started")
INFO = _Spec(f"{NS}_device_info", "gauge",
             "Plug metadata (host, protocol version, DP layout, model); always 1", _INFO_LABELS)

SPECS: tuple[_Spec, ...] = (UP, POWER, VOLTAGE, CURRENT, PF, SWITCH, ENERGY, LAST, READINGS, INFO)
METRIC_NAMES: frozenset[str] = frozenset(s.name for s in SPECS)
"""Every metric name this module exports (the dashboard test checks its queries against it)."""


@dataclass(slots=True)
class _Rows:
    """One metric's samples as two parallel lists (no tuple per sample: fewer GC pauses)."""

    keys: list[tuple[str, ...]] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def add(self, key: tuple[str, ...], value: float) -> None:
        self.keys.append(key)
        self.values.append(value)


@dataclass(slots=True)
class _Table:
    """One scrape: per metric, its label values and sample values."""

    rows: dict[_Spec, _Rows] = field(default_factory=lambda: {s: _Rows() for s in SPECS})


class _Keys:
    """Label-value tuples reused from scrape to scrape (allocating ~10 000 per scrape of 1000
    plugs is what triggers the garbage collector mid-scrape)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.base: dict[str, tuple[str, str]] = {}
        self.outlets: dict[tuple[str, str], dict[str, tuple[str, str, str]]] = {}
        self.limit = limit

    def of(self, device_id: str, name: str) -> tuple[str, str]:
        key = self.base.get(device_id)
        if key is None or key[1] != name:
            if len(self.base) >= self.limit:
                self.base.clear()
                self.outlets.clear()
            key = self.base[device_id] = (device_id, name)
        return key

    def outlet(self, base: tuple[str, str], outlet: str) -> tuple[str, str, str]:
        per = self.outlets.get(base)
        if per is None:
            per = self.outlets[base] = {}
        key = per.get(outlet)
        if key is None:
            key = per[outlet] = (base[0], base[1], outlet)
        return key


_KEYS = _Keys()


def collect_table(service: ServiceLike) -> _Table:
    """Read the Hub's cache and the recorder's totals once; never touches a plug."""
    table = _Table()
    rows = table.rows
    up, power, voltage, current, pf = rows[UP], rows[POWER], rows[VOLTAGE], rows[CURRENT], rows[PF]
    switch, energy, last, readings, info = (
        rows[SWITCH], rows[ENERGY], rows[LAST], rows[READINGS], rows[INFO]
    )
    states = service.hub.states
    names = service.names()
    totals = totals_wh(service)
    ids = plug_ids(service)
    metas = device_metas(service, ids)
    keys = _KEYS
    for device_id in ids:
        state = states.get(device_id)
        name = names.get(device_id) or (state.name if state else "") or device_id
        base = keys.of(device_id, name)
        online = bool(state and state.online)
        up.add(base, 1.0 if online else 0.0)
        reading = state.reading if state else None
        if reading is not None:
            last.add(base, reading.timestamp.timestamp())
            if online:
                if reading.power_w is not None:
                    power.add(base, reading.power_w)
                if reading.voltage_v is not None:
                    voltage.add(base, reading.voltage_v)
                if reading.current_a is not None:
                    current.add(base, reading.current_a)
                if reading.power_factor is not None:
                    pf.add(base, reading.power_factor)
                if reading.switches:
                    for outlet, on in reading.switches.items():
                        switch.add(keys.outlet(base, str(outlet)), 1.0 if on else 0.0)
                elif reading.switch is not None:
                    switch.add(keys.outlet(base, "1"), 1.0 if reading.switch else 0.0)
        if state is not None:
            readings.add(base, float(state.readings))
        wh = totals.get(device_id)
        if wh is not None:
            energy.add(base, wh * 3600.0)
        meta = metas[device_id]
        info.add((device_id, name, meta.host, meta.protocol, meta.layout, meta.model), 1.0)
    return table


# --------------------------------------------------------------------------- text exposition


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


_SPECIAL = {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}


class _Prefixes:
    """``name{device_id="…",name="…"}`` strings, escaped once per plug, not once per scrape."""

    def __init__(self, limit: int = 200_000) -> None:
        self._by_spec: dict[_Spec, dict[tuple[str, ...], str]] = {s: {} for s in SPECS}
        self._limit = limit

    def table(self, spec: _Spec) -> dict[tuple[str, ...], str]:
        cache = self._by_spec[spec]
        if len(cache) >= self._limit:  # renamed plugs would otherwise pile up forever
            cache.clear()
        return cache

    @staticmethod
    def make(spec: _Spec, values: tuple[str, ...]) -> str:
        pairs = ",".join(f'{n}="{_escape(v)}"' for n, v in zip(spec.labels, values, strict=True))
        return f"{spec.name}{{{pairs}}} "


_PREFIXES = _Prefixes()


def render_table(table: _Table) -> bytes:
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
        yield from self._families(_Table())

    def collect(self) -> Iterator[Metric]:
        yield from self._families(collect_table(self.service))

    @staticmethod
    def _families(table: _Table) -> Iterator[Metric]:
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

    def __init__(self, service: ServiceLike) -> None:
        self.service = service

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
        status, head, body = _respond(self.service, method, "/metrics", headers)
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


# --------------------------------------------------------------------------- HTTP server

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            500: "Internal Server Error"}


class MetricsServer:
    """A tiny HTTP/1.1 server for ``/metrics`` on its own port (``--metrics-listen``).

    One request per connection; no keep-alive (a scraper's request every few seconds does not
    need it). ``run()`` serves until cancelled; if the address cannot be bound it logs once,
    clearly, and retries every ``retry_s`` seconds instead of stopping the service.
    """

    name = "prometheus"

    def __init__(self, service: ServiceLike, host: str = "127.0.0.1", port: int = 9108, *,
                 retry_s: float = 30.0) -> None:
        self.service = service
        self.host = host
        self.port = port
        self.retry_s = retry_s
        self.started = asyncio.Event()
        self.requests = 0
        self._quiet = QuietLog(log, "metrics")

    async def run(self) -> None:
        while True:
            try:
                server = await asyncio.start_server(self._handle, self.host, self.port)
            except OSError as exc:
                self._quiet.problem(
                    "bind", "metrics: cannot listen on %s:%s (%s); is another program using the "
                    "port? Retrying every %.0f s", self.host, self.port, exc, self.retry_s,
                )
                await asyncio.sleep(self.retry_s)
                continue
            async with server:
                self.port = server.sockets[0].getsockname()[1]
                self._quiet.recovered("metrics: listening on %s:%s", self.host, self.port)
                log.info("metrics: serving http://%s:%s/metrics", self.host, self.port)
                self.started.set()
                await server.serve_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10.0):
                head = await reader.readuntil(b"\r\n\r\n")
            status, headers, body, method = self._answer(head)
            self.requests += 1
            lines = [f"HTTP/1.1 {status} {_REASONS.get(status, '')}"]
            lines += [f"{k}: {v}" for k, v in headers]
            lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
            writer.write("\r\n".join(lines).encode("latin-1"))
            if method != "HEAD":
                writer.write(body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError):
            pass  # a client that went away or sent garbage: nothing to answer
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass

    def _answer(self, head: bytes) -> tuple[int, list[tuple[str, str]], bytes, str]:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return 400, [("Content-Type", "text/plain")], b"bad request\n", "GET"
        method, target = parts[0], parts[1]
        path = target.split("?", 1)[0]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            key, sep, value = line.partition(":")
            if sep:
                headers[key.strip().lower()] = value.strip()
        status, out, body = _respond(self.service, method, path, headers)
        return status, out, body, method


async def serve_metrics(service: ServiceLike, host: str = "127.0.0.1", port: int = 9108) -> None:
    """Serve ``http://host:port/metrics`` until cancelled (the ``--metrics-listen`` server)."""
    await MetricsServer(service, host, port).run()
