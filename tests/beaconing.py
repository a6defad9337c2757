"""Simulated plugs that beacon on loopback to ports a scan (or a wizard's ``--scan``) listens on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from portpick import free_udp_ports

from powermonitor.simulator.beacons import BeaconSender
from powermonitor.simulator.plug import PlugSpec
from powermonitor.simulator.server import Fleet


@asynccontextmanager
async def beaconing_fleet(specs: Sequence[PlugSpec], ports: int
                          ) -> AsyncIterator[tuple[Fleet, list[int]]]:
    """Serve ``specs`` and beacon every 0.2 s to ``ports`` fresh UDP ports: 3.1 plugs to the
    first, the others to the second (where 3.3-3.5 listeners are)."""
    fleet = Fleet(list(specs))
    await fleet.start()
    udp = free_udp_ports(ports)
    try:
        async with BeaconSender(fleet, interval=0.2, port_31=udp[0], port_33=udp[1],
                                port_35=udp[1]):
            yield fleet, udp
    finally:
        await fleet.stop()
