"""Machine calibration: the bare asyncio round trip, with no Tuya code at all.

An asyncio.Protocol client sends a 120-byte message to an asyncio.Protocol echo server and
waits for it, sequentially, on one connection (server pinned to core 1, client to core 0), on
the default loop and then with both sides on uvloop; client CPU, wall and server CPU per round
trip. The default-loop client number is the "asyncio (default loop), Protocol class, no crypto"
row of docs/performance-notes.md (47 µs client CPU on the machine the notes were measured on).
Run it next to the other benchmarks to tell a slower machine from a slower client: these are
the floors no asyncio client or server can go below on this machine.

``--floors`` measures what the neutral harness compares instead: a host that serves each
connection from a blocking thread, as tuyamock's devices do (its own process, device core),
and three clients with no Tuya code: the default asyncio loop and uvloop (our socket driven by
``add_reader``, as ``TcpLink`` does) and a blocking socket (as tinytuya does). Each is measured
persistent (one round trip of a query-sized message for a reply-sized one) and one-shot
(connect, round trip, close, as a new connection per poll). A client's CPU per poll minus its
floor is what its own code costs.

    python3 bench/echo_calibrate.py            # prints JSON, ~8 s
    python3 bench/echo_calibrate.py --floors   # prints JSON, ~15 s
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

MSG = b"x" * 120


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport

    def data_received(self, data: bytes) -> None:
        self.t.write(data)  # type: ignore[attr-defined]


class _Client(asyncio.Protocol):
    fut: asyncio.Future[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport

    def data_received(self, data: bytes) -> None:
        if self.fut is not None and not self.fut.done():
            self.fut.set_result(data)


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(_Echo, "127.0.0.1", 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin


async def _client(port: int, n: int, runs: int, server_pid: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    tr, p = await loop.create_connection(_Client, "127.0.0.1", port)
    for _ in range(300):
        p.fut = loop.create_future()
        tr.write(MSG)
        await p.fut
    idle = C.idle_rate_ns_per_s(server_pid, 0.3)
    cpu, wall, srv = [], [], []
    for _ in range(runs):
        s0 = C.proc_cpu_ns(server_pid)
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            p.fut = loop.create_future()
            tr.write(MSG)
            await p.fut
        c1, w1 = time.process_time(), time.perf_counter()
        s1 = C.proc_cpu_ns(server_pid)
        cpu.append((c1 - c0) / n * 1e6)
        wall.append((w1 - w0) / n * 1e6)
        srv.append((s1 - s0 - idle * (w1 - w0)) / n / 1e3)
    tr.close()
    return {"cpu_us": C.median(cpu), "wall_us": C.median(wall), "server_cpu_us": C.median(srv)}


QUERY, REPLY = b"q" * 152, b"r" * 235  # a 3.4 status query and its reply, in bytes on the wire


def _serve_threads() -> None:
    """Echo host: one blocking thread per connection, answering each read with REPLY."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0), backlog=128)

    def serve(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            while conn.recv(4096):
                conn.sendall(REPLY)

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    print(listener.getsockname()[1], flush=True)
    sys.stdin.read()  # until the parent closes stdin


def _floor_blocking(port: int, oneshot: bool, n: int, runs: int) -> float:
    import socket

    def connect() -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    persistent = None if oneshot else connect()

    def poll() -> None:
        sock = persistent or connect()
        sock.send(QUERY)
        sock.recv(65536)
        if oneshot:
            sock.close()

    return _per_poll_cpu(poll, n, runs)


def _per_poll_cpu(poll, n: int, runs: int) -> float:  # type: ignore[no-untyped-def]
    for _ in range(300):
        poll()
    cpu = []
    for _ in range(runs):
        c0 = time.process_time()
        for _ in range(n):
            poll()
        cpu.append((time.process_time() - c0) / n * 1e6)
    return C.median(cpu)


async def _floor_async(port: int, oneshot: bool, n: int, runs: int) -> float:
    """Our link's pattern on a bare socket: non-blocking connect, ``add_reader``, send, wait
    for the reader's future, recv (and for one-shot: remove the reader and close)."""
    import socket

    loop = asyncio.get_running_loop()
    address = ("127.0.0.1", port)
    waiting: list[asyncio.Future[bytes]] = []

    def connect() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if sock.connect_ex(address) and sock.connect_ex(address) not in (0, 106):  # EISCONN
            raise OSError("loopback connect did not complete at once")
        loop.add_reader(sock.fileno(), readable, sock)
        return sock

    def readable(sock: socket.socket) -> None:
        data = sock.recv(65536)
        if waiting and not waiting[0].done():
            waiting.pop().set_result(data)

    persistent = None if oneshot else connect()

    async def poll() -> None:
        sock = persistent or connect()
        fut = loop.create_future()
        waiting.append(fut)
        sock.send(QUERY)
        await fut
        if oneshot:
            loop.remove_reader(sock.fileno())
            sock.close()

    for _ in range(300):
        await poll()
    cpu = []
    for _ in range(runs):
        c0 = time.process_time()
        for _ in range(n):
            await poll()
        cpu.append((time.process_time() - c0) / n * 1e6)
    return C.median(cpu)


def floors(n: int = 2000, runs: int = 5) -> dict[str, float]:
    """Client CPU per poll with no Tuya code, against a thread-per-connection host."""
    out: dict[str, float] = {}
    with _server("--serve-threads") as (_server_pid, port):
        clients = ["asyncio", "blocking"] + (["uvloop"] if C.have("uvloop") else [])
        for client in clients:
            for mode in ("persistent", "oneshot"):
                res = subprocess.run(
                    [*C.taskset(C.CLIENT_CORE), sys.executable, __file__, "--floor-client",
                     client, "--mode", mode, "--port", str(port), "--n", str(n),
                     "--runs", str(runs)],
                    capture_output=True, text=True, check=True, timeout=120,
                )
                out[f"floor_{client}_{mode}_cpu_us"] = round(float(res.stdout), 1)
    return out


@contextlib.contextmanager
def _server(*args: str) -> Iterator[tuple[int, int]]:
    """This script as a server (``args``) pinned to the device core: (pid, port) while in
    use; stopped on exit (stdin closed, then terminated if it lingers)."""
    server = subprocess.Popen(
        [*C.taskset(C.DEVICE_CORE), sys.executable, __file__, *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        yield server.pid, int(server.stdout.readline())
    finally:
        if server.stdin:
            server.stdin.close()
        try:
            server.wait(3)
        except subprocess.TimeoutExpired:
            server.terminate()
            server.wait(3)


def _run(coro_factory, use_uvloop: bool):  # type: ignore[no-untyped-def]
    if use_uvloop:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
            return r.run(coro_factory())
    return asyncio.run(coro_factory())


def calibrate(n: int = 2000, runs: int = 5) -> dict[str, float]:
    """Echo server on the device core and client on the client core, both on the default
    asyncio loop, then both on uvloop (if installed): client CPU (process_time), wall, and the
    server's CPU (schedstat, idle subtracted) per round trip."""
    out: dict[str, float] = {}
    loops = ["asyncio"] + (["uvloop"] if C.have("uvloop") else [])
    for loop in loops:
        uv = ["--uvloop"] if loop == "uvloop" else []
        with _server("--serve", *uv) as (server_pid, port):
            res = subprocess.run(
                [
                    *C.taskset(C.CLIENT_CORE),
                    sys.executable,
                    __file__,
                    "--client",
                    str(port),
                    "--server-pid",
                    str(server_pid),
                    "--n",
                    str(n),
                    "--runs",
                    str(runs),
                    *uv,
                ],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
            r = json.loads(res.stdout)
            out[f"echo_{loop}_cpu_us"] = r["cpu_us"]
            out[f"echo_{loop}_wall_us"] = r["wall_us"]
            out[f"echo_{loop}_server_cpu_us"] = r["server_cpu_us"]
    return out


def main() -> None:
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--serve", action="store_true")
    p.add_argument("--client", type=int)
    p.add_argument("--uvloop", action="store_true")
    p.add_argument("--server-pid", type=int, default=0)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--floors", action="store_true", help="floors against a threaded host")
    p.add_argument("--serve-threads", action="store_true")
    p.add_argument("--floor-client", choices=["asyncio", "uvloop", "blocking"])
    p.add_argument("--mode", choices=["persistent", "oneshot"], default="persistent")
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    if a.serve_threads:
        _serve_threads()
    elif a.floor_client == "blocking":
        print(_floor_blocking(a.port, a.mode == "oneshot", a.n, a.runs))
    elif a.floor_client:
        oneshot = a.mode == "oneshot"
        print(_run(lambda: _floor_async(a.port, oneshot, a.n, a.runs), a.floor_client == "uvloop"))
    elif a.floors:
        C.pin(C.CLIENT_CORE)
        print(json.dumps(floors(a.n, a.runs), indent=2))
    elif a.serve:
        _run(_serve, a.uvloop)
    elif a.client:
        print(json.dumps(_run(lambda: _client(a.client, a.n, a.runs, a.server_pid), a.uvloop)))
    else:
        C.pin(C.CLIENT_CORE)
        print(json.dumps(calibrate(a.n, a.runs), indent=2))


if __name__ == "__main__":
    main()
