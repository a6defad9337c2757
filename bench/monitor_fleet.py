"""The real monitor against a simulated fleet: CPU and memory of the monitor process.

The simulator (``bench/sim_server.py``: N plugs on N loopback ports, one process, on uvloop as
``powermonitor simulate`` runs; ``--sim-asyncio`` for the default loop) runs in a SEPARATE
process pinned to core 1. This process pins itself to core 0 and runs the real
``powermonitor.monitor.supervisor.Monitor`` over a ``Config(defaults=Defaults(poll_interval=…),
plugs=(PlugConfig(...), ...))`` built from the simulator's devices file, plus one Hub subscriber
that drains every event (as storage or ``watch`` would). It runs on uvloop by default, like the
CLI (``--loop asyncio`` for the default loop).

Phases:
  1. start the simulator, build the Config, read VmRSS (``/proc/self/status``) = RSS before;
  2. create the Monitor (one coordinator per plug) and run it; wait until every plug is online
     (the coordinators spread their first connects over ``start_spread`` = 1 s);
  3. warm up ``--warmup`` s, then measure ``--duration`` s (default 60):
     - monitor CPU % of one core = ``time.process_time()`` delta / wall delta,
     - CPU per reading (µs) = CPU delta / readings in the window,
     - readings/s achieved vs expected (N / poll_interval),
     - simulator CPU per reading (schedstat of the simulator process, idle not subtracted:
       an idle simulator burns nothing measurable);
  4. read VmRSS again: RSS growth per plug = (end - before) / N; VmHWM is reported as well.

Defaults as in the issue: 1000 plugs, protocol 3.4, poll interval 1 s; refresh is left to the
config default (``None``: the coordinator learns per plug whether UPDATEDPS helps, and our
simulator's cz plugs answer it, so most polls are UPDATEDPS + query, answered with an
acknowledgement, a push and the reply; ``--refresh off`` polls with the query alone).
``--profile N`` (cProfile of the window) and ``--tracemalloc N`` (Python allocations alive at
the end, per plug) break the numbers down; both slow the run, so their CPU figures do not count.

    python3 bench/monitor_fleet.py                       # 1000 plugs, 60 s, ~75 s in all
    python3 bench/monitor_fleet.py --count 100 --duration 20 --loop asyncio
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "src"))  # measure the checkout this file lives in
import _common as C

from powermonitor.config import Config, Defaults, PlugConfig
from powermonitor.models import Reading
from powermonitor.monitor.hub import Availability
from powermonitor.monitor.supervisor import Monitor

TARGETS = {"cpu_pct_of_core": 10.0, "rss_kb_per_plug": 20.0}


def vm_kb(field: str) -> int:
    """A ``/proc/self/status`` field in kB (VmRSS, VmHWM)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def build_config(devices: list[dict[str, Any]], a: argparse.Namespace) -> Config:
    refresh = {"learn": None, "on": True, "off": False}[a.refresh]
    defaults = Defaults(poll_interval=a.interval, refresh=refresh)
    plugs = tuple(
        PlugConfig(
            name=d["name"], device_id=d["id"], host=d["ip"], local_key=d["key"],
            version=d["version"], port=d["port"],
        )
        for d in devices
    )
    return Config(defaults=defaults, plugs=plugs)


class Drain:
    """The one Hub subscriber: takes every event off its queue and counts it."""

    def __init__(self) -> None:
        self.readings = 0
        self.online = 0
        self.offline = 0

    async def run(self, monitor: Monitor) -> None:
        with monitor.hub.subscribe() as sub:
            async for event in sub:
                if type(event) is Reading:
                    self.readings += 1
                elif isinstance(event, Availability):
                    if event.online:
                        self.online += 1
                    else:
                        self.offline += 1


async def run(a: argparse.Namespace, sim: C.DeviceProc) -> dict[str, Any]:
    n = len(sim.devices)
    config = build_config(sim.devices, a)
    gc.collect()
    rss_before = vm_kb("VmRSS")
    if a.tracemalloc:
        import tracemalloc

        tracemalloc.start()
    monitor = Monitor(config)
    drain = Drain()
    drain_task = asyncio.create_task(drain.run(monitor))
    monitor_task = asyncio.create_task(monitor.run())
    loop = asyncio.get_running_loop()
    t0, c0 = loop.time(), time.process_time()
    states = monitor.hub.states
    while sum(1 for s in states.values() if s.online) < n:
        if loop.time() - t0 > a.connect_timeout:
            break
        if monitor_task.done():
            monitor_task.result()
        await asyncio.sleep(0.1)
    online_s = loop.time() - t0
    connect_cpu = time.process_time() - c0
    online = sum(1 for s in states.values() if s.online)
    await asyncio.sleep(a.warmup)

    def snapshot() -> tuple[float, float, int, int, int, resource.struct_rusage]:
        return (
            time.perf_counter(), time.process_time(), C.proc_cpu_ns(sim.pid), drain.readings,
            sum(c.connects for c in monitor.coordinators.values()),
            resource.getrusage(resource.RUSAGE_SELF),
        )

    profiler = None
    if a.profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)
    w0, cpu0, s0, r0, k0, u0 = snapshot()
    if profiler is not None:
        profiler.enable()
    await asyncio.sleep(a.duration)
    if profiler is not None:
        profiler.disable()
    w1, cpu1, s1, r1, k1, u1 = snapshot()
    if profiler is not None:
        import pstats

        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(a.profile)
    rss_end = vm_kb("VmRSS")
    hwm = vm_kb("VmHWM")
    if a.tracemalloc:
        snap = tracemalloc.take_snapshot()
        tracemalloc.stop()
        stats = snap.statistics("lineno")
        total = sum(st.size for st in stats)
        print(f"Python allocations alive at the end (tracemalloc): {total / n / 1024:.1f} KB per "
              "plug; top sites, bytes per plug:", file=sys.stderr)
        for st in stats[: a.tracemalloc]:
            frame = st.traceback[0]
            print(f"  {st.size / n:8.0f}  {frame.filename.split('/src/')[-1]}:{frame.lineno}",
                  file=sys.stderr)
    wall, cpu, readings = w1 - w0, cpu1 - cpu0, r1 - r0
    polls = sum(c.polls for c in monitor.coordinators.values())
    refreshing = sum(1 for c in monitor.coordinators.values() if c.refresh_active)
    monitor_task.cancel()
    drain_task.cancel()
    await asyncio.gather(monitor_task, drain_task, return_exceptions=True)
    expected = n / a.interval
    return {
        "plugs": n,
        "online_after_connect": online,
        "all_online_s": round(online_s, 2),
        "connect_phase_cpu_s": round(connect_cpu, 3),
        "window_s": round(wall, 2),
        "cpu_s": round(cpu, 3),
        "cpu_pct_of_core": 100.0 * cpu / wall,
        "cpu_us_per_reading": cpu / readings * 1e6 if readings else None,
        "user_us_per_reading": (u1.ru_utime - u0.ru_utime) / readings * 1e6 if readings else None,
        "sys_us_per_reading": (u1.ru_stime - u0.ru_stime) / readings * 1e6 if readings else None,
        "voluntary_switches_per_reading": (u1.ru_nvcsw - u0.ru_nvcsw) / readings if readings else None,
        "readings": readings,
        "readings_per_s": readings / wall,
        "expected_per_s": expected,
        "achieved_pct": 100.0 * readings / wall / expected,
        "reconnects_in_window": k1 - k0,
        "offline_events": drain.offline,
        "plugs_refreshing": refreshing,
        "polls_total": polls,
        "sim_cpu_pct_of_core": 100.0 * (s1 - s0) / 1e9 / wall,
        "sim_cpu_us_per_reading": (s1 - s0) / 1e3 / readings if readings else None,
        "rss_before_kb": rss_before,
        "rss_end_kb": rss_end,
        "vmhwm_kb": hwm,
        "rss_kb_per_plug": (rss_end - rss_before) / n,
    }


def markdown(r: dict[str, Any], env: dict[str, Any], a: argparse.Namespace) -> str:
    ok_cpu = r["cpu_pct_of_core"] <= TARGETS["cpu_pct_of_core"]
    ok_rss = r["rss_kb_per_plug"] <= TARGETS["rss_kb_per_plug"]
    sim_loop = "asyncio" if a.sim_asyncio else "uvloop"
    rows = [
        ("monitor CPU, % of one core", f"**{r['cpu_pct_of_core']:.1f}**",
         f"≤ 10 % ({'MET' if ok_cpu else 'MISSED'})"),
        ("monitor CPU per reading (user + system)",
         (f"{r['cpu_us_per_reading']:.1f} µs ({r['user_us_per_reading']:.0f} + "
         f"{r['sys_us_per_reading']:.0f}; the process slept "
         f"{r['voluntary_switches_per_reading']:.2f} times per reading)"), ""),
        ("RSS growth per plug",
         (f"**{r['rss_kb_per_plug']:.1f} KB** ({r['rss_before_kb']} → {r['rss_end_kb']} kB; "
         f"VmHWM {r['vmhwm_kb']} kB)"), f"≤ 20 KB ({'MET' if ok_rss else 'MISSED'})"),
        ("readings/s achieved vs expected",
         f"{r['readings_per_s']:.0f} / {r['expected_per_s']:.0f} ({r['achieved_pct']:.1f} %)",
         ""),
        ("reconnects / offline events in the window",
         f"{r['reconnects_in_window']} / {r['offline_events']}", ""),
        ("plugs polling with UPDATEDPS", f"{r['plugs_refreshing']}", ""),
        ("all plugs online after", f"{r['all_online_s']} s ({r['connect_phase_cpu_s']} s CPU)", ""),
        ("simulator CPU, % of one core / per reading",
         f"{r['sim_cpu_pct_of_core']:.1f} % / {r['sim_cpu_us_per_reading']:.1f} µs", ""),
    ]
    lines = [
        (f"# Monitor process, {r['plugs']} simulated plugs, protocol {a.version} "
         "(bench/monitor_fleet.py)"),
        "",
        (f"{env['date']}, {env.get('cpu_model', '?')}, {env['cpus']} CPUs, Python "
         f"{env['python']}, git {env['git']}. Monitor on core {C.CLIENT_CORE} ({a.loop}), "
         f"simulator on core {C.DEVICE_CORE} ({sim_loop}); poll interval {a.interval:g} s, "
         f"refresh={a.refresh}; {a.warmup:g} s warm-up, {r['window_s']:g} s measured."),
        "",
        "| metric | value | target |",
        "|---|---:|---|",
        *(f"| {name} | {value} | {target} |" for name, value, target in rows),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--version", default="3.4")
    p.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds after all plugs are online")
    p.add_argument("--interval", type=float, default=1.0, help="poll interval (s)")
    p.add_argument("--refresh", choices=("learn", "on", "off"), default="learn")
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    p.add_argument("--sim-asyncio", action="store_true",
                   help="serve the simulator on the default loop (default: uvloop, as "
                   "'powermonitor simulate' runs)")
    p.add_argument("--connect-timeout", type=float, default=60.0)
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="cProfile the measured window; print the top N functions to stderr "
                   "(inflates the CPU numbers: for ranking only)")
    p.add_argument("--tracemalloc", type=int, default=0, metavar="N",
                   help="trace Python allocations from the Monitor's creation; print the top N "
                   "sites alive at the end (slows the run: for memory breakdowns only)")
    p.add_argument("--out", default="", help="results file stem in bench/results/")
    a = p.parse_args()
    C.pin(C.CLIENT_CORE)
    env = C.environment()
    sim = C.start_simulator(a.count, (a.version,), uvloop=not a.sim_asyncio, idle_timeout=30.0)
    try:
        if a.loop == "uvloop":
            import uvloop

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                res = runner.run(run(a, sim))
        else:
            res = asyncio.run(run(a, sim))
    finally:
        sim.stop()
    md = markdown(res, env, a)
    stem = a.out or f"monitor_fleet_{a.count}_{a.version.replace('.', '')}_{a.loop}"
    jp, mp = C.write_results(stem, {"environment": env, "params": vars(a), "result": res}, md)
    print(md)
    print(f"wrote {jp} and {mp}")


if __name__ == "__main__":
    main()
