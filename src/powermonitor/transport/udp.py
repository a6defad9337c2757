"""Asyncio UDP transport: bound sockets that carry datagrams, and one-shot sends.

Bytes only: what the datagrams mean is ``protocol/discovery.py``'s business. Listeners set
SO_REUSEADDR and SO_REUSEPORT so they share the discovery ports (6666, 6667, 7000) with other
listeners on the same host (Home Assistant, tinytuya...): every one of them hears broadcasts.
OS errors on bind become :class:`~powermonitor.errors.UsageError` (the user picks another
address or port); errors on send become :class:`~powermonitor.errors.UnreachableError`. ICMP
errors reported later (nobody listening on a loopback port) are logged, never raised.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable
from typing import Any, Self

from ..errors import UnreachableError, UsageError

log = logging.getLogger(__name__)

Address = tuple[str, int]
OnDatagram = Callable[[bytes, Address], None]


def _family(host: str) -> socket.AddressFamily:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return socket.AF_INET  # a host name: IPv4, as every Tuya plug is


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: OnDatagram | None) -> None:
        self._on_datagram = on_datagram
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self._on_datagram is not None:
            self._on_datagram(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class UdpEndpoint:
    """One bound UDP socket. Received datagrams go to the callback given at open time."""

    def __init__(self, transport: asyncio.DatagramTransport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        sockname = transport.get_extra_info("sockname")
        self.address: Address = (str(sockname[0]), int(sockname[1]))

    @property
    def host(self) -> str:
        return self.address[0]

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def closed(self) -> bool:
        return self._transport.is_closing()

    def sendto(self, data: bytes, host: str, port: int) -> None:
        """Send one datagram from this socket (the receiver sees our bound port as source)."""
        if self._transport.is_closing():
            raise UnreachableError("the UDP socket is closed")
        try:
            self._transport.sendto(data, (host, port))
        except OSError as exc:
            raise UnreachableError(f"cannot send to UDP {host}:{port}: {exc.strerror or exc}") from exc
        except (ValueError, TypeError) as exc:  # a malformed host name (IDNA, NUL)
            raise UnreachableError(f"cannot send to UDP {host[:80]!r}: not a valid address") from exc

    def close(self) -> None:
        self._transport.close()

    async def wait_closed(self) -> None:
        await self._protocol.closed

    async def aclose(self) -> None:
        self.close()
        await self.wait_closed()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _bound_socket(host: str, port: int, *, reuse: bool, allow_broadcast: bool) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_DGRAM)
    try:
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                except OSError:  # pragma: no cover - kernels without it
                    pass
        if allow_broadcast:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setblocking(False)
        sock.bind((host, port))
    except (OSError, ValueError, TypeError) as exc:  # a malformed host name: IDNA, NUL
        sock.close()
        raise UsageError(
            f"cannot listen on UDP {host[:80]}:{port}: {getattr(exc, 'strerror', None) or exc} "
            "(choose another address or port)"
        ) from exc
    return sock


async def open_listener(
    host: str,
    port: int,
    on_datagram: OnDatagram | None,
    *,
    reuse: bool = True,
    allow_broadcast: bool = False,
) -> UdpEndpoint:
    """Bind ``host:port`` (0: any free port, see ``.port``) and deliver datagrams to the callback.

    ``on_datagram(data, (source_host, source_port))`` runs in the event loop; it must not block.
    """
    sock = _bound_socket(host, port, reuse=reuse, allow_broadcast=allow_broadcast)
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Protocol(on_datagram), sock=sock
        )
    except OSError as exc:  # pragma: no cover - the socket is already bound
        sock.close()
        raise UsageError(f"cannot listen on UDP {host}:{port}: {exc}") from exc
    return UdpEndpoint(transport, protocol)


async def send_datagram(
    host: str, port: int, data: bytes, *, allow_broadcast: bool = False
) -> None:
    """Send one datagram from a fresh ephemeral socket, then close it."""
    bind_host = "::" if _family(host) == socket.AF_INET6 else "0.0.0.0"
    endpoint = await open_listener(
        bind_host, 0, None, reuse=False, allow_broadcast=allow_broadcast
    )
    try:
        endpoint.sendto(data, host, port)
    finally:
        await endpoint.aclose()


def local_address_for(host: str, port: int) -> str:
    """The local IP the kernel would send from to reach ``host``. Sends nothing.

    Used to fill the ``ip`` of a discovery request (plugs answer to it). Falls back to
    127.0.0.1 when there is no route.
    """
    family = _family(host)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.connect((host, port))  # UDP connect only picks a route
            return str(sock.getsockname()[0])
        except (OSError, ValueError, TypeError):  # no route, or a malformed host name
            return "::1" if family == socket.AF_INET6 else "127.0.0.1"


__all__ = ["Address", "OnDatagram", "UdpEndpoint", "local_address_for", "open_listener", "send_datagram"]
