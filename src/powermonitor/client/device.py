"""Asyncio client for one plug: one connection, one request in flight, typed errors.

``TuyaDevice`` speaks one known protocol version over one TCP connection and returns raw
data points. It does not retry: a lost connection or timeout surfaces as an error and the
caller (``Plug`` for one-shot use, the monitor's coordinator for long runs) decides whether
to reconnect. Wrong keys are never retried.

Diagnosis, one error type per situation (the CLI's exit code follows the type): refused is
:class:`UnreachableError` (3); accepted, then closed before the plug said anything is
:class:`PlugBusyError` (8: another app holds the plug's only connection, or the version is
wrong); an answer that fails its integrity check is :class:`KeyOrVersionError` (5); no answer
is :class:`DeviceTimeoutError` (4), also during 3.4/3.5 session negotiation; bytes that are not
Tuya frames are :class:`ProtocolError` (7), even when they end in a timeout or a close. An
error that arrives while no request is in flight is kept and raised by the next request.

Caps (``limits.py``), each O(1) per event: distinct DP ids per plug and STATUS pushes per
second. A plug that breaks one is disconnected with :class:`LimitExceededError`.

Longer than ~500 lines because ``TuyaDevice`` is one object whose parts (connect and
handshake, the single request in flight, push handling, close and error diagnosis) share its
connection state; the request-turn primitive is in turns.py.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, NoReturn, Self

from ..errors import (
    ConnectionClosedError,
    DeviceReportedError,
    DeviceTimeoutError,
    LimitExceededError,
    PlugBusyError,
    PowermonitorError,
    ProtocolError,
    UnreachableError,
    UsageError,
)
from ..limits import MAX_DPS_PER_PLUG, MAX_PUSHES_PER_S, PUSH_BURST
from ..models import mask_key
from ..protocol import events as ev
from ..protocol.commands import Cmd
from ..protocol.connection import Connection, Role
from ..transport.tcp import TcpLink, open_link
from .turns import Turns

log = logging.getLogger(__name__)

DEVICE22_DPS: tuple[str, ...] = (
    "1", "2", "3", "4", "5", "6", "7", "9", "17", "18", "19", "20", "21", "22", "23", "26",
)
"""DPs asked from a device22 plug: outlets, and every common power layout."""

PushCallback = Callable[[dict[str, Any]], None]


def validate_key(local_key: str, version: str) -> None:
    """Raise a UsageError for a key that cannot work with this version (before any traffic)."""
    if version == "3.1" and not local_key:
        return
    if len(local_key) != 16:
        raise UsageError(
            f"the local key must be exactly 16 characters (got {len(local_key)}); "
            "protocol 3.2 and newer need it"
        )
    if not (local_key.isascii() and local_key.isprintable()):
        raise UsageError(
            "the local key must be plain ASCII letters, digits and symbols "
            f"(got {mask_key(local_key)})"
        )


def busy_message(host: str, port: int, version: str | None) -> str:
    """The one line for a plug that closed the connection before answering (exit 8)."""
    tail = f" (or protocol {version} is not the plug's)" if version else ""
    return (
        f"busy: the plug at {host}:{port} closed the connection without answering: another app "
        "may be connected — close Smart Life/Home Assistant/powermonitor run, or poll through "
        f"it{tail}"
    )


class TuyaDevice:
    """A connection to one plug at a fixed protocol version, returning raw dps.

    One request is in flight at a time (callers take turns). A reply is matched by its
    command. Plugs answer some requests with an empty acknowledgement and send the values as a
    STATUS push right after, possibly in the same read: an acknowledgement therefore only
    turns the wait into "wait for the push". Data that arrives while nobody waits for it (a
    late reply, the answer to a refresh) is still merged into :attr:`dps`.

    Cost per poll matters (a monitor polls a fleet every second), so a status poll is one
    coroutine awaiting one future: no lock round trip when the connection is free, and no
    timer per request: each request sets a deadline, and one timer per connection, re-armed
    only when it fires, fails the request once its deadline has passed.
    """

    __slots__ = (  # a thousand per fleet: no __dict__ (over 30 fields, not even key-sharing)
        "_acked", "_answered", "_clock", "_closed", "_conn", "_control_wanted", "_deadline",
        "_device22", "_ending", "_error", "_link", "_local_key", "_loop", "_on_push", "_opening",
        "_pending_out", "_query_next", "_query_wanted", "_timer", "_timer_at", "_tokens",
        "_tokens_at", "_turns", "_version", "_waiter", "_wanted", "_what", "device_id", "dps",
        "host", "port", "timeout",
    )

    def __init__(
        self,
        device_id: str,
        host: str,
        local_key: str = "",
        version: str = "3.3",
        *,
        port: int = 6668,
        timeout: float = 5.0,
        device22: bool = False,
        on_push: PushCallback | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        validate_key(local_key, version)
        self.device_id = device_id
        self.host = host
        self.port = port
        self.timeout = timeout
        self._local_key = local_key
        self._version = version
        self._device22 = device22
        self._on_push = on_push
        self._clock = clock
        self.dps: dict[str, Any] = {}
        self._conn: Connection | None = None
        self._link: TcpLink | None = None
        self._turns = Turns()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[ev.Event] | None = None
        self._pending_out = b""  # protocol-made bytes waiting for the next write (_queue_out)
        self._deadline = 0.0  # when the request in flight times out (loop time)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._wanted: frozenset[int] = frozenset()
        self._what = ""
        self._answered = False  # the plug has sent at least one valid frame on this link
        self._error: PowermonitorError | None = None  # what ended the link, until raised
        self._ending = False  # we are closing or aborting the link ourselves
        self._tokens = float(PUSH_BURST)  # push rate bucket (MAX_PUSHES_PER_S, PUSH_BURST)
        self._tokens_at = 0.0
        self._acked = False  # the pending request was acknowledged; its data follows as a push
        self._closed: asyncio.Future[None] | None = None
        self._query_wanted: frozenset[int] = frozenset()
        self._control_wanted: frozenset[int] = frozenset()
        self._query_next = False  # _connect_status on 3.4/3.5: query as soon as the session stands
        self._opening: TcpLink | None = None  # the link open_link is connecting (answers may come)

    def __repr__(self) -> str:
        return (
            f"TuyaDevice({self.device_id!r}, {self.host}:{self.port}, "
            f"key={mask_key(self._local_key)}, version={self.version})"
        )

    @property
    def version(self) -> str:
        return self._conn.version if self._conn else self._version

    @property
    def device22(self) -> bool:
        return self._conn.device22 if self._conn else self._device22

    @property
    def connected(self) -> bool:
        return self._link is not None and not self._link.closed and self._conn is not None

    @property
    def error(self) -> PowermonitorError | None:
        """The error that ended the last link while no request was in flight, if any."""
        return self._error

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ lifecycle

    async def connect(self) -> None:
        """Open the TCP link and, on 3.4/3.5, negotiate the session key."""
        if self.connected:
            return
        await self._open(query=False)

    async def _connect_status(self) -> dict[str, Any]:
        """:meth:`connect` then :meth:`status`, with the first frame leaving with the connection.

        On 3.1-3.3 the query is sent as soon as the connection stands, as 3.4/3.5 send START
        (the one-shot poll: one wait for the plug instead of two loop turns and a wait). An
        error of the query itself leaves the link open, as after :meth:`status`.
        """
        if self.connected:
            return await self.status()
        turns = self._turns
        if not turns.take_now():
            await turns.take()
        try:
            reply = await self._open(query=True)
            if reply is None:  # a session was negotiated: the query rides with FINISH
                conn = self._require()
                reply = await self._exchange(conn.query(int(self._clock())), self._query_wanted,
                                             "status")
            if type(reply) is ev.DeviceErrorReply:
                await self._device22_retry(self._require(), reply)
            return dict(self.dps)
        finally:
            turns.release()

    async def _open(self, query: bool) -> ev.Event | None:
        """Connect; negotiate a 3.4/3.5 session, or with ``query`` send the query on 3.1-3.3.

        Returns the query's reply (a refusal included) when the query was sent, else None.
        """
        conn = Connection(
            Role.CLIENT, self._version, self._local_key, self.device_id,
            device22=self._device22, dp_ids_device22=DEVICE22_DPS,
        )
        self._conn = conn
        self._set_wanted_sets()
        self._pending_out = b""  # an earlier link's unsent FINISH: never onto this one
        self._answered = False
        self._error = None
        self._ending = False
        self.dps = {}
        loop = self._loop = asyncio.get_running_loop()
        self._tokens, self._tokens_at = float(PUSH_BURST), loop.time()
        closed = self._closed = loop.create_future()
        first = conn.start()
        wanted: frozenset[int] = frozenset()
        what = "session negotiation"
        if query and not first:
            first, wanted, what = conn.query(int(self._clock())), self._query_wanted, "status"
        self._query_next = query and what != "status"  # chained in _data_received
        waiter: asyncio.Future[ev.Event] | None = None
        if first:  # START (or the query) leaves with the connection: its answer may come early
            waiter = self._waiter = loop.create_future()
            self._wanted, self._what, self._acked = wanted, what, False
        link = self._opening = TcpLink(self._data_received, partial(self._connection_lost, closed))
        try:
            self._link = await open_link(
                self.host, self.port, timeout=self.timeout, link=link, first=first, loop=loop
            )
        except BaseException:
            self._waiter = None
            self._query_next = False
            raise
        finally:
            self._opening = None
        if waiter is None:
            return None
        deadline = self._deadline = loop.time() + self.timeout  # (as _send: from now on)
        if self._timer is None or self._timer_at > deadline:
            self._arm_timer(deadline)
        try:
            try:
                reply = await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
        except PowermonitorError:
            self._query_next = False
            if what == "status":
                raise  # as status(): the link's fate was decided where the error arose
            await self.close()
            raise
        if what == "status" or type(reply) is not ev.SessionEstablished and self._what == "status":
            return reply  # the query's answer (sent with the connection, or chained)
        if type(reply) is ev.DeviceErrorReply:
            await self.close()
            _raise_refused(reply, what)
        return None

    async def wait_closed(self) -> None:
        """Wait until the link is gone, for whatever reason (the plug, a cap, :meth:`close`)."""
        if self._closed is not None:
            await asyncio.shield(self._closed)

    async def close(self) -> None:
        """Close; on return the plug has seen the close (a plug takes one client at a time):
        shut down at once when nothing was left to send, else once the socket is gone."""
        self._ending = True
        link, self._link = self._link, None
        closed = self._closed
        if (
            link is not None and not link.closed and not link.close()
            and closed is not None and not closed.done()
        ):  # unsent bytes: wait (bounded) until they are out and the socket is gone
            try:
                async with asyncio.timeout(1.0):
                    await asyncio.shield(closed)
            except TimeoutError:
                link.abort()
        self._fail_waiter(UnreachableError("connection closed"))
        self._stop_timer()

    # ------------------------------------------------------------------ requests

    async def status(self, refresh: Iterable[int | str] | None = None) -> dict[str, Any]:
        """Query all data points; returns the merged view (pushes included).

        ``refresh`` (DP ids) first sends UPDATEDPS for them, in the same write as the query:
        what :meth:`refresh` then :meth:`status` do, with one send instead of two.
        """
        turns = self._turns
        if not turns.take_now():
            await turns.take()
        try:
            conn = self._require()
            if refresh is None:
                frame = conn.query(int(self._clock()))
            else:
                frame = conn.refresh(refresh)  # sent (and numbered) first
                frame += conn.query(int(self._clock()))
            waiter = self._send(frame, self._query_wanted, "status")  # (_exchange, inlined:
            try:  # the poll is the hot path and a coroutine frame less shows)
                reply = await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
            if type(reply) is ev.DeviceErrorReply:
                await self._device22_retry(conn, reply)
            return dict(self.dps)
        finally:
            turns.release()

    async def _device22_retry(self, conn: Connection, reply: ev.DeviceErrorReply) -> None:
        """A refused query: switch a device22 plug to CONTROL_NEW queries and ask again."""
        if "data unvalid" not in reply.message or conn.device22 or conn.version == "3.5":
            _raise_refused(reply, "status")
        log.info("%s answers like a device22 plug; switching query style", self.device_id)
        conn.set_device22(DEVICE22_DPS)
        self._device22 = True
        self._set_wanted_sets()
        await self._request(conn.query(int(self._clock())), self._query_wanted, "status")

    async def set_dps(self, dps: dict[str, Any]) -> dict[str, Any]:
        """Set data points (e.g. ``{"1": True}``); returns the merged view after the change.

        Plugs acknowledge with an empty frame and then push the new values; some answer with
        the values directly. Either completes the call; an acknowledgement without a push
        within the timeout still counts as done (the values are then the last known ones).
        """
        await self._turns.take()
        try:
            conn = self._require()
            try:
                await self._request(
                    conn.control(dps, int(self._clock())), self._control_wanted, "switch"
                )
            except DeviceTimeoutError:
                if not self._acked:
                    raise
                log.debug("%s acknowledged the change but pushed no new state", self.device_id)
            return dict(self.dps)
        finally:
            self._turns.release()

    async def heartbeat(self) -> None:
        await self._turns.take()
        try:
            conn = self._require()
            await self._request(conn.heartbeat(), _HEARTBEAT_WANTED, "heartbeat")
        finally:
            self._turns.release()

    async def refresh(self, dp_ids: Iterable[int | str]) -> None:
        """Send UPDATEDPS without waiting: changed values arrive later as pushes."""
        await self._turns.take()
        try:
            conn = self._require()
            assert self._link is not None
            self._link.write(conn.refresh(dp_ids))
        finally:
            self._turns.release()

    # ------------------------------------------------------------------ internals

    def _set_wanted_sets(self) -> None:
        spec = self._conn.spec if self._conn else None
        if spec is not None:
            self._query_wanted = _wanted_set(spec.query_cmd)
            self._control_wanted = _wanted_set(spec.control_cmd, Cmd.STATUS)

    def _require(self) -> Connection:
        if self._link is None or self._link.closed or self._conn is None:
            error, self._error = self._error, None
            if error is not None:
                raise error  # it ended the link while no request was in flight
            raise UnreachableError(f"not connected to {self.host}:{self.port}")
        return self._conn

    def _send(self, frame: bytes, wanted: frozenset[int], what: str) -> asyncio.Future[ev.Event]:
        """Write one request; return the future its answer (or failure) will complete."""
        link, loop = self._link, self._loop
        assert link is not None and loop is not None
        waiter: asyncio.Future[ev.Event] = loop.create_future()
        self._waiter, self._wanted, self._what, self._acked = waiter, wanted, what, False
        deadline = self._deadline = loop.time() + self.timeout
        if self._timer is None or self._timer_at > deadline:
            self._arm_timer(deadline)
        if self._pending_out:  # the handshake's last frame rides along
            frame, self._pending_out = self._pending_out + frame, b""
        try:
            link.write(frame)
        except UnreachableError:  # closed by the plug; its connection_lost may still be queued
            self._waiter = None
            error, self._error = self._error, None
            raise (error or self._closed_error()) from None
        return waiter

    async def _exchange(self, frame: bytes, wanted: frozenset[int], what: str) -> ev.Event:
        """Write one request and wait for its answer (a refusal is returned, not raised)."""
        waiter = self._send(frame, wanted, what)
        try:
            return await waiter
        finally:
            if self._waiter is waiter:
                self._waiter = None

    async def _request(self, frame: bytes, wanted: frozenset[int], what: str) -> ev.Event:
        """Write one request and wait for its answer; a refusal raises DeviceReportedError."""
        reply = await self._exchange(frame, wanted, what)
        if type(reply) is ev.DeviceErrorReply:
            _raise_refused(reply, what)
        return reply

    def _arm_timer(self, when: float) -> None:
        assert self._loop is not None
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._on_timer)

    def _stop_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _on_timer(self) -> None:
        """The connection's one timer: fail the request in flight once its deadline passed."""
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done() or self._loop is None:
            return  # idle: the next request arms the timer again
        if self._loop.time() < self._deadline:
            self._arm_timer(self._deadline)  # a later request than the one it was armed for
            return
        self._on_timeout(waiter)

    def _on_timeout(self, waiter: asyncio.Future[ev.Event]) -> None:
        if waiter.done():
            return
        exc: PowermonitorError
        junk = self._junk()
        if junk:
            exc = ProtocolError(
                f"the plug at {self.host}:{self.port} answered the {self._what} request with "
                f"{junk} bytes that are not whole Tuya frames: is this port really a Tuya plug?"
            )
        elif self._what == "session negotiation":
            exc = DeviceTimeoutError(
                f"no answer to session negotiation within {self.timeout:g} s "
                f"(protocol {self.version}): the plug accepted the connection but stayed silent"
            )
        else:
            exc = DeviceTimeoutError(f"no answer to the {self._what} request within {self.timeout:g} s")
        if not self._acked or junk:
            self._abort()  # a plug that stopped answering: this link is no longer trusted
        waiter.set_exception(exc)

    def _abort(self) -> None:
        self._ending = True
        link, self._link = self._link or self._opening, None
        if link is not None:
            link.abort()

    def _junk(self) -> int:
        """Bytes received since the last valid frame that were not part of any frame."""
        conn = self._conn
        return conn.junk_bytes if conn is not None else 0

    def _fail(self, exc: PowermonitorError) -> None:
        """End the link for ``exc``: fail the request in flight, or keep it for the next one."""
        fut = self._waiter
        if fut is not None and not fut.done():
            self._fail_waiter(exc)
        elif self._error is None:  # the first reason stands
            self._error = exc
        self._abort()

    def _data_received(self, data: bytes) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            events = conn.receive_data(data)
        except PowermonitorError as exc:
            self._fail(exc)
            return
        out = conn.data_to_send()
        for event in events:
            self._dispatch(event)
            if self._ending:
                return  # a cap was broken: the link is gone
        if self._query_next and conn.session_key is not None:
            self._query_next = False
            self._send_query_with(out, conn)
        elif out:
            self._queue_out(out)

    def _send_query_with(self, finish: bytes, conn: Connection) -> None:
        """The session stands: send FINISH and the query in one write from here, so the
        waiting task wakes once, for the query's answer (:meth:`_connect_status`)."""
        link = self._link or self._opening  # (the answer may beat open_link's return)
        assert self._loop is not None and link is not None
        self._wanted, self._what, self._acked = self._query_wanted, "status", False
        self._deadline = self._loop.time() + self.timeout
        try:
            link.write(finish + conn.query(int(self._clock())))
        except UnreachableError:
            self._fail(self._error or self._closed_error())

    def _queue_out(self, data: bytes) -> None:
        """Send bytes the protocol made itself (3.4/3.5: the handshake's FINISH frame).

        They go out with the next request when one follows at once (``connect()`` then
        ``status()``: one write, one wake-up of the plug, instead of two), else on the loop's
        next turn. The events were dispatched first, so a task woken by them runs first.
        """
        if not self._pending_out and self._loop is not None:
            self._loop.call_soon(self._flush_out)
        self._pending_out += data

    def _flush_out(self) -> None:
        data, self._pending_out = self._pending_out, b""
        link = self._link or self._opening
        if data and link is not None and not link.closed:
            try:
                link.write(data)
            except UnreachableError:
                pass  # closing: the plug is being left anyway

    def _dispatch(self, event: ev.Event) -> None:
        waiter = self._waiter
        if (
            type(event) is ev.StatusReply
            and waiter is not None
            and not waiter.done()
            and event.cmd in self._wanted
        ):  # the answer to the request in flight: the usual case, first
            if not self._merge(event.dps):
                return
            if event.cmd == _UPDATEDPS and self._on_push is not None:
                self._on_push(event.dps)
            self._answered = True
            waiter.set_result(event)
            return
        kind = type(event)
        pending = waiter is not None and not waiter.done()
        if kind is ev.StatusReply or kind is ev.DpsPush:
            if kind is ev.DpsPush and not self._take_push_token():
                return
            dps = event.dps  # type: ignore[union-attr]
            if not self._merge(dps):
                return
            cmd = Cmd.STATUS if kind is ev.DpsPush else event.cmd  # type: ignore[union-attr]
            taken = pending and (cmd in self._wanted or (self._acked and kind is ev.DpsPush))
            if (kind is ev.DpsPush or cmd == Cmd.UPDATEDPS) and self._on_push is not None:
                self._on_push(dps)
            if taken:
                self._answered = True
                waiter.set_result(event)  # type: ignore[union-attr]
            return
        if not pending:
            return
        assert waiter is not None
        if kind is ev.SessionEstablished:
            self._answered = True
            if not self._query_next:  # else the query follows at once, and its answer wakes
                waiter.set_result(event)
            return
        if kind is ev.HeartbeatAck:
            cmd = Cmd.HEART_BEAT
        else:
            cmd = getattr(event, "cmd", -1)
        if cmd not in self._wanted:
            return
        self._answered = True
        if kind is ev.Ack:
            self._acked = True  # the values follow as a STATUS push
            return
        waiter.set_result(event)

    def _take_push_token(self) -> bool:
        """Token bucket for STATUS pushes; a plug that floods is disconnected (False)."""
        assert self._loop is not None
        now = self._loop.time()
        tokens = min(float(PUSH_BURST), self._tokens + (now - self._tokens_at) * MAX_PUSHES_PER_S)
        self._tokens_at = now
        if tokens < 1.0:
            self._tokens = tokens
            self._fail(LimitExceededError(
                f"the plug at {self.host}:{self.port} pushed more than {MAX_PUSHES_PER_S:g} "
                "updates per second: disconnected to protect the other plugs"
            ))
            return False
        self._tokens = tokens - 1.0
        return True

    def _merge(self, dps: dict[str, Any]) -> bool:
        """Merge an answer's or a push's dps into :attr:`dps`; False (and the link ended) when
        that takes the plug past the DP cap. New DP ids re-key the view with interned ids:
        each reading's JSON brings fresh key strings and the merged view keeps the first ones
        it saw; interned, a fleet shares one "18", not one per plug (they are mortal: nothing
        is kept once no plug uses them)."""
        merged = self.dps
        known = len(merged)
        merged.update(dps)
        if len(merged) == known:
            return True
        if len(merged) > MAX_DPS_PER_PLUG:
            self._too_many_dps()
            return False
        self.dps = {_intern(k): v for k, v in merged.items()}
        return True

    def _too_many_dps(self) -> None:
        self._fail(LimitExceededError(
            f"the plug at {self.host}:{self.port} reported more than {MAX_DPS_PER_PLUG} "
            "different data points: disconnected (a plug has at most 255)"
        ))
        self.dps = {}

    def _connection_lost(self, closed: asyncio.Future[None], exc: Exception | None) -> None:
        if not closed.done():
            closed.set_result(None)
        if self._ending or closed is not self._closed:
            return  # we ended it (abort or close) and said why; or an old link, closed earlier
        self._fail(self._closed_error())

    def _closed_error(self) -> PowermonitorError:
        """Why the plug closed the connection: garbage, busy (never answered) or just closed."""
        junk = self._junk()
        if junk:
            return ProtocolError(
                f"the plug at {self.host}:{self.port} sent {junk} bytes that are not whole Tuya "
                "frames and closed the connection: is this port really a Tuya plug?"
            )
        if not self._answered:
            return PlugBusyError(busy_message(self.host, self.port, self.version))
        return ConnectionClosedError(f"the plug at {self.host}:{self.port} closed the connection")

    def _fail_waiter(self, exc: PowermonitorError) -> None:
        fut = self._waiter
        if fut is not None and not fut.done():
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: nobody may be waiting any more


def _raise_refused(reply: ev.DeviceErrorReply, what: str) -> NoReturn:
    raise DeviceReportedError(
        f"the plug refused the {what} request: {reply.message!r}", reply.message
    )


_WANTED_SETS: dict[tuple[int, ...], frozenset[int]] = {}


def _wanted_set(*cmds: int) -> frozenset[int]:
    """One shared frozenset per command combination (a handful), not two per connection."""
    found = _WANTED_SETS.get(cmds)  # (Cmd members hash and compare as their ints)
    if found is None:
        found = _WANTED_SETS[cmds] = frozenset(int(c) for c in cmds)
    return found


_HEARTBEAT_WANTED = _wanted_set(Cmd.HEART_BEAT)
_intern = sys.intern
_UPDATEDPS = Cmd.UPDATEDPS  # (an Enum member read off its class costs ~0.1 µs on 3.11)
