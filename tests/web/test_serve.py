"""serve(): uvicorn in the caller's loop, a clear error for a busy port, a clean stop."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from powermonitor.web import create_app, serve

from .harness import Stack, until


async def test_cancel_stops_cleanly_even_with_live_streams_open(stack: Stack) -> None:
    """A second server over the same service: cancelling it ends its open event streams,
    closes the port and returns, while the stack's own server carries on."""
    loop = asyncio.get_running_loop()
    bound: asyncio.Future[int] = loop.create_future()
    app = create_app(stack.service, heartbeat_s=30)
    task = loop.create_task(serve(app, "127.0.0.1", 0, on_started=bound.set_result))
    port = await asyncio.wait_for(bound, 10)
    hub = stack.service.hub
    before = hub.subscribers
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as c:
        assert (await c.get("/api/health")).status_code == 200
        async with c.stream("GET", "/api/events") as response:
            lines = response.aiter_lines()
            async with asyncio.timeout(10):
                async for line in lines:
                    if line.startswith("event: reading"):
                        break
            assert hub.subscribers == before + 1
            task.cancel()
            async with asyncio.timeout(10):  # the stream ends instead of holding shutdown up
                async for _ in lines:
                    pass
        async with asyncio.timeout(10):
            await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()
        with pytest.raises(httpx.ConnectError):
            await c.get("/api/health")
    await until(lambda: hub.subscribers == before)
    assert (await stack.client.get("/api/health")).status_code == 200


async def test_a_busy_port_is_a_clear_oserror(stack: Stack) -> None:
    with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{stack.port}"):
        await serve(create_app(stack.service), "127.0.0.1", stack.port)
