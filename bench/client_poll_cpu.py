"""Client CPU µs per status poll through the public API, in one process: a quick A/B driver.

Against a running device host (``bench/sim_server.py --replay``, pinned to the other core),
one line out: CPU µs per poll (``time.process_time``), for

  plug       ``Plug.status()`` on one persistent connection
  device     ``TuyaDevice.status()`` under the same Plug
  reconnect  a new ``Plug`` per poll: status (open + status) and close
  fleet      ``asyncio.gather`` of ``Plug.status()`` over every device of the file

Run the same command with two interpreters (before and after: a venv per checkout) in
alternation and compare medians; see bench/README.md, "Issue 13, session 3".

    tail -f /dev/null | taskset -c 1 python bench/sim_server.py --count 1 --versions 3.4 \\
        --replay --uvloop --devices-file /tmp/d34.json &   # (stdin a pipe: it stops on EOF)
    taskset -c 0 python bench/client_poll_cpu.py /tmp/d34.json plug --loop uvloop
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

C.ensure_importable()

from powermonitor import Plug


def _plug(dev: dict[str, Any]) -> Plug:
    return Plug(dev["id"], dev["ip"], dev["key"], version=dev["version"],
                port=dev.get("port", 6668), timeout=5, retries=0)


async def measure(devices: list[dict[str, Any]], mode: str, n: int) -> float:
    if mode == "reconnect":
        async def once() -> None:
            plug = _plug(devices[0])
            try:
                await plug.status()
            finally:
                await plug.close()
        return await _cpu_us_per_poll(once, warmup=30, calls=n)
    plugs = [_plug(dev) for dev in (devices if mode == "fleet" else devices[:1])]
    await asyncio.gather(*(plug.connect() for plug in plugs))
    try:
        if mode == "fleet":
            async def sweep() -> None:
                await asyncio.gather(*(plug.status() for plug in plugs))
            rounds = max(1, n // len(plugs))
            return await _cpu_us_per_poll(sweep, warmup=5, calls=rounds, polls=len(plugs))
        device = plugs[0]._device
        assert device is not None
        poll = plugs[0].status if mode == "plug" else device.status
        return await _cpu_us_per_poll(poll, warmup=300, calls=n)
    finally:
        for plug in plugs:
            await plug.close()


async def _cpu_us_per_poll(
    call: Callable[[], Awaitable[Any]], *, warmup: int, calls: int, polls: int = 1
) -> float:
    """CPU µs per poll of ``calls`` awaits of ``call`` (``polls`` polls each), after ``warmup``."""
    for _ in range(warmup):
        await call()
    c0 = time.process_time()
    for _ in range(calls):
        await call()
    return (time.process_time() - c0) / (calls * polls) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("devices_file")
    ap.add_argument("mode", choices=("plug", "device", "reconnect", "fleet"))
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    ap.add_argument("-n", type=int, default=0, help="polls (default 3000; 300 for reconnect)")
    args = ap.parse_args()
    devices = json.loads(Path(args.devices_file).read_text())
    n = args.n or (300 if args.mode == "reconnect" else 3000)
    C.pin(C.CLIENT_CORE)
    coro = measure(devices, args.mode, n)
    if args.loop == "uvloop":
        import uvloop

        result = uvloop.run(coro)
    else:
        result = asyncio.run(coro)
    print(f"{result:.1f}")


if __name__ == "__main__":
    main()
