"""The link's connect and close paths (transport/tcp.py) over real loopback sockets: an IP
literal is connected on our own socket, a name through the resolver; close tells the plug at
once; a link closed and reopened at once is not ended by the old link's late goodbye."""

from __future__ import annotations

import asyncio
import socket

import pytest

from powermonitor import Plug, TuyaDevice
from powermonitor.errors import UnreachableError
from powermonitor.simulator.server import Fleet
from powermonitor.transport.tcp import TcpLink, open_link

KEY = "0123456789abcdef"


async def test_close_tells_the_plug_before_it_returns() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        device = TuyaDevice("bf01", "127.0.0.1", KEY, "3.3", port=port, timeout=2)
        await device.connect()
        peer, _ = listener.accept()
        with peer:
            peer.setblocking(False)
            with pytest.raises(BlockingIOError):
                peer.recv(1)  # open, nothing sent yet
            await device.close()
            assert peer.recv(1) == b""  # the FIN is already there: no loop turn needed
        assert not device.connected


async def test_a_peer_that_reads_slowly_gets_every_byte_in_order_then_the_close() -> None:
    """Our own socket is written directly: what the kernel cannot take yet waits in order
    behind it (and later writes behind that), and a close waits until it is out."""
    loop = asyncio.get_running_loop()
    lost: asyncio.Future[Exception | None] = loop.create_future()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        link = TcpLink(lambda data: None, lost.set_result)
        await open_link("127.0.0.1", listener.getsockname()[1], timeout=2, link=link)
        peer, _ = listener.accept()
        with peer:
            chunks = [bytes([i]) * 1_000_000 for i in range(1, 9)]  # more than the buffers hold
            for chunk in chunks:
                link.write(chunk)
            assert not link.close()  # bytes still queued: the close comes after them
            with pytest.raises(UnreachableError):
                link.write(b"late")  # closing: nothing more is taken
            received = bytearray()
            peer.setblocking(False)
            while data := await loop.sock_recv(peer, 1 << 20):  # until the FIN
                received += data
            assert bytes(received) == b"".join(chunks)
            assert await lost is None and link.closed


@pytest.mark.parametrize("version", ["3.3", "3.4", "3.5"])
async def test_reopened_link_survives_the_old_links_goodbye(fleet: Fleet, version: str) -> None:
    srv = next(s for s in fleet.servers if s.plug.spec.version == version)
    e = srv.device_entry()
    device = TuyaDevice(e["id"], "127.0.0.1", e["key"], version, port=e["port"], timeout=2)
    for _ in range(5):
        await device.connect()
        await device.close()  # its connection_lost runs on a later loop turn
    await device.connect()
    for _ in range(3):  # loop turns in which the old links' connection_lost calls arrive
        assert "1" in await device.status()
    assert device.connected and device.error is None
    await device.close()
    assert srv.plug.max_concurrent == 1


async def test_a_host_name_connects_through_the_resolver(fleet: Fleet) -> None:
    srv = next(s for s in fleet.servers if s.plug.spec.version == "3.4")
    e = srv.device_entry()
    async with Plug(e["id"], "localhost", e["key"], "3.4", port=e["port"], timeout=2,
                    retries=0) as plug:
        assert (await plug.status()).switch is not None


async def test_refused_ip_literal_says_cannot_connect(refused_port: int) -> None:
    device = TuyaDevice("bf01", "127.0.0.1", KEY, "3.4", port=refused_port, timeout=2)
    with pytest.raises(UnreachableError, match="cannot connect to 127.0.0.1"):
        await device.connect()
    assert not device.connected


@pytest.mark.parametrize("version", ["3.1", "3.3", "3.4", "3.5"])
async def test_one_shot_polls_send_the_first_frame_with_the_connection(
    fleet: Fleet, version: str
) -> None:
    """A Plug polled without connect(): the query (3.1-3.3) or START (3.4/3.5) leaves as the
    connection stands; every poll is a fresh connection, one at a time."""
    srv = next(s for s in fleet.servers if s.plug.spec.version == version)
    e = srv.device_entry()
    for _ in range(3):
        plug = Plug(e["id"], "127.0.0.1", e["key"], version, port=e["port"], timeout=2, retries=0)
        try:
            reading = await plug.status()
        finally:
            await plug.close()
        assert reading.switch is True and reading.power_w is not None
    assert srv.plug.max_concurrent == 1
