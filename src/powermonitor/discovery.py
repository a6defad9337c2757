"""Find plugs on the LAN: listen for their UDP beacons, optionally ask 3.5 plugs to answer.

Plugs broadcast a beacon every few seconds: 3.1 on port 6666, 3.2-3.5 on 6667; 3.5 plugs also
answer an app's REQ_DEVINFO request, sent to port 7000, on port 7000 of the IP the request
names. :class:`Discovery` listens on all three ports at once (sharing them with other listeners),
keeps the latest beacon per device id, and, with ``probe``, sends that request every few seconds.

Probes leave from a socket of their own, which is also listened to: real plugs answer the IP in
the request on port 7000, powermonitor's simulator answers the probe's source address, and both
answers are heard. Requests from phone apps (``"from":"app"``, heard on 7000, including our own
broadcast) are ignored; datagrams that do not decode are logged at debug level, never raised.

Anyone on the LAN can send beacons, so what is kept is bounded and clean: an id must look like
one (letters, digits, ``_.-``, at most 64), text fields lose control characters and are cut to
64 characters, an ``ip`` that is not an address is replaced by the sender's; at most
:data:`MAX_PLUGS` plugs in all and :data:`MAX_PER_SOURCE` per sending address are kept, and each
address may send :data:`SOURCE_RATE` datagrams a second (bursts of :data:`SOURCE_BURST`). What
was refused is counted (``rejected``, ``over_cap``, ``rate_limited``) so the scan can say so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self

from .errors import PowermonitorError, UsageError
from .protocol.discovery import (
    DISCOVERY_PORTS,
    PORT_APP,
    Beacon,
    decode_beacon,
    encode_discovery_request,
    is_app_request,
)
from .sanitize import printable
from .transport.udp import Address, UdpEndpoint, local_address_for, open_listener

log = logging.getLogger(__name__)

SCAN_TIME = 18.0
"""How long tinytuya listens; plugs beacon every ~5-10 s, so this hears each at least once."""
PROBE_INTERVAL = 6.0
"""How often tinytuya repeats its REQ_DEVINFO request during a scan."""
BROADCAST = "255.255.255.255"
MAX_PLUGS = 1024
"""Plugs kept by one scan; more are counted in ``over_cap`` (a LAN has far fewer)."""
MAX_PER_SOURCE = 256
"""Distinct plugs one sending address may announce (a real plug announces itself only)."""
SOURCE_RATE = 50.0
"""Datagrams per second accepted from one address (a plug sends one every 5-10 s)."""
SOURCE_BURST = 200.0
MAX_SOURCES = 4096
"""Sending addresses tracked; datagrams from more are dropped (counted as rate limited)."""
MAX_TEXT = 64
_DEVICE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def clean_beacon(beacon: Beacon, source_ip: str) -> Beacon | None:
    """``beacon`` fit to keep and print, or None when its id is not an id."""
    if not _DEVICE_ID.fullmatch(beacon.device_id):
        return None
    try:
        ip = str(ipaddress.ip_address(beacon.ip))
    except ValueError:
        ip = source_ip
    port = beacon.port if isinstance(beacon.port, int) and 0 < beacon.port < 65536 else None
    return dataclasses.replace(
        beacon, ip=ip, port=port, version=printable(beacon.version, 8),
        product_key=printable(beacon.product_key, MAX_TEXT),
        form=printable(beacon.form, MAX_TEXT),
        mac=None if beacon.mac is None else printable(beacon.mac, MAX_TEXT),
    )

OnBeacon = Callable[[Beacon], None]


class Discovery:
    """Listen for beacons until stopped. ``async with Discovery(...) as d: ...; d.beacons``."""

    def __init__(
        self,
        *,
        listen_host: str = "0.0.0.0",
        ports: Sequence[int] = DISCOVERY_PORTS,
        probe: bool = False,
        probe_address: str = BROADCAST,
        probe_port: int = PORT_APP,
        probe_interval: float = PROBE_INTERVAL,
        client_ip: str | None = None,
        on_beacon: OnBeacon | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.listen_host = listen_host
        self.requested_ports = tuple(ports)
        self.probe = probe
        self.probe_address = probe_address
        self.probe_port = probe_port
        self.probe_interval = probe_interval
        self.client_ip = client_ip
        self.on_beacon = on_beacon
        self._random_bytes = random_bytes
        self._endpoints: list[UdpEndpoint] = []
        self._probe_endpoint: UdpEndpoint | None = None
        self._prober: asyncio.Task[None] | None = None
        self._found: dict[str, Beacon] = {}
        self._per_source: dict[str, int] = {}  # address -> distinct plugs it announced
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, at)
        self._clock = time.monotonic
        self.datagrams = 0
        self.undecodable = 0
        self.app_requests = 0
        self.probes_sent = 0
        self.rejected = 0  # beacons whose id is not an id
        self.over_cap = 0  # beacons of plugs past MAX_PLUGS / MAX_PER_SOURCE
        self.rate_limited = 0  # datagrams past an address's rate

    @property
    def ports(self) -> tuple[int, ...]:
        """The ports actually listened on (OS-assigned where 0 was asked)."""
        return tuple(e.port for e in self._endpoints)

    @property
    def beacons(self) -> list[Beacon]:
        """Latest beacon per device, in the order devices were first heard."""
        return list(self._found.values())

    async def start(self) -> None:
        failures: list[PowermonitorError] = []
        for port in self.requested_ports:
            try:
                endpoint = await open_listener(self.listen_host, port, self._received)
            except PowermonitorError as exc:
                failures.append(exc)
                log.warning("%s; not listening there", exc)
                continue
            self._endpoints.append(endpoint)
        if not self._endpoints and self.requested_ports:
            await self.stop()
            raise failures[0]
        if self.probe:
            try:
                self._probe_endpoint = await open_listener(
                    self.listen_host, 0, self._received, reuse=False, allow_broadcast=True
                )
            except PowermonitorError:
                await self.stop()
                raise
            if self.client_ip is None:
                self.client_ip = local_address_for(self.probe_address, self.probe_port)
            self._prober = asyncio.create_task(self._probe_loop(), name="discovery-probe")

    async def stop(self) -> list[Beacon]:
        prober, self._prober = self._prober, None
        if prober is not None:
            prober.cancel()
            try:
                await prober
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
        endpoints = self._endpoints
        if self._probe_endpoint is not None:
            endpoints = [*endpoints, self._probe_endpoint]
        self._endpoints, self._probe_endpoint = [], None
        for endpoint in endpoints:
            endpoint.close()
        for endpoint in endpoints:
            await endpoint.wait_closed()
        return self.beacons

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def send_probe(self) -> None:
        """Send one REQ_DEVINFO request to ``probe_address:probe_port`` now."""
        endpoint = self._probe_endpoint
        if endpoint is None:
            raise UsageError("discovery was not started with probe=True")
        request = encode_discovery_request(self.client_ip or "0.0.0.0", self._random_bytes(12))
        try:
            endpoint.sendto(request, self.probe_address, self.probe_port)
        except PowermonitorError as exc:
            log.warning("discovery request not sent: %s", exc)
            return
        self.probes_sent += 1

    async def _probe_loop(self) -> None:
        while True:
            self.send_probe()
            await asyncio.sleep(self.probe_interval)

    def _allowed(self, address: str) -> bool:
        """Token bucket per sending address (bounded table)."""
        now = self._clock()
        tokens, at = self._buckets.get(address, (SOURCE_BURST, now))
        if address not in self._buckets and len(self._buckets) >= MAX_SOURCES:
            return False
        tokens = min(SOURCE_BURST, tokens + (now - at) * SOURCE_RATE)
        if tokens < 1.0:
            self._buckets[address] = (tokens, now)
            return False
        self._buckets[address] = (tokens - 1.0, now)
        return True

    def _received(self, data: bytes, source: Address) -> None:
        self.datagrams += 1
        if not self._allowed(source[0]):
            self.rate_limited += 1
            return
        try:
            beacon = decode_beacon(data)
        except PowermonitorError as exc:
            if is_app_request(data):  # checked second: beacons are the common case
                self.app_requests += 1
                log.debug("ignoring an app's discovery request from %s", source[0])
                return
            self.undecodable += 1
            log.debug("undecodable datagram from %s:%d (%d bytes): %s", *source, len(data), exc)
            return
        clean = clean_beacon(beacon, source[0])
        if clean is None:
            self.rejected += 1
            log.debug("beacon with an invalid id from %s ignored", source[0])
            return
        beacon = clean
        previous = self._found.get(beacon.device_id)
        if previous is None:
            heard = self._per_source.get(source[0], 0)
            if len(self._found) >= MAX_PLUGS or heard >= MAX_PER_SOURCE:
                self.over_cap += 1
                return
            self._per_source[source[0]] = heard + 1
        self._found[beacon.device_id] = beacon
        if beacon != previous and self.on_beacon is not None:
            self.on_beacon(beacon)


async def discover(
    duration: float = SCAN_TIME,
    *,
    listen_host: str = "0.0.0.0",
    ports: Sequence[int] = DISCOVERY_PORTS,
    probe: bool = False,
    probe_address: str = BROADCAST,
    probe_port: int = PORT_APP,
    probe_interval: float = PROBE_INTERVAL,
    client_ip: str | None = None,
    on_beacon: OnBeacon | None = None,
) -> list[Beacon]:
    """Listen for ``duration`` seconds; return the latest beacon of every plug heard.

    ``on_beacon`` is called when a plug is first heard and whenever its beacon changes.
    ``client_ip`` (the IP 3.5 plugs answer to) defaults to this host's address on the route to
    ``probe_address``.
    """
    async with Discovery(
        listen_host=listen_host, ports=ports, probe=probe, probe_address=probe_address,
        probe_port=probe_port, probe_interval=probe_interval, client_ip=client_ip,
        on_beacon=on_beacon,
    ) as discovery:
        await asyncio.sleep(duration)
    return discovery.beacons


__all__ = ["BROADCAST", "MAX_PER_SOURCE", "MAX_PLUGS", "PROBE_INTERVAL", "SCAN_TIME", "SOURCE_RATE",
           "Discovery", "OnBeacon", "clean_beacon", "discover"]
