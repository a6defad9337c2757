"""Machine calibration: the bare asyncio round trip, with no Tuya code at all.

An asyncio.Protocol client sends a 120-byte message to an asyncio.Protocol echo server and
waits for it, sequentially, on one connection (server pinned to core 1, client to core 0), on
the default loop and then with both sides on uvloop; client CPU, wall and server CPU per round
trip. The default-loop client number is the "asyncio (default loop), Protocol class, no crypto"
row of docs/performance-notes.md (47 µs client CPU on the machine the notes were measured on).
Run it next to the other benchmarks to tell a slower machine from a slower client: these are
the floors no asyncio client or server can go below on this machine.

    python3 bench/echo_calibrate.py            # prints JSON, ~8 s
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
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
        server = subprocess.Popen(
            [*C.taskset(C.DEVICE_CORE), sys.executable, __file__, "--serve", *uv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            res = subprocess.run(
                [
                    *C.taskset(C.CLIENT_CORE),
                    sys.executable,
                    __file__,
                    "--client",
                    str(port),
                    "--server-pid",
                    str(server.pid),
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
        finally:
            if server.stdin:
                server.stdin.close()
            try:
                server.wait(3)
            except subprocess.TimeoutExpired:
                server.terminate()
                server.wait(3)
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
    a = p.parse_args()
    if a.serve:
        _run(_serve, a.uvloop)
    elif a.client:
        print(json.dumps(_run(lambda: _client(a.client, a.n, a.runs, a.server_pid), a.uvloop)))
    else:
        C.pin(C.CLIENT_CORE)
        print(json.dumps(calibrate(a.n, a.runs), indent=2))


if __name__ == "__main__":
    main()
