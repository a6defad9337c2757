"""The door of the app against a real server on 127.0.0.1: Host names (DNS rebinding), control
requests (token, type and size before the body is read, memory flat under huge bodies), live
events for same-origin pages or token holders only, and the live-client cap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import httpx
import pytest

from powermonitor.limits import MAX_BODY_BYTES
from powermonitor.web import create_app
from powermonitor.web.guard import host_allowed, host_name

from .harness import TOKEN, Stack, served

AUTH = {"Authorization": f"Bearer {TOKEN}"}
MIB = 1024 * 1024


def rss_bytes() -> int:
    """This process's resident memory (the server runs in it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def raw_request(port: int, head: str, body_bytes: int = 0, chunk: bytes = b"x" * 65536
                      ) -> bytes:
    """Send ``head`` then up to ``body_bytes`` of body (stopping when the server closes);
    return what the server answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode())
        await writer.drain()
        sent = 0
        try:
            while sent < body_bytes:
                writer.write(chunk[: body_bytes - sent])
                sent += len(chunk)
                await writer.drain()
        except (ConnectionResetError, BrokenPipeError):
            pass
        try:
            return await reader.read(65536)
        except ConnectionResetError:
            return b""
    finally:
        writer.close()


def switch_head(length: int | None, headers: str = "") -> str:
    size = f"Content-Length: {length}\r\n" if length is not None else ""
    return (f"POST /api/plugs/fridge/switch HTTP/1.1\r\nHost: 127.0.0.1\r\n{size}{headers}\r\n")


# --------------------------------------------------------------------------- Host


@pytest.mark.parametrize(("host", "status"), [
    ("evil.example.com", 421), ("evil.example.com:8000", 421), ("127.0.0.1.evil.example", 421),
    ("localhost.evil.example", 421), ("", 421),
    ("127.0.0.1", 200), ("localhost", 200), ("LOCALHOST.", 200), ("[::1]:8000", 200),
    ("192.168.1.20:8000", 200), ("app.localhost", 200),
])
async def test_only_ip_literals_localhost_and_configured_names(stack: Stack, host: str,
                                                                 status: int) -> None:
    r = await stack.client.get("/api/plugs", headers={"Host": host})
    assert r.status_code == status, r.text
    if status == 421:
        assert "allowed_hosts" in r.json()["detail"] and stack.ids[0] not in r.text


async def test_configured_names_are_served(stack: Stack) -> None:
    app = create_app(stack.service, allowed_hosts=["nas.example.org", ".home.arpa"])
    async with served(app) as client:
        for host, status in [("nas.example.org", 200), ("NAS.example.org:8000", 200),
                             ("pm.home.arpa", 200), ("home.arpa", 200),
                             ("evil.example.org", 421), ("nas.example.org.evil", 421)]:
            r = await client.get("/api/health", headers={"Host": host})
            assert r.status_code == status, (host, r.text)


def test_host_name_parsing() -> None:
    assert host_name("[::1]:80") == "::1"
    assert host_name("Example.ORG.:443") == "example.org"
    assert host_name("fe80::1") == "fe80::1"
    assert host_allowed("fe80::1%eth0", ())
    assert not host_allowed("evil", ("nas",))


# --------------------------------------------------------------------------- control bodies


async def test_no_token_is_refused_before_the_body_is_read(stack: Stack) -> None:
    """Headers promising 50 MiB, no body sent: the answer comes at once, body unread."""
    async with asyncio.timeout(10):
        answer = await raw_request(stack.port, switch_head(50 * MIB, "Content-Type: "
                                                           "application/json\r\n"))
    assert answer.startswith(b"HTTP/1.1 401") and b"connection: close" in answer.lower()


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None,
])
async def test_bodies_a_page_can_send_cross_site_are_refused(stack: Stack,
                                                              content_type: str | None) -> None:
    headers = {**AUTH}
    if content_type is not None:
        headers["Content-Type"] = content_type
    r = await stack.client.post("/api/plugs/fridge/switch", content=b'{"on": false}',
                                headers=headers)
    assert r.status_code == 415, r.text
    assert stack.server("fridge").plug.controls == 0


async def test_a_declared_large_body_is_413_unread(stack: Stack) -> None:
    async with asyncio.timeout(10):
        answer = await raw_request(stack.port, switch_head(
            MAX_BODY_BYTES + 1, f"Content-Type: application/json\r\nX-Powermonitor-Token: {TOKEN}\r\n"))
    assert answer.startswith(b"HTTP/1.1 413")


async def test_a_chunked_body_is_cut_at_the_cap(stack: Stack) -> None:
    piece = b"10000\r\n" + b" " * 0x10000 + b"\r\n"  # one 64 KiB chunk
    head = switch_head(None, f"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                             f"X-Powermonitor-Token: {TOKEN}\r\n")
    async with asyncio.timeout(10):
        answer = await raw_request(stack.port, head, len(piece), piece)  # more to come...
    assert answer.startswith(b"HTTP/1.1 413")  # ...but the answer is already there
    assert stack.server("fridge").plug.controls == 0


async def test_a_good_switch_still_works(stack: Stack) -> None:
    r = await stack.client.post("/api/plugs/fridge/switch", json={"on": False}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert stack.server("fridge").plug.switches[1] is False


async def test_huge_unauthenticated_bodies_do_not_grow_memory(stack: Stack) -> None:
    """Four 50 MiB POSTs without a token, at once: the server's memory stays where it was
    (it used to buffer every body, then keep most of it)."""
    head = switch_head(50 * MIB, "Content-Type: application/json\r\n")
    await raw_request(stack.port, head, 1 * MIB)  # warm up the code paths
    before = rss_bytes()
    async with asyncio.timeout(120):
        answers = await asyncio.gather(*(raw_request(stack.port, head, 50 * MIB)
                                         for _ in range(4)))
    grown = rss_bytes() - before
    assert grown < 16 * MIB, f"memory grew by {grown / MIB:.1f} MiB"
    assert all(a == b"" or a.startswith(b"HTTP/1.1 401") for a in answers)
    assert (await stack.client.get("/api/health")).status_code == 200


# --------------------------------------------------------------------------- live events


@pytest.mark.parametrize(("headers", "status"), [
    ({"Origin": "http://evil.example"}, 403),
    ({"Sec-Fetch-Site": "cross-site"}, 403),
    ({"Sec-Fetch-Site": "same-site"}, 403),  # another port of the same machine, too
    ({"Origin": "null"}, 403),
    ({"Origin": "http://evil.example", **AUTH}, 200),
    ({"Sec-Fetch-Site": "same-origin"}, 200),
    ({}, 200),  # not a browser page: nothing says it comes from another site
])
async def test_live_events_only_for_same_origin_pages_or_the_token(
        stack: Stack, headers: dict[str, str], status: int) -> None:
    async with stack.client.stream("GET", "/api/events", headers=headers) as r:
        assert r.status_code == status
        if status == 403:
            assert "token" in (await r.aread()).decode()


async def test_live_events_from_the_page_itself(stack: Stack) -> None:
    origin = f"http://127.0.0.1:{stack.port}"
    headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
    async with stack.client.stream("GET", "/api/events", headers=headers) as r:
        assert r.status_code == 200


async def test_live_clients_are_capped_with_a_503_and_one_log_line(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(stack.service, max_live_clients=3)
    caplog.set_level(logging.WARNING, logger="powermonitor.web")
    async with served(app) as client, contextlib.AsyncExitStack() as streams:
        readers = []  # kept: a dropped reader would close its stream
        for _ in range(3):
            r = await streams.enter_async_context(client.stream("GET", "/api/events"))
            assert r.status_code == 200
            readers.append(r.aiter_raw())
            await anext(readers[-1])  # admitted and streaming
        async with httpx.AsyncClient(base_url=client.base_url, trust_env=False) as other:
            refused = [await other.get("/api/events") for _ in range(5)]
        assert [r.status_code for r in refused] == [503] * 5
        assert refused[0].headers["retry-after"] == "10"
        assert app.state.live.clients == 3 and app.state.live.refused == 5
        lines = [r for r in caplog.records if "live events" in r.getMessage()]
        assert len(lines) == 1  # once per burst, not once per refusal
    await until_live_clients(app, 0)
    async with served(app) as client, client.stream("GET", "/api/events") as r:
        assert r.status_code == 200  # the slots came back


# --------------------------------------------------------------------------- helpers


async def until_live_clients(app: object, n: int) -> None:
    async with asyncio.timeout(10):
        while app.state.live.clients != n:  # type: ignore[attr-defined]
            await asyncio.sleep(0.02)
