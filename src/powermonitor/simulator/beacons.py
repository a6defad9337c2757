"""UDP beacons of simulated plugs, so ``powermonitor scan`` finds them as it finds real ones.

Every ``interval`` seconds each running plug sends the beacon its protocol version uses (3.1:
plaintext 55AA to ``port_31``; 3.2-3.4: ECB 55AA to ``port_33``; 3.5: GCM 6699 to ``port_35``)
to ``address``, which must be a loopback address: simulated plugs are never announced on a LAN.
A plug whose server is stopped (the plug "lost power") stays silent.

With ``answer_probes``, the sender also answers 3.5 discovery requests (REQ_DEVINFO) heard on
``probe_host:probe_port`` (0: any free port, read ``probe_port`` after ``start``) with the 3.5 plugs' beacons, unicast to the request's source address
(which must be loopback). Real plugs answer to the IP named in the request, on port 7000; the
source address is used here so a scanner on the same host gets the answer even when it listens
on 7000 itself.

The beacon JSON is what real plugs send (``ablilty`` misspelling included) plus one field of
ours: ``"port"``, the plug's TCP port. Real beacons have none (plugs listen on 6668), but
simulated plugs listen on ephemeral ports, and without it a scan could find them but not reach
them. Peers ignore unknown keys (tinytuya keeps a fixed list of keys; tuyapi reads ``gwId`` and
``ip``), so the field is harmless; ``include_port=False`` leaves it out.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any, Self

from ..errors import PowermonitorError
from ..protocol.discovery import (
    PORT_APP,
    PORT_ENCRYPTED,
    PORT_PLAIN,
    decode_discovery_request,
    encode_beacon,
)
from ..transport.udp import Address, UdpEndpoint, open_listener
from .faults import check_loopback, is_loopback
from .server import Fleet, PlugServer

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 5.0
"""Real plugs beacon every 5-10 s."""


def product_key(device_id: str) -> str:
    """A stable, realistic-looking product key ("key" + 13 characters) per simulated plug."""
    return "key" + hashlib.sha256(f"product:{device_id}".encode()).hexdigest()[:13]


class BeaconSender:
    """Announces simulated plugs over UDP on loopback. ``await start()`` / ``await stop()``."""

    def __init__(
        self,
        plugs: Sequence[PlugServer] | Fleet,
        *,
        interval: float = DEFAULT_INTERVAL,
        address: str = "127.0.0.1",
        port_31: int = PORT_PLAIN,
        port_33: int = PORT_ENCRYPTED,
        port_35: int = PORT_ENCRYPTED,
        answer_probes: bool = False,
        probe_port: int = PORT_APP,
        probe_host: str = "127.0.0.1",
        include_port: bool = True,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        check_loopback(address)
        check_loopback(probe_host)
        if interval <= 0:
            raise ValueError("the beacon interval must be positive")
        self._plugs = plugs
        self.interval = interval
        self.address = address
        self.port_31 = port_31
        self.port_33 = port_33
        self.port_35 = port_35
        self.answer_probes = answer_probes
        self.probe_port = probe_port
        self.probe_host = probe_host
        self.include_port = include_port
        self._random_bytes = random_bytes
        self._sender: UdpEndpoint | None = None
        self._probe: UdpEndpoint | None = None
        self._task: asyncio.Task[None] | None = None
        self.beacons_sent = 0
        self.probes_answered = 0

    @property
    def servers(self) -> list[PlugServer]:
        plugs = self._plugs
        return list(plugs.servers if isinstance(plugs, Fleet) else plugs)

    @property
    def running(self) -> bool:
        return self._task is not None

    def port_for(self, version: str) -> int:
        if version == "3.1":
            return self.port_31
        if version == "3.5":
            return self.port_35
        return self.port_33

    def beacon_info(self, server: PlugServer) -> dict[str, Any]:
        """The JSON a real plug of this version would broadcast (plus ``port``, see above)."""
        spec = server.plug.spec
        info: dict[str, Any] = {
            "ip": server.host,
            "gwId": spec.device_id,
            "active": 2,
            "ablilty": 0,
            "encrypt": spec.version != "3.1",
            "productKey": spec.product_key or product_key(spec.device_id),
            "version": spec.version,
        }
        if spec.version in ("3.4", "3.5"):
            info["token"] = True
            info["wf_cfg"] = True
        if self.include_port:
            info["port"] = server.port
        return info

    def beacon(self, server: PlugServer) -> bytes:
        version = server.plug.spec.version
        iv = self._random_bytes(12) if version == "3.5" else None
        return encode_beacon(self.beacon_info(server), version, iv=iv)

    async def start(self) -> None:
        if self._task is not None:
            return
        self._sender = await open_listener(self.address, 0, None, reuse=False)
        if self.answer_probes:
            try:
                self._probe = await open_listener(self.probe_host, self.probe_port, self._on_probe)
            except PowermonitorError:
                await self.stop()
                raise
            self.probe_port = self._probe.port
        self._task = asyncio.create_task(self._loop(), name="simulator-beacons")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
        endpoints = [e for e in (self._sender, self._probe) if e is not None]
        self._sender = self._probe = None
        for endpoint in endpoints:
            await endpoint.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def send_all(self) -> int:
        """Send one round of beacons now; return how many were sent."""
        sender = self._sender
        if sender is None:
            return 0
        sent = 0
        for server in self.servers:
            if not server.running:
                continue
            try:
                sender.sendto(self.beacon(server), self.address, self.port_for(server.plug.spec.version))
            except PowermonitorError as exc:
                log.debug("beacon of %s not sent: %s", server.plug.device_id, exc)
                continue
            sent += 1
        self.beacons_sent += sent
        return sent

    async def _loop(self) -> None:
        while True:
            self.send_all()
            await asyncio.sleep(self.interval)

    def _on_probe(self, data: bytes, source: Address) -> None:
        host, port = source
        if not is_loopback(host):
            log.debug("ignoring a discovery request from non-loopback %s", host)
            return
        try:
            request = decode_discovery_request(data)
        except PowermonitorError as exc:
            log.debug("ignoring a datagram on the probe port from %s:%d: %s", host, port, exc)
            return
        log.debug("discovery request from %s:%d (%s)", host, port, request.get("ip"))
        probe = self._probe
        if probe is None:
            return
        for server in self.servers:
            if server.running and server.plug.spec.version == "3.5":
                try:
                    probe.sendto(self.beacon(server), host, port)
                except PowermonitorError as exc:
                    log.debug("probe answer not sent: %s", exc)
                    continue
                self.probes_answered += 1


__all__ = ["DEFAULT_INTERVAL", "BeaconSender", "product_key"]
