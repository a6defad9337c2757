#!/usr/bin/env python3
"""Device host for the neutral peer harness, serving powermonitor's simulator instead of tuyamock.

Speaks the line protocol of the harness's ``devhost.py`` (so ``run_latency.py`` can swap it
in without touching the harness), with the same devices: ``devhost.device_identity`` ids and
keys, ``devhost.PLUG_DPS`` values (both imported from the harness, not copied), one plug per
port on 127.0.0.1, one client at a time. Plus ``--latency``: every answer leaves after it,
like a plug over Wi-Fi (``simulate --latency``).

  argv   --harness DIR --spec JSON [--idle-timeout S] [--latency 5ms] [--asyncio]
         spec: list of {"version", "count", "seqno_mode", "group"} as for devhost.py
  stdout first line: {"pid", "simulator", "latency", "devices": [{"group", "id", "key",
         "version", "seqno_mode", "host", "port"}, ...]}
  stdin  "stats" -> {"cpu_s": ..., "connections": {port: n}};  "quit" or EOF -> exit 0

seqno modes as tuyamock's: "faithful" (the default) echoes the request's seqno on 3.1-3.4 and
counts globally on 3.5, like real plugs; "echo" and "global" do so on every version.
Serves on uvloop (as ``powermonitor simulate`` does) unless ``--asyncio``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import resource
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

sys.dont_write_bytecode = True  # the harness folder is read-only
REPO = Path(__file__).resolve().parents[2]
try:
    import powermonitor
except ImportError:  # run from the checkout without an install
    sys.path.insert(0, str(REPO / "src"))
    import powermonitor

from powermonitor.simulator.latency import parse_latency
from powermonitor.simulator.plug import PlugSpec, SimulatedPlug
from powermonitor.simulator.server import PlugServer

SEQNO_MODES = {"faithful": ("echo", "global"), "echo": ("echo", "echo"),
               "global": ("global", "global")}
"""Harness seqno mode -> (ours before 3.5, ours on 3.5)."""


def load_devhost(harness: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("peerbench_devhost", harness / "devhost.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


async def serve(args: argparse.Namespace) -> int:
    devhost = load_devhost(Path(args.harness))
    latency = parse_latency(args.latency)
    raw_dps = tuple(sorted(devhost.PLUG_DPS.items(), key=lambda kv: int(kv[0])))
    servers: list[PlugServer] = []
    devices: list[dict[str, Any]] = []
    index = 0
    try:
        for group in json.loads(args.spec):
            mode = group.get("seqno_mode", "faithful")
            version = str(group["version"])
            ours = SEQNO_MODES[mode][version == "3.5"]
            for _ in range(int(group.get("count", 1))):
                dev_id, key = devhost.device_identity(index)
                spec = PlugSpec(device_id=dev_id, local_key=key, version=version,
                                layout="nopower", raw_dps=raw_dps, name=dev_id, seed=index)
                index += 1
                server = PlugServer(SimulatedPlug(spec), "127.0.0.1", 0, seqno_mode=ours,
                                    idle_timeout=args.idle_timeout, latency=latency)
                await server.start()
                servers.append(server)
                devices.append({"group": group.get("group", version), "id": dev_id, "key": key,
                                "version": version, "seqno_mode": mode, "host": "127.0.0.1",
                                "port": server.port})
        loop = asyncio.get_running_loop()
        print(json.dumps({
            "pid": os.getpid(), "simulator": "powermonitor-" + powermonitor.__version__,
            "latency": str(latency), "loop": type(loop).__module__.split(".")[0],
            "devices": devices,
        }), flush=True)
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            cmd = line.decode().strip()
            if cmd == "stats":
                ru = resource.getrusage(resource.RUSAGE_SELF)
                print(json.dumps({
                    "cpu_s": ru.ru_utime + ru.ru_stime,
                    "connections": {str(s.port): s.plug.connections_total for s in servers},
                }), flush=True)
            elif cmd == "quit":
                break
    finally:
        await asyncio.gather(*(s.stop() for s in servers))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--harness", required=True, help="the harness folder (holds devhost.py)")
    ap.add_argument("--spec", required=True, help="JSON list of device groups")
    ap.add_argument("--idle-timeout", type=float, default=60.0)
    ap.add_argument("--latency", default="0ms", help="answer after this: 5ms, 5ms..20ms")
    ap.add_argument("--asyncio", action="store_true", help="the default loop, not uvloop")
    args = ap.parse_args(argv)
    if args.asyncio:
        return asyncio.run(serve(args))
    import uvloop

    return uvloop.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
