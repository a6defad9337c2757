"""Asyncio TCP transport: carries bytes, applies connect timeouts, turns OS errors into ours.

It knows nothing of Tuya frames or retries (those live in ``protocol/`` and ``client/``). An
``asyncio.Protocol`` rather than streams: fewer wake-ups and allocations per poll.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import cast

from ..errors import DeviceTimeoutError, UnreachableError


class TcpLink(asyncio.Protocol):
    """One TCP connection; received bytes go to ``on_data``, loss to ``on_lost``."""

    def __init__(
        self,
        on_data: Callable[[bytes], None],
        on_lost: Callable[[Exception | None], None],
    ) -> None:
        self._on_data = on_data
        self._on_lost = on_lost
        self._transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = self._transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - not a TCP socket
                pass

    def data_received(self, data: bytes) -> None:
        self._on_data(data)

    def eof_received(self) -> bool | None:
        return False  # close our side too: a plug that half-closes is gone

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._transport = None
        self._on_lost(exc)

    def write(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise UnreachableError("the connection to the plug is closed")
        self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


async def open_link(
    host: str,
    port: int,
    *,
    timeout: float,
    on_data: Callable[[bytes], None],
    on_lost: Callable[[Exception | None], None],
) -> TcpLink:
    """Connect to ``host:port`` within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    link = TcpLink(on_data, on_lost)
    try:
        async with asyncio.timeout(timeout):
            await loop.create_connection(lambda: link, host, port)
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
    return link
