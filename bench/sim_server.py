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
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ensure_importable  # noqa: E402

ensure_importable()

from powermonitor.simulator.server import Fleet, fleet_specs  # noqa: E402


async def serve(args: argparse.Namespace) -> None:
    versions = tuple(v.strip() for v in args.versions.split(",") if v.strip())
    specs = fleet_specs(args.count, versions, (args.layout,), (args.profile,))
    fleet = Fleet(specs, idle_timeout=args.idle_timeout)
    await fleet.start()
    fleet.write_devices_file(args.devices_file)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    # stdin closing (the parent went away) also stops us
    loop.add_reader(sys.stdin.fileno(), lambda: (sys.stdin.read(1) or done.set()))
    print(f"READY {len(fleet.servers)}", flush=True)
    await done.wait()
    loop.remove_reader(sys.stdin.fileno())
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
    args = p.parse_args()
    if args.uvloop:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(args))
    else:
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
