"""InfluxDB writer: every reading as a line-protocol point, batched over HTTP (v1, v2 or v3).

One point per reading::

    powermonitor,device_id=bf01…,name=fridge power_w=81.5,voltage_v=229.8,current_a=0.372,
        power_factor=0.953,switch=true,energy_wh_total=1234.567 1764140000123456000

Tags ``device_id`` and ``name`` (omitted when empty: line protocol has no empty tags); fields
are floats (always floats, so a field's type never changes) and ``switch`` a boolean; a
quantity the plug does not report is left out, never written as 0. ``energy_wh_total`` is the
recorder's persisted, never-decreasing total (Tuya's DP 17 ``add_ele`` is not a meter), so
``difference()``/``non_negative_difference()`` per window gives Wh per window.
Timestamps are nanoseconds.

Endpoints, chosen by ``api``:

* ``v1`` — ``POST {url}/write?db=&rp=&precision=ns``; ``username``/``password`` as HTTP Basic
  auth (InfluxDB 1.x accepts Basic as well as ``u``/``p`` query parameters; Basic keeps the
  password out of URLs and proxy logs).
* ``v2`` — ``POST {url}/api/v2/write?org=&bucket=&precision=ns`` with
  ``Authorization: Token …`` (InfluxDB 2.x, Cloud).
* ``v3`` — ``POST {url}/api/v3/write_lp?db=&precision=nanosecond`` with
  ``Authorization: Bearer …``: InfluxDB 3 Core/Enterprise's native endpoint. v3 also accepts the
  v1 and v2 paths for compatibility; the native one is used because it is the documented way
  forward and its ``precision`` is explicit (v3 otherwise guesses precision from magnitude).

Batching and failure: points wait in a bounded buffer (oldest dropped, and counted, when it is
full) and are sent when ``batch_size`` are ready or ``flush_interval`` has passed. A failed
write is retried, oldest points first, with capped backoff: connection errors, timeouts, 5xx
and 429 (honouring ``Retry-After``) are transient; 401/403 (credentials) and 404 (no such
database/bucket) are logged once with what to fix and retried slowly, since someone may fix the
server; 400 (the server rejected the data) drops that batch. Polling and storage never wait
for InfluxDB.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import logging
import math
import ssl
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import httpx

from ..client.reconnect import Backoff, QuietLog
from ..config import ENV, InfluxSettings
from ..limits import BURST_S
from ..models import Reading
from ..monitor.consumer import HubConsumer
from ..monitor.hub import HubEvent
from .base import ServiceLike, energy_lookup

__all__ = [
    "ENV_PASSWORD",
    "ENV_TOKEN",
    "ENV_URL",
    "InfluxSettings",
    "InfluxWriter",
    "escape_field_string",
    "escape_key",
    "escape_measurement",
    "line_for",
    "point",
]

log = logging.getLogger(__name__)

ENV_URL = ENV["influx_url"]
ENV_TOKEN = ENV["influx_token"]
ENV_PASSWORD = ENV["influx_password"]

# --------------------------------------------------------------------------- line protocol

# Backslashes become "/" in names and tags: line protocol cannot carry a backslash before a
# separator or at the end of a value, and InfluxDB 1.x keeps "\\\\" as two characters where
# the 2.x documentation reads it as one. Newlines cannot be carried at all: they become spaces.
_MEASUREMENT = str.maketrans({",": "\\,", " ": "\\ ", "\n": "\\ ", "\r": "\\ ", "\\": "/"})
_KEY = str.maketrans(
    {",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\ ", "\r": "\\ ", "\\": "/"}
)
_STRING = str.maketrans({'"': '\\"', "\\": "\\\\", "\n": " ", "\r": " "})


def escape_measurement(text: str) -> str:
    """Escape a measurement name: commas and spaces; backslashes become "/"."""
    return text.translate(_MEASUREMENT)


def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key: commas, equals signs and spaces.

    Backslashes become "/" and newlines spaces (see above): a plug named ``a\\b`` is tagged
    ``a/b``.
    """
    return text.translate(_KEY)


def escape_field_string(text: str) -> str:
    """A string field value, quoted: double quotes and backslashes escaped."""
    return '"' + text.translate(_STRING) + '"'


def _field_value(value: object) -> str | None:
    if type(value) is float:  # the usual case, first
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        number = float(value)
        return repr(number) if math.isfinite(number) else None
    if isinstance(value, str):
        return escape_field_string(value)
    return None


def point(measurement: str, tags: Mapping[str, str], fields: Mapping[str, object],
          ts_ns: int | None) -> str | None:
    """One line of line protocol; None when no field has a value (a point needs one)."""
    parts = []
    for key, value in fields.items():
        text = _field_value(value)
        if text is not None:
            parts.append(f"{escape_key(key)}={text}")
    if not parts:
        return None
    line = f"{escape_measurement(measurement)}{_tag_text(tags)} {','.join(parts)}"
    return line if ts_ns is None else f"{line} {ts_ns}"


def _tag_text(tags: Mapping[str, str]) -> str:
    return "".join(f",{escape_key(k)}={escape_key(v)}" for k, v in sorted(tags.items()) if v)


@functools.lru_cache(maxsize=16384)
def _series(measurement: str, device_id: str, name: str) -> str:
    """The measurement and tags of a plug's points: the same for each of its readings."""
    return escape_measurement(measurement) + _tag_text({"device_id": device_id, "name": name})


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(timestamp: datetime) -> int:
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    delta = timestamp - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def line_for(reading: Reading, name: str, energy_wh: float | None,
             measurement: str = "powermonitor") -> str | None:
    """The line-protocol point of one reading (what :func:`point` makes of it, with the
    plug's series text made once: this runs for every reading)."""
    values = (reading.power_w, reading.voltage_v, reading.current_a, reading.power_factor,
              reading.switch, energy_wh)
    parts = [f"{key}={text}" for key, value in zip(_READING_FIELDS, values, strict=True)
             if (text := _field_value(value)) is not None]
    if not parts:
        return None
    series = _series(measurement, reading.device_id, name)
    return f"{series} {','.join(parts)} {_ns(reading.timestamp)}"


_READING_FIELDS: Final = tuple(escape_key(k) for k in (
    "power_w", "voltage_v", "current_a", "power_factor", "switch", "energy_wh_total"))


# --------------------------------------------------------------------------- the writer


class _Outcome:
    OK = "ok"
    RETRY = "retry"
    SLOW = "slow"  # retry, but at the long delay: credentials or a missing database
    DROP = "drop"


class InfluxWriter(HubConsumer):
    """Hub subscriber writing every reading to InfluxDB, batched; ``run()`` until cancelled."""

    name = "influx"
    queue_size = 100_000
    gather_s = BURST_S  # lines are batched for the server anyway

    def __init__(self, service: ServiceLike, settings: InfluxSettings, *,
                 backoff: Backoff | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(service.hub)
        self.service = service
        self.settings = settings
        self.backoff = backoff or Backoff(initial=1.0, cap=60.0, key_error_delay=300.0)
        self._transport = transport
        self.buffer: deque[str] = deque()
        self._ready = asyncio.Event()
        self._quiet = QuietLog(log, "influx")
        self._batch_size = settings.batch_size
        self.written = 0  # points accepted by the server
        self.dropped = 0  # points dropped: buffer full while the server was away
        self.rejected = 0  # points in batches the server refused (HTTP 400)
        self.failures = 0  # failed write requests
        self.requests = 0

    # ------------------------------------------------------------------ readings → lines

    def take(self, events: list[HubEvent]) -> None:
        readings = [e for e in events if isinstance(e, Reading)]
        if readings:
            self.add(readings)

    async def serve(self) -> None:
        await self._flush_loop()

    def add(self, readings: list[Reading]) -> None:
        """Render readings as lines into the buffer (the plugs' names are read once)."""
        energy_of = energy_lookup(self.service)
        names = self.service.names()
        measurement = self.settings.measurement
        for reading in readings:
            line = line_for(reading, names.get(reading.device_id, ""),
                            energy_of(reading.device_id), measurement)
            if line is not None:
                self._append(line)
        if len(self.buffer) >= self._batch_size:
            self._ready.set()

    def _append(self, line: str) -> None:
        if len(self.buffer) >= self.settings.max_buffer:
            self.buffer.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.warning("InfluxDB: buffer full (%d points); dropped the oldest, %d so far",
                            self.settings.max_buffer, self.dropped)
        self.buffer.append(line)

    # ------------------------------------------------------------------ lines → server

    def _client(self) -> httpx.AsyncClient:
        s = self.settings
        verify: Any = s.verify_tls
        if s.ca_file:
            verify = ssl.create_default_context(cafile=s.ca_file)
        return httpx.AsyncClient(timeout=s.timeout, verify=verify, transport=self._transport)

    async def _flush_loop(self) -> None:
        async with self._client() as http:
            inflight: list[str] = []
            try:
                while True:
                    if len(self.buffer) < self._batch_size:
                        self._ready.clear()
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(self.settings.flush_interval):
                                await self._ready.wait()
                    if not self.buffer:
                        continue
                    inflight = [self.buffer.popleft()
                                for _ in range(min(self._batch_size, len(self.buffer)))]
                    try:
                        outcome, delay = await self._send(http, inflight)
                    except Exception as exc:  # a bug here must not end the writer
                        self._quiet.problem("bug", "InfluxDB: unexpected error: %r", exc)
                        log.debug("InfluxDB: unexpected error", exc_info=True)
                        outcome, delay = _Outcome.RETRY, None
                    batch, inflight = inflight, []
                    if outcome in (_Outcome.RETRY, _Outcome.SLOW):
                        self._requeue(batch)
                        await asyncio.sleep(delay if delay is not None
                                            else self.backoff.next_delay(outcome == _Outcome.SLOW))
            except asyncio.CancelledError:
                if inflight:  # cancelled mid-request: those points are not written yet
                    self._requeue(inflight)
                await self._final_flush(http)
                raise

    def _requeue(self, batch: list[str]) -> None:
        self.buffer.extendleft(reversed(batch))
        while len(self.buffer) > self.settings.max_buffer:
            self.buffer.popleft()
            self.dropped += 1

    async def _final_flush(self, http: httpx.AsyncClient) -> None:
        """On shutdown, one last short attempt to write what is buffered."""
        if not self.buffer:
            return
        batch = list(self.buffer)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            async with asyncio.timeout(2.0):
                outcome, _ = await self._send(http, batch)
                if outcome == _Outcome.OK:
                    self.buffer.clear()

    async def _send(self, http: httpx.AsyncClient, batch: list[str]) -> tuple[str, float | None]:
        s = self.settings
        url, params, headers, auth = s.request()
        body = ("\n".join(batch) + "\n").encode()
        if s.gzip:
            body = gzip.compress(body, compresslevel=5)
            headers = {**headers, "Content-Encoding": "gzip"}
        self.requests += 1
        try:
            response = await http.post(url, params=params, headers=headers, content=body,
                                       auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as exc:
            self.failures += 1
            self._quiet.problem(
                "down", "InfluxDB: cannot write to %s (%s: %s): check [influx] url (or %s) and "
                "that the server is running; buffering up to %d points and retrying with "
                "backoff", s.target, type(exc).__name__, exc or "no detail", ENV_URL,
                s.max_buffer,
            )
            return _Outcome.RETRY, None
        status = response.status_code
        if 200 <= status < 300:
            self.written += len(batch)
            self.backoff.reset()
            self._quiet.recovered("InfluxDB: writing to %s again (%d points dropped so far)",
                                  s.target, self.dropped)
            return _Outcome.OK, None
        self.failures += 1
        detail = response.text.strip().replace("\n", " ")[:300]
        if status in (401, 403):
            self._quiet.problem(
                "auth", "InfluxDB: %s refused our credentials (HTTP %d: %s): check [influx] "
                "%s. Retrying every %g s", s.target, status, detail,
                "username/password" if s.api == "v1" else f"token (or {ENV_TOKEN})",
                self.backoff.key_error_delay,
            )
            return _Outcome.SLOW, None
        if status == 404:
            self._quiet.problem(
                "missing", "InfluxDB: %s answered 404 (%s): create the %s or fix [influx] %s. "
                "Retrying every %g s", s.target, detail,
                "bucket" if s.api == "v2" else "database",
                "org/bucket" if s.api == "v2" else "database/url", self.backoff.key_error_delay,
            )
            return _Outcome.SLOW, None
        if status == 413 and self._batch_size > 1:
            self._batch_size = max(1, self._batch_size // 2)
            log.warning("InfluxDB: batch too large for the server; sending %d points per "
                        "request from now on", self._batch_size)
            return _Outcome.RETRY, 0.0
        if status == 400 or (400 <= status < 500 and status not in (408, 413, 429)):
            self.rejected += len(batch)
            self._quiet.problem(
                f"bad{status}", "InfluxDB: %s rejected %d points (HTTP %d: %s); dropping them",
                s.target, len(batch), status, detail,
            )
            return _Outcome.DROP, None
        retry_after = _retry_after(response.headers.get("Retry-After"))
        self._quiet.problem(
            f"http{status}", "InfluxDB: %s answered HTTP %d (%s); retrying with backoff",
            s.target, status, detail, level=logging.WARNING,
        )
        return _Outcome.RETRY, retry_after


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return min(300.0, max(0.0, float(value)))
    except ValueError:
        return None
