"""Live-event clients never cost readings: with every live slot held by a client that has
stopped reading (and more clients refused), every reading the plugs deliver is still
recorded, and the Hub still has one subscription for all the live clients."""

from __future__ import annotations

import asyncio
import socket
import time

from powermonitor.limits import MAX_LIVE_CLIENTS
from powermonitor.models import Reading
from powermonitor.storage.rollup import to_ms

from .harness import Stack, until

EXTRA = 8


async def stalled_client(port: int) -> tuple[bytes, socket.socket]:
    """Ask for /api/events, read the status line, then never read again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return await loop.sock_recv(sock, 12), sock


async def test_stalled_live_clients_cost_no_readings(stack: Stack) -> None:
    service = stack.service
    live = stack.app.state.live
    subscribers = service.hub.subscribers
    heard: list[Reading] = []
    sub = service.hub.subscribe()

    async def listen() -> None:
        async for event in sub:
            if isinstance(event, Reading):
                heard.append(event)

    listener = asyncio.create_task(listen())
    socks: list[socket.socket] = []
    try:
        async with asyncio.timeout(60):
            answers = []
            for _ in range(MAX_LIVE_CLIENTS + EXTRA):
                status, sock = await stalled_client(stack.port)
                answers.append(status)
                socks.append(sock)
            assert answers.count(b"HTTP/1.1 200") == MAX_LIVE_CLIENTS  # the cap holds
            assert answers.count(b"HTTP/1.1 503") == EXTRA
            assert live.clients == MAX_LIVE_CLIENTS
            assert service.hub.subscribers == subscribers + 2  # ours, and one for all of them
            start = time.time()
            await until(lambda: all(sum(r.device_id == d and r.timestamp.timestamp() > start
                                        for r in heard) >= 5 for d in stack.ids), timeout=60)
            end = max(r.timestamp.timestamp() for r in heard)
        for device_id in stack.ids:  # every reading the plugs delivered is stored
            read = sorted(to_ms(r.timestamp.timestamp()) for r in heard
                          if r.device_id == device_id and start < r.timestamp.timestamp() <= end)

            async def stored(device_id: str = device_id) -> list[int]:
                points = await service.store.history(device_id, start - 60, end + 60, "raw")
                return sorted(to_ms(p.ts) for p in points if start < p.ts <= end + 0.001)

            async with asyncio.timeout(30):  # the writer commits in batches
                while len(await stored()) < len(read):
                    await asyncio.sleep(0.1)
            assert await stored() == read
    finally:
        for sock in socks:
            sock.close()
        listener.cancel()
        sub.close()
    await until(lambda: live.clients == 0)
