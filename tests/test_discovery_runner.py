"""Discovery over real UDP sockets on loopback: simulated plugs' beacons, probes, app requests.

Every socket is bound to 127.0.0.1 on an OS-assigned port and every datagram goes to 127.0.0.1:
nothing here broadcasts or uses the fixed ports 6666/6667/7000.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable

import pytest
from portpick import free_udp_ports

from powermonitor.discovery import Discovery, discover
from powermonitor.errors import PowermonitorError, UsageError
from powermonitor.protocol.discovery import (
    FORM_ECB,
    FORM_GCM,
    FORM_PLAIN,
    Beacon,
    decode_beacon,
    encode_beacon,
    encode_discovery_request,
)
from powermonitor.simulator.beacons import BeaconSender, product_key
from powermonitor.simulator.server import Fleet, fleet_specs
from powermonitor.transport.udp import Address, open_listener, send_datagram

LOOP = "127.0.0.1"
VERSIONS = ["3.1", "3.2", "3.3", "3.4", "3.5"]
FORMS = {"3.1": FORM_PLAIN, "3.2": FORM_ECB, "3.3": FORM_ECB, "3.4": FORM_ECB, "3.5": FORM_GCM}


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.02)


@pytest.fixture
async def plugs() -> AsyncIterator[Fleet]:
    fleet = Fleet(fleet_specs(5, VERSIONS, ["cz"], ["constant:500"]))
    await fleet.start()
    yield fleet
    await fleet.stop()


def sender_for(fleet: Fleet, ports: tuple[int, ...], **kwargs: object) -> BeaconSender:
    """Beacons to the discovery's ports: 3.1 → 1st, 3.2-3.4 → 2nd, 3.5 → 2nd (like 6667)."""
    return BeaconSender(fleet, port_31=ports[0], port_33=ports[1], port_35=ports[1],
                        **kwargs)  # type: ignore[arg-type]


async def test_beacons_of_every_version_are_heard(plugs: Fleet) -> None:
    async with Discovery(listen_host=LOOP, ports=(0, 0, 0)) as disc:
        assert len(set(disc.ports)) == 3 and 0 not in disc.ports
        async with sender_for(plugs, disc.ports, interval=0.2) as sender:
            await until(lambda: len(disc.beacons) == len(VERSIONS))
    assert sender.beacons_sent >= len(VERSIONS)
    assert disc.undecodable == 0
    by_id = {b.device_id: b for b in disc.beacons}
    for server in plugs.servers:
        spec = server.plug.spec
        b = by_id[spec.device_id]
        assert (b.ip, b.port, b.version) == (LOOP, server.port, spec.version)
        assert b.form == FORMS[spec.version]
        assert b.encrypted is (spec.version != "3.1")
        assert b.product_key == product_key(spec.device_id)
        assert b.raw["ablilty"] == 0 and b.ability == 0 and b.active == 2


async def test_discover_function_deduplicates(plugs: Fleet) -> None:
    ports = free_udp_ports(3)
    heard: list[Beacon] = []
    async with sender_for(plugs, tuple(ports), interval=0.1) as sender:
        found = await discover(0.8, listen_host=LOOP, ports=ports, on_beacon=heard.append)
    assert sender.beacons_sent >= 2 * len(VERSIONS)  # every plug beaconed several times...
    assert sorted(b.device_id for b in found) == sorted(s.plug.device_id for s in plugs.servers)
    assert len(heard) == len(VERSIONS)  # ...but is reported once


async def test_latest_beacon_wins() -> None:
    heard: list[Beacon] = []
    payload = {"ip": "10.0.0.1", "gwId": "bf00000000000000beef", "version": "3.3"}
    async with Discovery(listen_host=LOOP, ports=(0,), on_beacon=heard.append) as disc:
        port = disc.ports[0]
        await send_datagram(LOOP, port, encode_beacon(payload, "3.3"))
        await until(lambda: len(heard) == 1)
        await send_datagram(LOOP, port, encode_beacon(payload, "3.3"))  # same: not reported
        await send_datagram(LOOP, port, encode_beacon({**payload, "ip": "10.0.0.2"}, "3.3"))
        await until(lambda: len(heard) == 2)
    assert [b.ip for b in disc.beacons] == ["10.0.0.2"]
    assert disc.datagrams == 3


async def test_beacon_without_ip_takes_the_source_address() -> None:
    async with Discovery(listen_host=LOOP, ports=(0,)) as disc:
        await send_datagram(LOOP, disc.ports[0], encode_beacon({"gwId": "bf1"}, "3.1"))
        await until(lambda: bool(disc.beacons))
    assert disc.beacons[0].ip == LOOP


async def test_probe_is_answered_by_35_plugs(plugs: Fleet) -> None:
    sink: list[bytes] = []

    def collect(data: bytes, source: Address) -> None:
        sink.append(data)

    # Periodic beacons go to a sink, so the discovery below hears only the probe's answers.
    async with await open_listener(LOOP, 0, collect) as beacon_sink, BeaconSender(
        plugs, interval=3600, port_31=beacon_sink.port, port_33=beacon_sink.port,
        port_35=beacon_sink.port, answer_probes=True, probe_port=0,
    ) as sender:
        assert sender.probe_port != 0
        async with Discovery(
            listen_host=LOOP, ports=(0,), probe=True, probe_address=LOOP,
            probe_port=sender.probe_port, probe_interval=0.2, client_ip=LOOP,
        ) as disc:
            await until(lambda: bool(disc.beacons))
            await until(lambda: disc.probes_sent >= 2)
    assert disc.probes_sent >= 2
    assert sender.probes_answered >= 1
    assert len(sink) == len(VERSIONS)  # the one round of periodic beacons
    v35 = next(s for s in plugs.servers if s.plug.spec.version == "3.5")
    assert [(b.device_id, b.form) for b in disc.beacons] == [(v35.plug.device_id, FORM_GCM)]


async def test_app_requests_and_garbage_are_ignored(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="powermonitor.discovery")
    async with Discovery(listen_host=LOOP, ports=(0, 0)) as disc:
        app_port = disc.ports[1]
        await send_datagram(LOOP, app_port, encode_discovery_request("192.168.1.10", b"0" * 12))
        await send_datagram(LOOP, app_port, b"\x00\x00\x55\xaa garbage")
        await send_datagram(LOOP, disc.ports[0], b"not tuya at all")
        await until(lambda: disc.datagrams == 3)
    assert disc.beacons == []
    assert disc.app_requests == 1
    assert disc.undecodable == 2
    assert "undecodable datagram" in caplog.text


async def test_own_probe_heard_as_app_request_is_ignored() -> None:
    """tinytuya's scan hears its own broadcast on 7000; here the probe targets our 7000 role."""
    async with Discovery(listen_host=LOOP, ports=(0,), probe=True, probe_address=LOOP,
                         probe_port=0, client_ip=LOOP) as disc:
        disc.probe_port = disc.ports[0]
        disc.send_probe()
        await until(lambda: disc.app_requests >= 1)
    assert disc.beacons == []


async def test_stopped_plug_is_silent(plugs: Fleet) -> None:
    async with Discovery(listen_host=LOOP, ports=(0, 0)) as disc:
        sender = sender_for(plugs, disc.ports, interval=3600)
        await plugs.servers[0].stop()
        async with sender:
            await until(lambda: len(disc.beacons) == len(VERSIONS) - 1)
            assert sender.send_all() == len(VERSIONS) - 1
    assert plugs.servers[0].plug.device_id not in {b.device_id for b in disc.beacons}


async def test_sender_refuses_non_loopback_targets(plugs: Fleet) -> None:
    with pytest.raises(PowermonitorError, match="loopback"):
        BeaconSender(plugs, address="192.168.1.255")
    with pytest.raises(PowermonitorError, match="loopback"):
        BeaconSender(plugs, probe_host="0.0.0.0")


async def test_probe_from_non_loopback_source_is_not_answered(plugs: Fleet) -> None:
    async with BeaconSender(plugs, interval=3600, port_31=9, port_33=9, port_35=9,
                            answer_probes=True, probe_port=0) as sender:
        sender._on_probe(encode_discovery_request("10.0.0.5", b"1" * 12), ("10.0.0.5", 7000))
    assert sender.probes_answered == 0


async def test_beacon_without_port_field(plugs: Fleet) -> None:
    sender = BeaconSender(plugs, include_port=False)
    for server in plugs.servers:
        beacon = decode_beacon(sender.beacon(server))
        assert beacon.port is None and "port" not in beacon.raw


async def test_listeners_share_a_port_and_bind_errors_are_typed() -> None:
    first = await open_listener(LOOP, 0, None)
    async with first, await open_listener(LOOP, first.port, None) as second:  # SO_REUSE*
        assert second.port == first.port
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # no reuse flags: exclusive
    try:
        blocker.bind((LOOP, 0))
        taken = blocker.getsockname()[1]
        with pytest.raises(UsageError, match="cannot listen"):
            await open_listener(LOOP, taken, None)
        # discovery keeps the ports it could bind and warns about the others
        async with Discovery(listen_host=LOOP, ports=(taken, 0)) as disc:
            assert len(disc.ports) == 1 and disc.ports[0] != taken
        with pytest.raises(UsageError):
            async with Discovery(listen_host=LOOP, ports=(taken,)):
                pass
    finally:
        blocker.close()
