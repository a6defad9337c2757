"""Machine floor for the monitor's pattern: N connections, one round trip each per second.

``echo_calibrate.py`` measures round trips back to back. A monitor does something else: 1000
plugs polled once a second at random phases, so nearly every round trip wakes an idle process
(and an idle vCPU) on both sides. This script does exactly that with no Tuya code at all: an
echo server in a separate process pinned to core 1 (uvloop), and in this process (core 0) N
asyncio.Protocol clients that each send 200 bytes once per ``--interval`` seconds, on their own
timer (``asyncio.sleep``, like a coordinator), and wait for the echo. Reported: client CPU per
round trip (user + system), process sleeps per round trip, server CPU per round trip.

    python3 bench/echo_spaced.py                     # 1000 connections, 20 s, uvloop
    python3 bench/echo_spaced.py --loop asyncio --count 100
    python3 bench/echo_spaced.py --slot 0.05         # each sleep ends on a 50 ms grid, as the
                                                     # coordinator's (limits.POLL_SLOT_S)
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

SERVER = r"""
import asyncio, sys, uvloop
class Echo(asyncio.Protocol):
    def connection_made(self, t): self.t = t
    def data_received(self, d): self.t.write(d)
async def main(n):
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(Echo, "127.0.0.1", 0, backlog=4096)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
uvloop.run(main(int(sys.argv[1])))
"""


class Client(asyncio.Protocol):
    def __init__(self) -> None:
        self.waiter: asyncio.Future[None] | None = None
        self.t: asyncio.Transport | None = None
        self.trips = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.trips += 1
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def run(self, interval: float, slot: float) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(random.uniform(0, interval))
        next_at = loop.time()
        payload = b"x" * 200
        while True:
            self.waiter = loop.create_future()
            assert self.t is not None
            self.t.write(payload)
            await self.waiter
            next_at += interval
            at = math.ceil(next_at / slot) * slot if slot else next_at  # the grid, if any
            await asyncio.sleep(max(0.0, at - loop.time()))


async def amain(a: argparse.Namespace, port: int, server_pid: int) -> None:
    loop = asyncio.get_running_loop()
    clients = []
    for _ in range(a.count):
        c = Client()
        await loop.create_connection(lambda c=c: c, "127.0.0.1", port)
        clients.append(c)
    tasks = [asyncio.create_task(c.run(a.interval, a.slot)) for c in clients]
    await asyncio.sleep(a.interval + 2)
    n0, u0 = sum(c.trips for c in clients), resource.getrusage(resource.RUSAGE_SELF)
    s0, w0 = C.proc_cpu_ns(server_pid), time.perf_counter()
    await asyncio.sleep(a.duration)
    n1, u1 = sum(c.trips for c in clients), resource.getrusage(resource.RUSAGE_SELF)
    s1, w1 = C.proc_cpu_ns(server_pid), time.perf_counter()
    for t in tasks:
        t.cancel()
    n = n1 - n0
    user = (u1.ru_utime - u0.ru_utime) / n * 1e6
    system = (u1.ru_stime - u0.ru_stime) / n * 1e6
    print(
        f"{a.count} connections x 1 round trip / {a.interval:g} s, client on {a.loop}"
        f"{f', on a {a.slot * 1000:g} ms grid' if a.slot else ''}: "
        f"{n / (w1 - w0):.0f} round trips/s; client CPU per round trip {user + system:.1f} µs "
        f"({user:.0f} user + {system:.0f} system), "
        f"{(u1.ru_nvcsw - u0.ru_nvcsw) / n:.2f} sleeps per round trip, "
        f"{100 * (user + system) * n / 1e6 / (w1 - w0):.1f} % of a core; "
        f"echo server (uvloop) {(s1 - s0) / 1e3 / n:.1f} µs per round trip"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    p.add_argument("--slot", type=float, default=0.0,
                   help="end every sleep on a grid of this many seconds (0: random phases)")
    a = p.parse_args()
    C.pin(C.CLIENT_CORE)
    server = subprocess.Popen(
        [*C.taskset(C.DEVICE_CORE), sys.executable, "-c", SERVER, str(a.count)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        if a.loop == "uvloop":
            import uvloop

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
                r.run(amain(a, port, server.pid))
        else:
            asyncio.run(amain(a, port, server.pid))
    finally:
        server.terminate()
        server.wait(5)


if __name__ == "__main__":
    main()
