"""The server's connection limits with real sockets on 127.0.0.1: a request timeout that
closes slowloris clients (and silent ones), a connection cap that answers 503 and logs once
per burst, and a write-stall limit that cuts clients that stop reading."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator

import pytest
from starlette.types import Receive, Scope, Send

from powermonitor.web.server import Door, connection_cap, serve


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def firehose(scope: Scope, receive: Receive, send: Send) -> None:
    """Sends as fast as the client takes it (like a busy event stream) until it is gone."""
    await receive()  # the request
    gone = asyncio.ensure_future(receive())  # http.disconnect, once the client is gone
    await send({"type": "http.response.start", "status": 200, "headers": []})
    chunk = b"x" * 65536
    while not gone.done():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await asyncio.sleep(0)  # a send to a gone client returns at once: let receive() run


@contextlib.asynccontextmanager
async def serving(app: object, door: Door) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    bound: asyncio.Future[int] = loop.create_future()
    task = loop.create_task(serve(app, "127.0.0.1", 0, on_started=bound.set_result,  # type: ignore[arg-type]
                                  door=door))
    try:
        yield await asyncio.wait_for(bound, 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (reset counts as closed)."""
    data = b""
    try:
        while chunk := await reader.read(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


async def get(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    try:
        return await closed_by_server(reader)
    finally:
        writer.close()


async def test_a_slowloris_and_a_silent_client_are_closed(caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    door = Door(request_timeout_s=0.3)
    caplog.set_level(logging.WARNING, logger="powermonitor.web")
    async with serving(hello, door) as port:
        slow_r, slow_w = await asyncio.open_connection("127.0.0.1", port)
        slow_w.write(b"GET / HTTP/1.1\r\nHost: 127.0")  # ...and never the rest
        silent_r, silent_w = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(20):
            assert await closed_by_server(slow_r) == b""
            assert await closed_by_server(silent_r) == b""
        assert door.timed_out == 2
        assert (await get(port)).endswith(b"ok")  # honest clients are unaffected
        slow_w.close()
        silent_w.close()
    assert sum("did not send its request" in r.getMessage() for r in caplog.records) == 1


async def test_a_keep_alive_client_gets_several_answers() -> None:
    async with serving(hello, Door(request_timeout_s=5)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(3):
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200") and await reader.readexactly(2) == b"ok"
        writer.close()


async def test_connections_beyond_the_cap_get_503_and_one_log_line(
        caplog: pytest.LogCaptureFixture) -> None:
    door = Door(max_connections=5, request_timeout_s=60)
    caplog.set_level(logging.WARNING, logger="powermonitor.web")
    async with serving(hello, door) as port:
        held = []
        for _ in range(5):  # five slowloris clients take every slot...
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"GET / HTTP/1.1\r\n")
            held.append((r, w))
        async with asyncio.timeout(20):
            while door.refused == 0:  # ...so the next ones are refused at once
                answer = await get(port)
        assert answer.startswith(b"HTTP/1.1 503") and b"too many connections" in answer
        for _ in range(10):
            assert (await get(port)).startswith(b"HTTP/1.1 503")
        assert door.refused == 11
        for _, w in held:
            w.close()
        async with asyncio.timeout(20):  # the slots come back when the clients go
            while not (answer := await get(port)).startswith(b"HTTP/1.1 200"):
                pass
    assert sum("connections open" in r.getMessage() for r in caplog.records) == 1


async def test_a_client_that_stops_reading_is_cut() -> None:
    door = Door(write_stall_s=0.3)
    async with serving(firehose, door) as port:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        async with asyncio.timeout(30):
            while door.stalled == 0:  # the server's buffers fill; then the stall limit runs
                await asyncio.sleep(0.05)
            await closed_by_server(reader)  # and the connection is gone
        writer.close()


def test_the_cap_is_a_share_of_the_descriptors() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert connection_cap(10**9) <= soft // 4
    assert connection_cap(3) == 3
