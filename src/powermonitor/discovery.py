"""Find plugs on the LAN: listen for their UDP beacons, optionally ask 3.5 plugs to answer.

Plugs broadcast a beacon every few seconds: 3.1 on port 6666, 3.2-3.5 on 6667; 3.5 plugs also
answer an app's REQ_DEVINFO request, sent to port 7000, on port 7000 of the IP the request
names. :class:`Discovery` listens on all three ports at once (sharing them with other listeners),
keeps the latest beacon per device id, and, with ``probe``, sends that request every few seconds.

Probes leave from a socket of their own, which is also listened to: real plugs answer the IP in
the request on port 7000, powermonitor's simulator answers the probe's source address, and both
answers are heard. Requests from phone apps (``"from":"app"``, heard on 7000, including our own
broadcast) are ignored; datagrams that do not decode are logged at debug level, never raised.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
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
from .transport.udp import Address, UdpEndpoint, local_address_for, open_listener

log = logging.getLogger(__name__)

SCAN_TIME = 18.0
"""How long tinytuya listens; plugs beacon every ~5-10 s, so this hears each at least once."""
PROBE_INTERVAL = 6.0
"""How often tinytuya repeats its REQ_DEVINFO request during a scan."""
BROADCAST = "255.255.255.255"

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
        self.datagrams = 0
        self.undecodable = 0
        self.app_requests = 0
        self.probes_sent = 0

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

    def _received(self, data: bytes, source: Address) -> None:
        self.datagrams += 1
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
        if not beacon.ip:
            beacon = dataclasses.replace(beacon, ip=source[0])
        previous = self._found.get(beacon.device_id)
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


__all__ = ["BROADCAST", "PROBE_INTERVAL", "SCAN_TIME", "Discovery", "OnBeacon", "discover"]
