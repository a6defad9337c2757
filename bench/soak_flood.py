"""The fault soak's web clients: a bounded flood of honest and hostile HTTP on loopback.

Raw asyncio streams (no HTTP library), so the hostile requests can be as wrong as needed:

* readers: GET health, plugs, energy and raw history in a loop;
* live-event clients: half read the stream, half connect and never read (stalled);
* unauthenticated ``POST .../switch`` with a 256 KiB body; a foreign ``Host`` header; junk
  bytes instead of a request; trickling (slowloris) connections that send a header byte at a
  time.

Every count is bounded (``FloodSizes``); every connection goes to 127.0.0.1 only. Answers are
tallied by status (``"err"``: the connection failed or was cut), never asserted here.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FloodSizes:
    readers: int = 4
    sse_reading: int = 10
    sse_stalled: int = 10
    trickle: int = 30
    hostile_every_s: float = 1.0
    body_bytes: int = 256 * 1024


class Flood:
    """Runs until cancelled; ``port`` may change (the service restarts on the same port)."""

    def __init__(self, port: int, plug_ids: list[str], token: str = "",
                 sizes: FloodSizes | None = None) -> None:
        self.port = port
        self.plug_ids = plug_ids
        self.token = token
        self.sizes = sizes or FloodSizes()
        self.status: Counter[str] = Counter()
        self.sse_events = 0

    async def run(self) -> None:
        s = self.sizes
        tasks = [self._reader(i) for i in range(s.readers)]
        tasks += [self._sse(read=True) for _ in range(s.sse_reading)]
        tasks += [self._sse(read=False) for _ in range(s.sse_stalled)]
        tasks += [self._trickle() for _ in range(s.trickle)]
        tasks.append(self._hostile())
        await asyncio.gather(*tasks)

    # ------------------------------------------------------------------ plumbing

    def _head(self, method: str, path: str, extra: str = "", host: str | None = None) -> bytes:
        auth = f"X-Powermonitor-Token: {self.token}\r\n" if self.token else ""
        return (f"{method} {path} HTTP/1.1\r\nHost: {host or f'127.0.0.1:{self.port}'}\r\n"
                f"{auth}{extra}Connection: close\r\n\r\n").encode()

    async def request(self, raw: bytes, body: bytes = b"", timeout: float = 10.0) -> tuple[
            str, bytes]:
        """Send one request; (status, body) or ("err", b"")."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.port), timeout)
        except (OSError, TimeoutError):
            self.status["err"] += 1
            return "err", b""
        try:
            writer.write(raw + body)
            data = await asyncio.wait_for(reader.read(4 << 20), timeout)
            while chunk := await asyncio.wait_for(reader.read(4 << 20), timeout):
                data += chunk
                if len(data) > 16 << 20:
                    break
        except (OSError, TimeoutError):
            self.status["err"] += 1
            return "err", b""
        finally:
            writer.close()
        head, _, payload = data.partition(b"\r\n\r\n")
        parts = head.split(b" ", 2)
        code = parts[1].decode(errors="replace") if len(parts) > 1 else "err"
        self.status[code] += 1
        return code, payload

    async def get_json(self, path: str) -> Any:
        """GET ``path``; the decoded JSON, or None on any failure (chunked bodies included)."""
        code, payload = await self.request(self._head("GET", path))
        if code != "200":
            return None
        try:
            return json.loads(payload)
        except ValueError:
            return None

    # ------------------------------------------------------------------ clients

    async def _reader(self, i: int) -> None:
        paths = ["/api/health", "/api/plugs", "/api/energy?by=hour&since=2h"]
        n = 0
        while True:
            plug = self.plug_ids[(i * 7 + n) % len(self.plug_ids)]
            await self.request(self._head("GET", paths[n % 3]))
            await self.request(self._head(
                "GET", f"/api/plugs/{plug}/history?since=10m&resolution=raw"))
            n += 1
            await asyncio.sleep(0.2)

    async def _sse(self, read: bool) -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                self.status["err"] += 1
                await asyncio.sleep(1.0)
                continue
            try:
                writer.write(self._head("GET", "/api/events").replace(
                    b"Connection: close\r\n", b"Accept: text/event-stream\r\n"))
                if not read:  # stalled: never read; the server must drop or bound us
                    await asyncio.sleep(30.0)
                    continue
                while chunk := await reader.read(65536):
                    self.sse_events += chunk.count(b"\n\n")
                self.status["sse-closed"] += 1
            except OSError:
                self.status["err"] += 1
            finally:
                writer.close()
            await asyncio.sleep(1.0)

    async def _trickle(self) -> None:
        raw = self._head("GET", "/api/health")
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                self.status["err"] += 1
                await asyncio.sleep(1.0)
                continue
            try:
                for byte in raw[:-2]:  # never finish the header
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(2.0)
                    if reader.at_eof():
                        break
                self.status["trickle-cut"] += 1
            except OSError:
                self.status["trickle-cut"] += 1
            finally:
                writer.close()

    async def _hostile(self) -> None:
        body = b'{"on": true, "pad": "' + b"x" * self.sizes.body_bytes + b'"}'
        n = 0
        while True:
            plug = self.plug_ids[n % len(self.plug_ids)]
            kind = n % 4
            if kind == 0:  # no token, a big body
                head = (f"POST /api/plugs/{plug}/switch HTTP/1.1\r\nHost: 127.0.0.1:{self.port}"
                        f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                        "Connection: close\r\n\r\n").encode()
                await self.request(head, body)
            elif kind == 1:  # DNS rebinding
                await self.request(self._head("GET", "/api/plugs", host="evil.example.com"))
            elif kind == 2:  # not HTTP at all
                await self.request(b"\x16\x03\x01\x02\x00" + bytes(range(256)) * 4)
            else:  # absurd query values
                await self.request(self._head(
                    "GET", f"/api/plugs/{plug}/history?since=99999999999d&until=year10000"))
            n += 1
            await asyncio.sleep(self.sizes.hostile_every_s)
