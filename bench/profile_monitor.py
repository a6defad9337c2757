"""Where the monitor's CPU per reading goes, without sockets: the warm Python floor.

Runs N real ``PlugCoordinator`` s (with their ``TuyaDevice`` s, one Hub, one draining
subscriber) against real simulator sessions (``simulator.server._Session``) in the SAME
process, wired by an in-memory link: every write is delivered with ``loop.call_soon``, so no
syscall and no idle wake-up is involved. Each coordinator is driven with ``_poll()`` directly
(a poll is UPDATEDPS + query, as the monitor does once a plug has learned it helps) and the
CPU of the simulator sessions is timed separately and subtracted.

What it prints, per reading: monitor-side CPU (client + coordinator + Hub + subscriber), the
simulator share that was subtracted, and a cProfile table of the monitor side.

    python3 bench/profile_monitor.py                     # 200 plugs, 3.4, default loop
    python3 bench/profile_monitor.py --uvloop --rounds 50
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "src"))

from powermonitor.client import device as device_module
from powermonitor.config import Defaults, PlugConfig
from powermonitor.models import Reading
from powermonitor.monitor.coordinator import PlugCoordinator
from powermonitor.monitor.hub import Hub
from powermonitor.simulator.plug import SimulatedPlug
from powermonitor.simulator.server import PlugServer, _Session, fleet_specs

SIM_CPU = [0.0]


class _SimTransport:
    """The simulator session's side of the in-memory link."""

    def __init__(self, deliver: Callable[[bytes], None]) -> None:
        self._deliver = deliver
        self._loop = asyncio.get_running_loop()
        self.closing = False

    def write(self, data: bytes) -> None:
        self._loop.call_soon(self._deliver, data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class MemLink:
    """Stands in for ``transport.tcp.TcpLink``; talks to a simulator session in memory."""

    def __init__(self, server: PlugServer, on_data: Callable[[bytes], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self.closed = False
        self._session = _Session(server)
        self._session.connection_made(_SimTransport(on_data))  # type: ignore[arg-type]

    def _to_sim(self, data: bytes) -> None:
        c0 = time.process_time()
        self._session.data_received(data)
        SIM_CPU[0] += time.process_time() - c0

    def write(self, data: bytes) -> None:
        self._loop.call_soon(self._to_sim, data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


async def amain(a: argparse.Namespace) -> None:
    specs = fleet_specs(a.count, (a.version,))
    servers = {
        spec.device_id: PlugServer(SimulatedPlug(spec), idle_timeout=0) for spec in specs
    }

    async def open_link(host: str, port: int, *, timeout: float, on_data: Any, on_lost: Any) -> Any:
        return MemLink(servers[host], on_data)

    device_module.open_link = open_link  # type: ignore[assignment]
    hub = Hub()
    defaults = Defaults(poll_interval=1.0, refresh=a.refresh)
    coords = [
        PlugCoordinator(
            PlugConfig(name=s.name, device_id=s.device_id, host=s.device_id,
                       local_key=s.local_key, version=a.version, port=1),
            hub, defaults, start_spread=0,
        )
        for s in specs
    ]
    readings = [0]

    async def drain() -> None:
        with hub.subscribe() as sub:
            async for event in sub:
                if type(event) is Reading:
                    readings[0] += 1

    drain_task = asyncio.create_task(drain())
    for c in coords:
        await c._connect()
    devices = [c.device for c in coords]

    async def one_round() -> None:
        for c, d in zip(coords, devices, strict=True):
            assert d is not None
            await c._poll(d)

    for _ in range(6):  # past the UPDATEDPS learning polls
        await one_round()
    refreshing = sum(c.refresh_active for c in coords)
    runs = []
    for _ in range(a.runs):
        SIM_CPU[0], r0, c0 = 0.0, readings[0], time.process_time()
        for _ in range(a.rounds):
            await one_round()
        await asyncio.sleep(0)
        cpu, n = time.process_time() - c0, readings[0] - r0
        runs.append(((cpu - SIM_CPU[0]) / n * 1e6, SIM_CPU[0] / n * 1e6))
    runs.sort()
    mon, sim = runs[len(runs) // 2]
    print(f"{a.count} plugs, protocol {a.version}, {'uvloop' if a.uvloop else 'asyncio'}; "
          f"{refreshing} polling with UPDATEDPS")
    print(f"monitor side CPU per reading (median of {a.runs}): {mon:.1f} µs "
          f"(simulator sessions, subtracted: {sim:.1f} µs)")
    if a.profile:
        pr = cProfile.Profile(time.process_time)
        pr.enable()
        for _ in range(a.rounds):
            await one_round()
        pr.disable()
        pstats.Stats(pr).sort_stats(a.sort).print_stats(a.profile)
    drain_task.cancel()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--version", default="3.4")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--no-refresh", dest="refresh", action="store_false")
    p.add_argument("--uvloop", action="store_true")
    p.add_argument("--profile", type=int, default=0, metavar="N")
    p.add_argument("--sort", default="tottime", help="cProfile sort key (tottime, cumulative)")
    a = p.parse_args()
    if a.uvloop:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
            r.run(amain(a))
    else:
        asyncio.run(amain(a))


if __name__ == "__main__":
    main()
