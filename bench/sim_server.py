"""Run our simulator fleet in its own process for the benchmarks (a stand-in for
``powermonitor simulate --count N --protocol V --devices-file PATH``).

Starts ``Fleet(fleet_specs(count, versions))`` on 127.0.0.1 (one port per plug), writes a
tinytuya-style devices JSON file, prints ``READY <count>`` on stdout and serves until stdin
closes or SIGTERM/SIGINT arrives. Pin it with ``taskset -c 1``.

    taskset -c 1 python3 bench/sim_server.py --count 100 --versions 3.4 --devices-file /tmp/d.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ensure_importable

ensure_importable()

from powermonitor.protocol import events as ev
from powermonitor.protocol.connection import Connection, Role, State
from powermonitor.simulator.plug import SimulatedPlug
from powermonitor.simulator.server import Fleet, fleet_specs


class ReplaySession(asyncio.Protocol):
    """``--replay``: NOT the simulator. Negotiates the session and answers the first query
    through the real device-role Connection, then answers every later request with that same
    reply frame, byte for byte (our client does not check reply seqnos). The device side then
    costs about as little as an echo server, so a client benchmark against it measures the
    client rather than waiting on a saturated simulator."""

    def __init__(self, plug: SimulatedPlug) -> None:
        spec = plug.spec
        self.plug = plug
        self.conn = Connection(Role.DEVICE, spec.version, spec.local_key, spec.device_id)
        self.canned: bytes | None = None
        self.t: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        t = self.t
        if t is None:
            return
        if self.canned is not None:
            t.write(self.canned)
            return
        events = self.conn.receive_data(data)
        out = self.conn.data_to_send()
        if out:
            t.write(out)
        for e in events:
            if isinstance(e, ev.QueryRequest):
                reply = self.conn.status_reply(e.seqno, e.cmd, self.plug.dps(), int(time.time()))
                t.write(reply)
                if self.conn.state is State.READY:
                    self.canned = reply

    def connection_lost(self, exc: Exception | None) -> None:
        self.t = None


async def serve_replay(args: argparse.Namespace, specs: list) -> list:  # type: ignore[type-arg]
    loop = asyncio.get_running_loop()
    servers, entries = [], []
    for spec in specs:
        plug = SimulatedPlug(spec)
        srv = await loop.create_server(lambda plug=plug: ReplaySession(plug), "127.0.0.1", 0)
        servers.append(srv)
        entries.append(
            {
                "name": spec.name,
                "id": spec.device_id,
                "key": spec.local_key,
                "ip": "127.0.0.1",
                "port": srv.sockets[0].getsockname()[1],
                "version": spec.version,
            }
        )
    Path(args.devices_file).write_text(json.dumps(entries, indent=2) + "\n")
    return servers


async def serve(args: argparse.Namespace) -> None:
    versions = tuple(v.strip() for v in args.versions.split(",") if v.strip())
    specs = fleet_specs(args.count, versions, (args.layout,), (args.profile,))
    from powermonitor.simulator.latency import parse_latency

    latency = parse_latency(args.latency) if args.latency else None
    fleet = (Fleet(specs, idle_timeout=args.idle_timeout, latency=latency) if latency
             else Fleet(specs, idle_timeout=args.idle_timeout))
    replay_servers = []
    if args.replay:
        replay_servers = await serve_replay(args, specs)
    else:
        await fleet.start()
        fleet.write_devices_file(args.devices_file)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    # stdin closing (the parent went away) also stops us
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.read(1) or done.set())
    print(f"READY {len(fleet.servers) or len(replay_servers)}", flush=True)
    await done.wait()
    loop.remove_reader(sys.stdin.fileno())
    for srv in replay_servers:
        srv.close()
    await fleet.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--versions", default="3.4", help="comma separated, cycled over the plugs")
    p.add_argument("--layout", default="cz")
    p.add_argument("--profile", default="constant:100")
    p.add_argument("--devices-file", required=True)
    p.add_argument("--idle-timeout", type=float, default=30.0)
    p.add_argument("--uvloop", action="store_true", help="serve on uvloop instead of asyncio")
    p.add_argument("--latency", default="", help="answer after this long: 5ms, 5ms..20ms")
    p.add_argument(
        "--replay",
        action="store_true",
        help="bench device, not the simulator: canned reply after the first query",
    )
    args = p.parse_args()
    if args.uvloop:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(args))
    else:
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
