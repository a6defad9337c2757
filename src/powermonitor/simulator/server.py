"""Serve simulated plugs over TCP on loopback, with the behaviour real plugs show.

Each plug listens on its own port (or its own 127.0.0.x address on 6668), speaks the protocol
through the same sans-IO core as the client (device role), accepts one client connection at a
time, answers heartbeats, drops a connection after ~30 s of silence, acknowledges a control and
then pushes the changed values. A frame it cannot open (wrong key or version) is answered
under its own key, as real plugs do, so clients see an integrity failure rather than a close.
Faults can be injected per plug to test clients' error paths (:data:`FAULTS` names them; they
live in faults.py). A little over 500 lines: the session, the server and the fleet that starts
them are one unit; each part is short.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

from ..errors import KeyOrVersionError, PowermonitorError
from ..protocol import events as ev
from ..protocol.commands import Cmd
from ..protocol.connection import Connection, Role
from ..protocol.versions import normalize_version
from .faults import FAULTS, Faults, check_loopback, is_loopback
from .latency import Latency, ReplyQueue
from .plug import PlugSpec, SimulatedPlug, make_identity

__all__ = [  # Faults and the loopback rule live in faults.py; re-exported, import paths kept
    "BUSY_GRACE_S",
    "FAULTS",
    "FLOOD_FRAMES",
    "FLOOD_NEW_IDS",
    "JUNK_REPLY",
    "Faults",
    "Fleet",
    "PlugServer",
    "check_loopback",
    "fleet_specs",
    "is_loopback",
]

log = logging.getLogger(__name__)

BUSY_GRACE_S = 0.25
"""How long a second client is held while the plug still serves the first one."""

FLOOD_FRAMES = 16
"""Push frames a flooding plug writes per loop turn (dp-flood and push-flood faults)."""
FLOOD_NEW_IDS = 40
"""New DP ids in each dp-flood push."""
JUNK_REPLY = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
"""What a junk plug answers: bytes with no Tuya prefix (another service on the port)."""


class _Session(asyncio.Protocol):
    """One client connection to one simulated plug.

    Per request it stays cheap, since a fleet benchmark polls it thousands of times a second:
    requests go to a handler looked up by event type; the replies to one read leave in one
    write; a query reuses the reply payload while the plug's values and the second are
    unchanged; and the idle timer is not re-armed per request (it checks the time of the last
    request when it fires).
    """

    def __init__(self, server: PlugServer) -> None:
        self.server = server
        self.plug = server.plug
        spec = self.plug.spec
        key = spec.local_key
        if server.faults.wrong_key:
            key = key[::-1]
        self.conn = Connection(
            Role.DEVICE, spec.version, key, spec.device_id, seqno_mode=server.seqno_mode
        )
        self.transport: asyncio.Transport | None = None
        self.requests = 0
        self._loop = asyncio.get_running_loop()
        self._last_rx = 0.0  # loop time of the last bytes received
        self._idle: asyncio.TimerHandle | None = None
        self._pusher: asyncio.Handle | None = None
        self._rng: random.Random | None = None  # the garbage fault's, made when first needed
        self._flood_sent = 0  # pushes sent by the dp-flood / push-flood faults
        self.reported: dict[str, Any] = {}  # values this client has been told
        self._waiting: asyncio.Transport | None = None  # held while the plug is busy
        self._reject: asyncio.TimerHandle | None = None
        self._batch: list[bytes] | None = None  # replies of the read being handled
        # the last status payload: for this dps object at this second
        self._payload_for: tuple[dict[str, Any], int] | None = None
        self._payload = b""
        # answers held for the plug's latency and the delay fault (made when first needed)
        self._delayed = bool(server.latency) or server.faults.delay_s > 0
        self._replies: ReplyQueue | None = None
        self._jitter = random.Random(spec.seed) if server.latency.jitter else None

    # -- connection lifecycle
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tr = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.plug.connections_total += 1
        if self.server.faults.busy:  # another app holds the plug: accept, then hang up
            self.plug.rejected_connections += 1
            tr.close()
            return
        if self.plug.active_connections >= self.server.max_connections:
            # Busy. The previous client may just have hung up without our loop having read its
            # FIN yet: hold this one briefly rather than refuse a well-behaved reconnect.
            tr.pause_reading()
            self._waiting = tr
            self.server.waiting.append(self)
            self._reject = self._loop.call_later(BUSY_GRACE_S, self._give_up_waiting)
            return
        self._admit(tr)

    def _admit(self, tr: asyncio.Transport) -> None:
        plug = self.plug
        self.transport = tr
        plug.active_connections += 1
        plug.max_concurrent = max(plug.max_concurrent, plug.active_connections)
        self.server.sessions.add(self)
        self._last_rx = self._loop.time()
        if self.server.idle_timeout > 0:
            self._idle = self._loop.call_at(
                self._last_rx + self.server.idle_timeout, self._check_idle
            )
        if self.server.push_interval > 0:
            self._schedule_push()
        faults = self.server.faults
        if faults.dp_flood or faults.push_flood:
            self._flood_sent = 0
            self._pusher = self._loop.call_soon(self._flood)

    def _give_up_waiting(self) -> None:
        tr, self._waiting = self._waiting, None
        if tr is None:
            return
        if self in self.server.waiting:
            self.server.waiting.remove(self)
        self.plug.rejected_connections += 1
        tr.abort()  # still busy: a real plug takes one client at a time

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiting is not None:  # the waiting client gave up first
            self._waiting = None
            if self._reject is not None:
                self._reject.cancel()
            if self in self.server.waiting:
                self.server.waiting.remove(self)
            return
        if self.transport is None:
            return
        self.transport = None
        if self._replies is not None:
            self._replies.cancel()
        self.plug.active_connections -= 1
        self.server.sessions.discard(self)
        for handle in (self._idle, self._pusher):
            if handle is not None:
                handle.cancel()
        self.server.admit_next()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _close_after_replies(self) -> None:
        """Hang up once the answers still held for the latency have left."""
        if self.transport is not None and (
            self._replies is None or not self._replies.close_when_sent()
        ):
            self.transport.close()

    def _check_idle(self) -> None:
        """Hang up after ``idle_timeout`` s without a request, like a real plug."""
        self._idle = None
        if self.transport is None:
            return
        due = self._last_rx + self.server.idle_timeout
        if self._loop.time() >= due:
            self.close()
        else:
            self._idle = self._loop.call_at(due, self._check_idle)

    def _flood(self) -> None:
        """A misbehaving plug: pushes as fast as the loop turns (new DP ids with dp-flood)."""
        self._pusher = None
        if self.transport is None or self.transport.is_closing():
            return
        if self.conn.state.value != "ready":  # 3.4/3.5: wait for the session key
            self._pusher = self._loop.call_later(0.01, self._flood)
            return
        now = int(time.time())
        frames = []
        for _ in range(FLOOD_FRAMES):
            if self.server.faults.dp_flood:
                first = 1000 + self._flood_sent * FLOOD_NEW_IDS
                dps: dict[str, Any] = {str(first + i): i for i in range(FLOOD_NEW_IDS)}
            else:
                dps = {"19": 1000 + self._flood_sent % 7}
            self._flood_sent += 1
            frames.append(self.conn.push(dps, now))
        self._write(b"".join(frames))
        self._pusher = self._loop.call_soon(self._flood)

    def _schedule_push(self) -> None:
        self._pusher = self._loop.call_later(self.server.push_interval, self._periodic_push)

    def _periodic_push(self) -> None:
        if self.transport is None or self.conn.state.value != "ready":
            if self.transport is not None:
                self._schedule_push()
            return
        dps = self.plug.current_dps()
        power = {dp: v for dp, v in dps.items() if not isinstance(v, bool)}
        self._write(self.conn.push(power, int(time.time())))
        self._schedule_push()

    # -- requests
    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        self._last_rx = self._loop.time()
        faults = self.server.faults
        try:
            events = self.conn.receive_data(data)
        except PowermonitorError as exc:
            if faults.silent:
                return  # a silent plug says nothing, not even goodbye
            log.debug("%s: dropping client after bad frame: %s", self.plug.device_id, exc)
            if isinstance(exc, KeyOrVersionError):
                # wrong key or version: real plugs answer under their own key, then we hang up
                self._reply(self.conn.refusal(data))
            self._close_after_replies()
            return
        handshake_reply = self.conn.data_to_send()
        if faults.silent:
            return
        if faults.dp_flood or faults.push_flood:  # negotiates, then floods instead of answering
            if handshake_reply:
                self._reply(handshake_reply)
            return
        if faults.junk:
            self._reply(JUNK_REPLY)
            return
        if faults.garbage:  # junk is drawn per reply: no batching
            if handshake_reply:
                self._send(handshake_reply)
            for event in events:
                self._handle(event)
            return
        batch = self._batch = [handshake_reply] if handshake_reply else []
        try:
            for event in events:
                self._handle(event)
        finally:
            self._batch = None
            if batch:
                self._reply(batch[0] if len(batch) == 1 else b"".join(batch))

    def _handle(self, event: ev.Event) -> None:
        handler = _HANDLERS.get(type(event))
        if handler is None:  # SessionEstablished: the handshake is not a request
            return
        self.requests += 1
        drop_after = self.server.faults.drop_after
        if drop_after and self.requests > drop_after:
            assert self.transport is not None
            self._flush()  # what was answered before goes out first
            self._close_after_replies()
            return
        handler(self, event)

    def _on_query(self, event: ev.QueryRequest) -> None:
        plug, conn = self.plug, self.conn
        plug.queries += 1
        cmd = event.cmd
        if plug.spec.device22 and cmd in _PLAIN_QUERIES:
            self._send(conn.error_reply(event.seqno, cmd, "json obj data unvalid"))
            return
        reply_cmd = cmd if cmd != _STATUS else _DP_QUERY
        now = int(time.time())
        if event.dp_ids is None:  # all of them: the plug's shared dps, the payload reused
            dps = plug.current_dps()
            made = self._payload_for
            if made is None or made[0] is not dps or made[1] != now:
                if made is None or made[0] is not dps:
                    # (current_dps() never hands out an old object again, so this client has
                    # been told exactly these values if the payload was made from them)
                    self.reported.update(dps)
                self._payload = conn.dps_payload(dps, now)
                self._payload_for = (dps, now)
            reply = conn.status_reply_payload(event.seqno, reply_cmd, self._payload)
        else:
            dps = plug.select(event.dp_ids)
            self.reported.update(dps)
            reply = conn.status_reply(event.seqno, reply_cmd, dps, now)
        if cmd in _CONTROLS:
            reply += conn.push(dps, now)  # tuyapi's null-value read completes on a push
        self._send(reply)

    def _on_control(self, event: ev.ControlRequest) -> None:
        self.plug.controls += 1
        changed = self.plug.apply(event.dps)
        conn = self.conn
        self._send(conn.ack(event.seqno, event.cmd) + conn.push(changed, int(time.time())))

    def _on_heartbeat(self, event: ev.HeartbeatRequest) -> None:
        self.plug.heartbeats += 1
        self._send(self.conn.heartbeat_reply(event.seqno))

    def _on_refresh(self, event: ev.RefreshRequest) -> None:
        plug, conn = self.plug, self.conn
        plug.refreshes += 1
        reply = conn.ack(event.seqno, Cmd.UPDATEDPS)
        if plug.spec.layout != "legacy":  # 4/5/6-era plugs ignore UPDATEDPS, like real ones
            dps = plug.current_dps()
            changed = {
                dp: dps[dp] for dp in event.dp_ids
                if dp in dps and self.reported.get(dp) != dps[dp]
            }
            if changed:  # like real plugs: only the values that changed since last told
                self.reported.update(changed)
                reply += conn.push(changed, int(time.time()))
        self._send(reply)

    def _on_unknown(self, event: ev.UnknownRequest) -> None:
        self._send(self.conn.error_reply(event.seqno, event.cmd, "data format error"))

    def _send(self, data: bytes) -> None:
        if self._batch is not None:  # collected; data_received writes them together
            self._batch.append(data)
            return
        faults = self.server.faults
        if faults.garbage:
            if self._rng is None:
                self._rng = random.Random(self.plug.spec.seed)
            if self._rng.random() < faults.garbage:
                data = os.urandom(self._rng.randint(1, 40)) + data
        self._reply(data)

    def _flush(self) -> None:
        batch = self._batch
        if batch:
            self._reply(b"".join(batch))
            batch.clear()

    def _reply(self, data: bytes) -> None:
        """Send an answer after the plug's latency (and the delay fault), if it has one."""
        if not self._delayed:
            self._write(data)
            return
        self._write(data, self.server.faults.delay_s + self.server.latency.sample(self._jitter))

    def _write(self, data: bytes, delay: float = 0.0) -> None:
        """Send now, or after ``delay`` s; never ahead of an answer still held."""
        tr = self.transport
        if tr is None or tr.is_closing():
            return
        replies = self._replies
        if delay <= 0.0 and not replies:
            tr.write(data)
            return
        if replies is None:
            replies = self._replies = ReplyQueue(
                self._loop, self._write_now, tr.pause_reading, tr.resume_reading, tr.close
            )
        replies.add(data, delay)

    def _write_now(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


_PLAIN_QUERIES: Final = frozenset({int(Cmd.DP_QUERY), int(Cmd.DP_QUERY_NEW)})
"""What device22 firmware refuses (ints: a membership test of enum members costs 0.3 µs)."""
_CONTROLS: Final = frozenset({int(Cmd.CONTROL), int(Cmd.CONTROL_NEW)})
_STATUS: Final = int(Cmd.STATUS)
_DP_QUERY: Final = int(Cmd.DP_QUERY)

_HANDLERS: dict[type, Callable[[_Session, Any], None]] = {
    ev.QueryRequest: _Session._on_query,
    ev.ControlRequest: _Session._on_control,
    ev.HeartbeatRequest: _Session._on_heartbeat,
    ev.RefreshRequest: _Session._on_refresh,
    ev.UnknownRequest: _Session._on_unknown,
}
"""What the plug does per request type (a handshake event is not a request)."""


class PlugServer:
    """Listens for one simulated plug."""

    def __init__(
        self,
        plug: SimulatedPlug,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        faults: Faults | None = None,
        idle_timeout: float = 30.0,
        push_interval: float = 0.0,
        max_connections: int = 1,
        seqno_mode: str = "echo",
        latency: Latency | None = None,
    ) -> None:
        check_loopback(host)
        self.plug = plug
        self.host = host
        self.port = port
        self.faults = faults or Faults()
        self.idle_timeout = idle_timeout
        self.push_interval = push_interval
        self.max_connections = max_connections
        self.seqno_mode = seqno_mode
        own = plug.spec.latency
        self.latency = own if own is not None else (latency or Latency())
        """Delay of every answer: the plug's own (spec file), else the server's, else none."""
        self.sessions: set[_Session] = set()
        self.waiting: list[_Session] = []
        self._server: asyncio.base_events.Server | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Session(self), self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every client (the plug lost power)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for session in list(self.waiting):
            session._give_up_waiting()
        for session in list(self.sessions):
            if session.transport is not None:
                session.transport.abort()
        await server.wait_closed()

    def admit_next(self) -> None:
        """A client left: let the longest-waiting one in."""
        while self.waiting and self.plug.active_connections < self.max_connections:
            session = self.waiting.pop(0)
            tr, session._waiting = session._waiting, None
            if session._reject is not None:
                session._reject.cancel()
            if tr is None or tr.is_closing():
                continue
            session._admit(tr)
            tr.resume_reading()

    def device_entry(self) -> dict[str, Any]:
        spec = self.plug.spec
        return {
            "name": spec.name or spec.device_id,
            "id": spec.device_id,
            "key": spec.local_key,
            "ip": self.host,
            "port": self.port,
            "version": spec.version,
            "layout": spec.layout if spec.raw_dps is None else "spec",
            "profile": spec.profile if spec.raw_dps is None else "",
            "device22": spec.device22,
            "product_id": spec.product_key,
        }


def fleet_specs(
    count: int,
    versions: Sequence[str] = ("3.3",),
    layouts: Sequence[str] = ("cz",),
    profiles: Sequence[str] = ("constant:100",),
    *,
    seed: int = 0,
    names: Sequence[str] = (),
    device22: Collection[int] = (),
) -> list[PlugSpec]:
    """Specs for ``count`` plugs cycling through versions, layouts and profiles.

    ``device22`` lists the (0-based) plugs that reject DP_QUERY like device22 firmware; every
    3.2 plug does.
    """
    specs = []
    for i in range(count):
        device_id, key = make_identity(i, seed)
        version = normalize_version(versions[i % len(versions)])
        specs.append(
            PlugSpec(
                device_id=device_id,
                local_key=key,
                version=version,
                layout=layouts[i % len(layouts)],
                profile=profiles[i % len(profiles)],
                name=names[i] if i < len(names) else f"plug-{i + 1:03d}",
                device22=version == "3.2" or i in device22,
                seed=seed * 100_003 + i,
            )
        )
    return specs


@dataclass
class Fleet:
    """Many simulated plugs served together; writes a tinytuya-style devices file."""

    specs: list[PlugSpec]
    host: str = "127.0.0.1"
    base_port: int = 0
    address_per_plug: bool = False
    faults: dict[int, Faults] = field(default_factory=dict)
    idle_timeout: float = 30.0
    push_interval: float = 0.0
    time_scale: float = 1.0
    clock: Callable[[], float] = time.time
    latency: Latency = field(default_factory=Latency)
    """Of every plug whose spec has no latency of its own."""
    servers: list[PlugServer] = field(default_factory=list)

    async def start(self) -> None:
        epoch = self.clock()
        for i, spec in enumerate(self.specs):
            if self.address_per_plug:
                host, port = f"127.0.{(i + 2) // 254}.{(i + 2) % 254 or 254}", 6668
            else:
                host, port = self.host, (self.base_port + i if self.base_port else 0)
            plug = SimulatedPlug(spec, clock=self.clock, epoch=epoch, time_scale=self.time_scale)
            server = PlugServer(
                plug, host, port, faults=self.faults.get(i), idle_timeout=self.idle_timeout,
                push_interval=self.push_interval, latency=self.latency,
            )
            await server.start()
            self.servers.append(server)

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.servers))

    def devices(self) -> list[dict[str, Any]]:
        return [s.device_entry() for s in self.servers]

    def write_devices_file(self, path: str | os.PathLike[str]) -> Path:
        """Write the devices file atomically and 0600 (it holds keys)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self.devices(), fh, indent=2)
            fh.write("\n")
        os.replace(tmp, target)
        return target

    def server_for(self, device_id: str) -> PlugServer:
        for server in self.servers:
            if server.plug.device_id == device_id:
                return server
        raise KeyError(device_id)
