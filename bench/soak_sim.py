"""The fault soak's simulator process: a plan's plugs on fixed ports, faults toggled on schedule.

``python bench/soak_sim.py PLAN.json`` serves every plug of the plan (written by ``soak.py``) on
``base_port + i`` and, every 0.2 s, puts each plug into the state its fault windows say for the
current wall-clock time (the plan is read again when the file changes). The schedule is
absolute, so after a ``kill -9`` and a restart the simulator resumes the same plan. When a
plug's fault changes, its open sessions are cut (a wrong key or a busy plug applies per
connection; a flood must stop). ``offline`` stops the plug's
listener (connection refused) until the window ends. It writes ``PLAN.ready`` once listening.
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from powermonitor.simulator.plug import PlugSpec
from powermonitor.simulator.server import Faults, Fleet, fleet_specs

FAULT_FLAGS: dict[str, dict[str, Any]] = {
    "offline": {},  # the listener is stopped instead
    "silent": {"silent": True},
    "busy": {"busy": True},
    "wrong-key": {"wrong_key": True},
    "junk": {"junk": True},
    "dp-flood": {"dp_flood": True},
    "push-flood": {"push_flood": True},
    "garbage": {"garbage": 0.5},
    "slow": {"delay_s": 0.5},  # slower than usual, faster than the client's timeout
    "stall": {"delay_s": 6.0},  # slower than the client's timeout
    "drop": {"drop_after": 3},
}
"""Every fault the soak injects: the simulator's :class:`Faults` flags per name."""

def _deep(levels: int) -> list[Any]:
    value: list[Any] = [1]
    for _ in range(levels):
        value = [value]
    return value


HOSTILE_DPS: list[dict[str, Any]] = [
    {"1": True, "18": 450, "19": 1e300, "20": 2300},  # absurd power
    {"1": True, "18": 450, "19": -50000, "20": 2300},  # negative power
    {"1": True, "18": 450, "19": math.nan, "20": math.inf},  # non-finite (NaN in the JSON)
    {"1": True, "18": 450, "19": 1000, "20": 2300, "101": _deep(200)},  # deeply nested JSON
]
"""Plugs that are hostile all the time (permanent, never toggled): bad values, deep JSON."""


def specs(plan: dict[str, Any]) -> list[PlugSpec]:
    """The plan's plugs: ordinary ones, then the hostile ones (layout ``nopower``, raw dps)."""
    ordinary = plan["count"] - plan["hostile"]
    out = fleet_specs(ordinary, plan["versions"], ("cz",), plan["profiles"], seed=plan["seed"])
    base = fleet_specs(plan["count"], ("3.3",), seed=plan["seed"])
    for j in range(plan["hostile"]):
        ident = base[ordinary + j]
        dps = tuple(sorted(HOSTILE_DPS[j % len(HOSTILE_DPS)].items(), key=lambda kv: int(kv[0])))
        out.append(PlugSpec(ident.device_id, ident.local_key, "3.3", "nopower",
                            name=f"plug-{ordinary + j + 1:03d}", raw_dps=dps))
    return out


def wanted(plan: dict[str, Any], now: float) -> list[str | None]:
    """The fault each plug has at ``now`` (None: behaving)."""
    state: list[str | None] = [None] * plan["count"]
    for plug, kind, start, end in plan["windows"]:
        if start <= now < end:
            state[plug] = kind
    return state


async def serve(plan_path: Path) -> None:
    plan = json.loads(plan_path.read_text())
    fleet = Fleet(specs(plan), base_port=plan["base_port"], idle_timeout=30.0,
                  push_interval=plan.get("push_interval", 0.0))
    await fleet.start()
    plan_path.with_suffix(".ready").write_text(json.dumps(fleet.devices()))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    current: list[str | None] = [None] * plan["count"]
    mtime = plan_path.stat().st_mtime_ns
    while not stop.is_set():
        if plan_path.stat().st_mtime_ns != mtime:  # the soak wrote the fault windows
            mtime = plan_path.stat().st_mtime_ns
            plan = json.loads(plan_path.read_text())
        for i, kind in enumerate(wanted(plan, time.time())):
            if kind == current[i]:
                continue
            server = fleet.servers[i]
            if current[i] == "offline":
                await server.start()
            for session in list(server.sessions):
                if session.transport is not None:
                    session.transport.abort()
            server.faults = Faults(**FAULT_FLAGS[kind]) if kind else Faults()
            if kind == "offline":
                await server.stop()
            current[i] = kind
        try:
            await asyncio.wait_for(stop.wait(), 0.2)
        except TimeoutError:
            pass
    await fleet.stop()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1])))
