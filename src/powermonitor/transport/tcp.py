"""Asyncio TCP transport: carries bytes, applies connect timeouts, turns OS errors into ours.

It knows nothing of Tuya frames or retries (those live in ``protocol/`` and ``client/``). An
``asyncio.Protocol`` rather than streams: fewer wake-ups and allocations per poll.

Connecting and closing cost loop turns, and a client that reconnects per poll pays them every
time. An IP literal (what plugs are configured with) is connected on our own non-blocking
socket: no resolver round, and when the kernel has already finished the handshake (loopback,
a fast LAN) no wait for writability either. Closing with nothing left to send shuts the socket
down at once, so the plug sees the close before :meth:`TcpLink.close` returns.

That socket is then driven directly: ``loop.add_reader`` and plain ``send``/``recv_into``
("direct mode"), not wrapped in an asyncio transport. A poll is a few hundred bytes each way,
and the default loop's transport costs ~18 µs more per round trip than reading and writing the
socket itself (bench/README.md, "the link"); on uvloop both cost the same. A host name, or a
loop without ``add_reader`` (Windows' proactor), gets an ordinary transport.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import threading
from collections.abc import Callable
from typing import Final, cast

from ..errors import DeviceTimeoutError, UnreachableError

_READ_SIZE: Final = 0x10000
"""Bytes read per wake-up: a few frames of the largest size limits.py allows."""
_buffers = threading.local()


def _read_buffer() -> memoryview:
    """This thread's receive buffer, shared by its links.

    The default ``data_received`` path reads into a fresh 256 KiB bytes object per read, which
    the allocator maps and unmaps every time (mmap, page faults, mremap, munmap per poll). A
    link reads into this buffer instead and hands on a copy of just the bytes received; one
    buffer per thread is enough, since a read and its hand-over run without a loop turn in
    between.
    """
    view: memoryview | None = getattr(_buffers, "view", None)
    if view is None:
        view = _buffers.view = memoryview(bytearray(_READ_SIZE))
    return view


class TcpLink(asyncio.BufferedProtocol):
    """One TCP connection; received bytes go to ``on_data``, loss to ``on_lost`` (once, from
    its own loop turn, as an asyncio transport calls ``connection_lost``)."""

    __slots__ = (
        "_buffer", "_closing", "_fd", "_loop", "_on_data", "_on_lost", "_pending", "_sock",
        "_transport", "closed",
    )

    def __init__(
        self,
        on_data: Callable[[bytes], None],
        on_lost: Callable[[Exception | None], None],
    ) -> None:
        self._on_data = on_data
        self._on_lost = on_lost
        self._transport: asyncio.Transport | None = None
        self._sock: socket.socket | None = None  # our own socket, when open_link made it
        self._buffer = _read_buffer()
        self.closed = False
        # direct mode (our own socket, no transport): the loop, the registered fd, unsent bytes
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd = -1
        self._pending = bytearray()
        self._closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        if self._sock is not None:
            return  # our own socket: TCP_NODELAY is set already
        sock = self._transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - not a TCP socket
                pass

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self._on_data(bytes(self._buffer[:nbytes]))

    def eof_received(self) -> bool | None:
        return False  # close our side too: a plug that half-closes is gone

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        self._transport = None
        self._on_lost(exc)

    def write(self, data: bytes) -> None:
        if self._fd >= 0:
            self._send(data)
            return
        if self._transport is None or self._transport.is_closing():
            raise UnreachableError("the connection to the plug is closed")
        self._transport.write(data)

    def close(self) -> bool:
        """Close; True when nothing was left to send and the plug has been told already
        (shutdown), so the caller need not wait for :meth:`connection_lost`."""
        if self._fd >= 0:
            return self._close_direct()
        transport = self._transport
        if transport is None:
            return True
        self._on_data = _ignore  # whatever still arrives belongs to no request
        drained = transport.get_write_buffer_size() == 0
        transport.close()
        sock = self._sock
        if not drained or sock is None:
            return False
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already reset by the plug: nothing to tell it
            pass
        return True

    def abort(self) -> None:
        if self._fd >= 0:
            self._end(None)
        elif self._transport is not None:
            self._transport.abort()

    # ------------------------------------------------------------------ direct mode

    def attach(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bool:
        """Drive the connected ``sock`` directly; False when the loop cannot watch it (then
        wrap it in a transport instead)."""
        fd = sock.fileno()
        try:
            loop.add_reader(fd, self._readable)
        except NotImplementedError:
            return False
        self._loop, self._sock, self._fd = loop, sock, fd
        return True

    def _readable(self) -> None:
        sock = self._sock
        assert sock is not None
        try:
            nbytes = sock.recv_into(self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._end(exc)
            return
        if not nbytes:
            self._end(None)  # the plug closed: so do we (a plug that half-closes is gone)
            return
        try:
            self._on_data(bytes(self._buffer[:nbytes]))
        except Exception as exc:  # noqa: BLE001 - as a transport does: the link cannot go on
            assert self._loop is not None
            self._loop.call_exception_handler(
                {"message": "the link's data callback failed", "exception": exc, "protocol": self}
            )
            self._end(exc)

    def _send(self, data: bytes) -> None:
        if self._closing:
            raise UnreachableError("the connection to the plug is closed")
        if self._pending:  # still waiting for room: keep the order
            self._pending += data
            return
        sock = self._sock
        assert sock is not None and self._loop is not None
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._end(exc)  # connection_lost tells the owner why, as after a transport's write
            return
        if sent < len(data):
            self._pending += data[sent:]
            self._loop.add_writer(self._fd, self._writable)

    def _writable(self) -> None:
        sock = self._sock
        assert sock is not None and self._loop is not None
        try:
            sent = sock.send(self._pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._end(exc)
            return
        del self._pending[:sent]
        if not self._pending:
            self._loop.remove_writer(self._fd)
            if self._closing:
                self._end(None, shutdown=True)

    def _close_direct(self) -> bool:
        self._on_data = _ignore  # whatever still arrives belongs to no request
        if self._pending:  # the rest goes out first; connection_lost once it has
            self._closing = True
            return False
        self._end(None, shutdown=True)
        return True

    def _end(self, exc: Exception | None, *, shutdown: bool = False) -> None:
        """Stop watching the socket, close it, and report the loss from the next loop turn."""
        loop, sock, fd = self._loop, self._sock, self._fd
        if fd < 0 or loop is None or sock is None:
            return
        self._fd = -1
        self._closing = True
        loop.remove_reader(fd)
        if self._pending:  # a writer is registered exactly while bytes wait (uvloop: an
            loop.remove_writer(fd)  # epoll_ctl call less per connection when none was)
            self._pending.clear()
        if shutdown:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:  # already reset by the plug: nothing to tell it
                pass
        sock.close()
        loop.call_soon(self.connection_lost, exc)


async def open_link(
    host: str,
    port: int,
    *,
    timeout: float,
    link: TcpLink,
    first: bytes = b"",
    loop: asyncio.AbstractEventLoop | None = None,
) -> TcpLink:
    """Connect ``link`` to ``host:port`` within ``timeout`` seconds, then send ``first``.

    On our own socket ``first`` is sent as soon as the connection stands, before the loop
    wraps the socket in a transport: the plug works on its answer meanwhile, and the answer
    may reach ``link`` before this returns. ``loop``: the running loop, when the caller has it
    (asking for it again costs a getpid() system call).
    """
    loop = loop or asyncio.get_running_loop()
    family = _literal_family(host)
    try:
        if family is None:
            async with asyncio.timeout(timeout):
                await loop.create_connection(lambda: link, host, port)
        else:
            sock = link._sock = await _connect_literal(loop, family, host, port, timeout)
            if first:
                try:
                    first = first[sock.send(first):]
                except OSError:  # (BlockingIOError too) the link sends it, or says why not
                    pass
            if not link.attach(loop, sock):
                try:
                    await loop.create_connection(lambda: link, sock=sock)  # connected: no wait
                except BaseException:
                    sock.close()
                    raise
    except TimeoutError:
        raise DeviceTimeoutError(
            f"no TCP answer from {host}:{port} within {timeout:g} s (plug offline or wrong address?)"
        ) from None
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise UnreachableError(f"cannot connect to {host}:{port}: {reason}") from exc
    except (ValueError, TypeError) as exc:  # a malformed name (IDNA label too long, NUL...)
        raise UnreachableError(
            f"cannot connect to {host[:80]!r}: not a valid host name or address"
        ) from exc
    if first:
        try:
            link.write(first)
        except UnreachableError:  # lost already: connection_lost tells the owner why
            pass
    return link


def _ignore(data: bytes) -> None:
    pass


def _literal_family(host: str) -> socket.AddressFamily | None:
    """AF_INET/AF_INET6 for a plain IP literal, None for a name (or a scoped IPv6 address)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return family
    return None


async def _connect_literal(
    loop: asyncio.AbstractEventLoop, family: socket.AddressFamily, host: str, port: int,
    timeout: float,
) -> socket.socket:
    """A connected non-blocking TCP socket (TCP_NODELAY); OSError like ``connect()``,
    TimeoutError after ``timeout`` seconds (a timer only when the connection is slow)."""
    sock = socket.socket(family, _STREAM_NONBLOCK)
    try:
        if not _SOCK_NONBLOCK:
            sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        address = (host, port)
        try:
            sock.connect(address)
        except BlockingIOError:
            # Asked again, connect() says in one system call whether the connection stands
            # (0, EISCONN), is still in progress (EALREADY) or was refused at once (loopback,
            # or a LAN host's immediate reset).
            error = sock.connect_ex(address)
            if error in _IN_PROGRESS:
                async with asyncio.timeout(timeout):  # still in progress: wait for it
                    await loop.sock_connect(sock, address)
            elif error and error != errno.EISCONN:
                raise OSError(error, os.strerror(error)) from None
    except BaseException:
        sock.close()
        raise
    return sock


_SOCK_NONBLOCK: Final = getattr(socket, "SOCK_NONBLOCK", 0)  # Linux: no setblocking() call
_STREAM_NONBLOCK: Final = socket.SOCK_STREAM | _SOCK_NONBLOCK
_IN_PROGRESS: Final = frozenset({errno.EALREADY, errno.EINPROGRESS, errno.EWOULDBLOCK})
