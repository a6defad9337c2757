"""Fleet polling cost: N simulated plugs, one client process polling every plug once per round.

The simulator (bench/sim_server.py, N plugs on N loopback ports, one process) is pinned to
core 1; each client runs in its own process pinned to core 0 and keeps one persistent
connection per plug:

  ours-asyncio / ours-uvloop   one TuyaDevice per plug, ``asyncio.gather`` of every plug's
                               ``status()`` per round (default loop / uvloop)
  ours-tasks-uvloop            one long-lived task per plug polling back to back (no per-round
                               barrier) on uvloop - how a monitor could schedule polls
  lean-uvloop                  bench/lean_client.py (a bench-only prototype: the same sans-IO
                               Connection under a minimal request path), gather, uvloop
  tinytuya                     tinytuya 1.20 OutletDevice per plug (persist=True,
                               set_sendWait(None)), polled sequentially (blocking sockets)
  tinytuya-monitor             tinytuya's experimental Monitor (selectors, one thread, driven
                               with mon.poll()): ``mon.command(d, 'status')`` for every plug,
                               then poll until every on_status callback has fired
  rustuya                      rustuya 0.3 Device per plug (persist=True), sequential status()

Reported per client: client CPU per 1000 polls (time.process_time, all threads), polls/s,
simulator CPU per 1000 polls (schedstat of the simulator process, idle subtracted), medians
over --runs runs of --rounds rounds.

    taskset -c 0 python3 bench/fleet_cpu.py                  # 100 plugs, 3.4, ~1 min
    taskset -c 0 python3 bench/fleet_cpu.py --count 1000 --clients ours-uvloop,ours-asyncio
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

CLIENTS = (
    "ours-asyncio",
    "ours-uvloop",
    "ours-tasks-uvloop",
    "lean-uvloop",
    "tinytuya",
    "tinytuya-monitor",
    "rustuya",
)


def _dps_ok(reply: Any) -> bool:
    if not isinstance(reply, dict) or "Error" in reply:
        return False
    if isinstance(reply.get("dps"), dict):
        return bool(reply["dps"])
    data = reply.get("data")
    if isinstance(data, dict) and isinstance(data.get("dps"), dict):
        return bool(data["dps"])
    return bool(reply) and all(k.isdigit() for k in reply)


class Meter:
    def __init__(self, sim_pid: int, polls_per_run: int) -> None:
        self.sim_pid = sim_pid
        self.polls = polls_per_run
        self.idle = 0.0
        self.runs: list[dict[str, float]] = []

    def measure_idle(self) -> None:
        self.idle = C.idle_rate_ns_per_s(self.sim_pid, 0.5)

    def begin(self) -> tuple[int, float, float]:
        s0 = C.proc_cpu_ns(self.sim_pid)
        return s0, time.perf_counter(), time.process_time()

    def end(self, start: tuple[int, float, float]) -> None:
        c1, w1 = time.process_time(), time.perf_counter()
        s1 = C.proc_cpu_ns(self.sim_pid)
        s0, w0, c0 = start
        n = self.polls
        self.runs.append(
            {
                "client_cpu_s_per_1000": (c1 - c0) / n * 1000,
                "polls_per_s": n / (w1 - w0),
                "sim_cpu_s_per_1000": (s1 - s0 - self.idle * (w1 - w0)) / 1e9 / n * 1000,
            }
        )

    def result(self, **extra: Any) -> dict[str, Any]:
        def med(k: str) -> float:
            return C.median([r[k] for r in self.runs])

        return {
            "polls_per_run": self.polls,
            "runs": self.runs,
            "client_cpu_s_per_1000": med("client_cpu_s_per_1000"),
            "client_cpu_us_per_poll": med("client_cpu_s_per_1000") * 1000,
            "polls_per_s": med("polls_per_s"),
            "sim_cpu_s_per_1000": med("sim_cpu_s_per_1000"),
            **extra,
        }


# ---------------------------------------------------------------------- workers


async def _ours(
    devs: list[dict[str, Any]], a: argparse.Namespace, tasks: bool, lean: bool = False
) -> dict[str, Any]:
    C.ensure_importable()
    from powermonitor.client.device import TuyaDevice

    if lean:
        from lean_client import LeanDevice as TuyaDevice  # type: ignore[assignment]
    clients = [
        TuyaDevice(d["id"], d["ip"], d["key"], d["version"], port=d["port"], timeout=10.0)
        for d in devs
    ]
    t0 = time.perf_counter()
    sem = asyncio.Semaphore(200)

    async def connect(c: TuyaDevice) -> None:
        async with sem:
            await c.connect()

    await asyncio.gather(*(connect(c) for c in clients))
    connect_s = time.perf_counter() - t0
    replies = await asyncio.gather(*(c.status() for c in clients))
    if not all(_dps_ok(r) for r in replies):
        raise RuntimeError("a plug answered without dps")
    n = len(clients)
    meter = Meter(a.sim_pid, a.rounds * n)
    for _ in range(a.warmup):
        await asyncio.gather(*(c.status() for c in clients))
    meter.measure_idle()

    async def poll_loop(c: TuyaDevice, rounds: int) -> None:
        status = c.status
        for _ in range(rounds):
            await status()

    for _ in range(a.runs):
        start = meter.begin()
        if tasks:
            await asyncio.gather(*(poll_loop(c, a.rounds) for c in clients))
        else:
            for _ in range(a.rounds):
                await asyncio.gather(*(c.status() for c in clients))
        meter.end(start)
    await asyncio.gather(*(c.close() for c in clients))
    return meter.result(connect_all_s=connect_s)


def _sync_seq(
    devs: list[dict[str, Any]],
    a: argparse.Namespace,
    make: Callable[[dict[str, Any]], Any],
    close: Callable[[Any], None],
) -> dict[str, Any]:
    t0 = time.perf_counter()
    clients = [make(d) for d in devs]
    replies = [c.status() for c in clients]  # connects (and negotiates) on first use
    connect_s = time.perf_counter() - t0
    if not all(_dps_ok(r) for r in replies):
        bad = next(r for r in replies if not _dps_ok(r))
        raise RuntimeError(f"a plug answered without dps: {bad!r}")
    n = len(clients)
    meter = Meter(a.sim_pid, a.rounds * n)
    for _ in range(a.warmup):
        for c in clients:
            c.status()
    meter.measure_idle()
    statuses = [c.status for c in clients]
    for _ in range(a.runs):
        start = meter.begin()
        for _ in range(a.rounds):
            for status in statuses:
                status()
        meter.end(start)
    last = [c.status() for c in clients[:3]]
    if not all(_dps_ok(r) for r in last):
        raise RuntimeError(f"bad answer after the runs: {last!r}")
    for c in clients:
        close(c)
    return meter.result(connect_all_s=connect_s)


def _tinytuya_make(d: dict[str, Any]) -> Any:
    import tinytuya

    dev = tinytuya.OutletDevice(
        d["id"],
        "127.0.0.1",
        d["key"],
        version=float(d["version"]),
        persist=True,
        port=d["port"],
        connection_timeout=10,
        connection_retry_limit=1,
        connection_retry_delay=0,
    )
    dev.set_sendWait(None)
    return dev


def _rustuya_make(d: dict[str, Any]) -> Any:
    import rustuya

    return rustuya.Device(
        d["id"],
        d["key"],
        address="127.0.0.1",
        version=d["version"],
        port=d["port"],
        persist=True,
        timeout=10,
    )


def _rustuya_close(c: Any) -> None:
    c.close()
    c.stop()


def _tinytuya_monitor(devs: list[dict[str, Any]], a: argparse.Namespace) -> dict[str, Any]:
    import tinytuya

    got = [0]
    bad: list[Any] = []

    def on_status(device: Any, result: Any) -> None:
        if _dps_ok(result):
            got[0] += 1
        else:
            bad.append(result)

    mon = tinytuya.Monitor(on_status=on_status, heartbeat_interval=3600)
    clients = [_tinytuya_make(d) for d in devs]
    t0 = time.perf_counter()
    for c in clients:
        h = mon.add(c)
        if isinstance(h, str):
            raise RuntimeError(f"Monitor.add failed: {h}")  # noqa: TRY004 - an error string
    connect_s = time.perf_counter() - t0
    n = len(clients)

    def one_round() -> None:
        got[0] = 0
        for i, c in enumerate(clients):
            mon.command(c, "status")
            if i % 64 == 63:
                # each command() writes a wake-up byte to a socketpair; with hundreds queued
                # and nobody draining it the write blocks forever: drain as we go
                mon.poll(timeout=0)
        deadline = time.monotonic() + 10
        while got[0] < n:
            mon.poll(timeout=1.0)
            if time.monotonic() > deadline:
                raise RuntimeError(f"Monitor round incomplete: {got[0]}/{n}, bad={bad[:2]}")

    one_round()
    meter = Meter(a.sim_pid, a.rounds * n)
    for _ in range(a.warmup):
        one_round()
    meter.measure_idle()
    for _ in range(a.runs):
        start = meter.begin()
        for _ in range(a.rounds):
            one_round()
        meter.end(start)
    mon.stop()
    return meter.result(connect_all_s=connect_s)


def worker(a: argparse.Namespace) -> None:
    C.pin(C.CLIENT_CORE)
    devs = json.loads(Path(a.devices_file).read_text())
    if a.client in (
        "ours-asyncio",
        "ours-uvloop",
        "ours-tasks-uvloop",
        "ours-tasks-asyncio",
        "lean-uvloop",
        "lean-asyncio",
    ):
        coro = _ours(devs, a, tasks="tasks" in a.client, lean=a.client.startswith("lean"))
        if a.client.endswith("uvloop"):
            import uvloop

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
                res = r.run(coro)
        else:
            res = asyncio.run(coro)
    elif a.client == "tinytuya":
        res = _sync_seq(devs, a, _tinytuya_make, lambda c: c.close())
    elif a.client == "tinytuya-monitor":
        res = _tinytuya_monitor(devs, a)
    elif a.client == "rustuya":
        res = _sync_seq(devs, a, _rustuya_make, _rustuya_close)
    else:
        raise SystemExit(f"unknown client {a.client}")
    print(json.dumps(res), flush=True)


# ---------------------------------------------------------------------- orchestrator


def orchestrate(a: argparse.Namespace) -> None:
    clients = [c.strip() for c in a.clients.split(",") if c.strip()]
    if not C.have("uvloop"):
        clients = [c for c in clients if "uvloop" not in c]
    rounds = a.rounds or max(2, a.polls // a.count)
    env = C.environment()
    t_start = time.monotonic()
    sim = C.start_simulator(a.count, (a.version,), uvloop=a.sim_uvloop, replay=a.replay)
    rows = []
    try:
        devfile = Path(sim.tmpdir.name) / "devices.json"  # type: ignore[union-attr]
        time.sleep(0.5)
        for client in clients:
            cmd = [
                *C.taskset(C.CLIENT_CORE),
                sys.executable,
                str(Path(__file__).resolve()),
                "--worker",
                "--client",
                client,
                "--devices-file",
                str(devfile),
                "--sim-pid",
                str(sim.pid),
                "--rounds",
                str(rounds),
                "--runs",
                str(a.runs),
                "--warmup",
                str(a.warmup),
            ]
            try:
                out = subprocess.run(
                    cmd, capture_output=True, text=True, timeout=150, env=C.child_env(), check=False
                )
                if out.returncode != 0:
                    res = {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
                else:
                    res = json.loads(out.stdout.strip().splitlines()[-1])
            except subprocess.TimeoutExpired:
                res = {"error": "timeout"}
            row = {"client": client, **res}
            rows.append(row)
            print(
                f"{client:18} "
                + (
                    f"error: {res['error']}"
                    if "error" in res
                    else f"client {res['client_cpu_s_per_1000']:.4f} s/1000  "
                    f"{res['polls_per_s']:7.0f} polls/s  sim {res['sim_cpu_s_per_1000']:.4f} s/1000"
                    f"  (connect all {res['connect_all_s']:.2f} s)"
                ),
                flush=True,
            )
            time.sleep(0.3)
    finally:
        sim.stop()
    env["loadavg_after"] = C.os.getloadavg()
    env["elapsed_s"] = round(time.monotonic() - t_start, 1)
    md = [
        f"# Fleet of {a.count} simulated plugs, protocol {a.version} (bench/fleet_cpu.py)",
        "",
        (
            f"{env['date']}, {env.get('cpu_model', '?')}, {env['cpus']} CPUs, git {env['git']}, "
            f"Python {env['python']}. {'REPLAY devices (canned reply, not the simulator)' if a.replay else 'Simulator'} ({'uvloop' if a.sim_uvloop else 'asyncio'} loop) on "
            f"core {C.DEVICE_CORE}, client on core {C.CLIENT_CORE}; {a.runs} runs x {rounds} rounds "
            f"x {a.count} plugs (medians)."
        ),
        "",
        (
            "| client | pattern | client CPU s per 1000 polls | client µs/poll | polls/s "
            "| simulator CPU s per 1000 polls | connect all s |"
        ),
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    patterns = {
        "ours-asyncio": "gather per round, default loop",
        "ours-uvloop": "gather per round, uvloop",
        "ours-tasks-uvloop": "task per plug, back to back, uvloop",
        "ours-tasks-asyncio": "task per plug, back to back, default loop",
        "lean-uvloop": "PROTOTYPE bench/lean_client.py, gather, uvloop",
        "lean-asyncio": "PROTOTYPE bench/lean_client.py, gather, default loop",
        "tinytuya": "sequential, persistent sockets",
        "tinytuya-monitor": "Monitor (selectors), command+poll per round",
        "rustuya": "sequential, persistent",
    }
    for r in rows:
        if "error" in r:
            md.append(
                f"| {r['client']} | {patterns.get(r['client'], '')} | error: {r['error']} | | | | |"
            )
            continue
        md.append(
            f"| {r['client']} | {patterns.get(r['client'], '')} | "
            f"**{r['client_cpu_s_per_1000']:.4f}** | {r['client_cpu_us_per_poll']:.1f} | "
            f"{r['polls_per_s']:.0f} | {r['sim_cpu_s_per_1000']:.4f} | {r['connect_all_s']:.2f} |"
        )
    md += [
        "",
        (
            "Peers in docs/performance-notes.md (tuyamock fleet of 100, 3.4): rustuya 0.039 s, "
            "tinytuya Monitor 0.058 s, tuyapi 0.081 s per 1000 polls."
        ),
        "",
    ]
    text = "\n".join(md)
    data = {"environment": env, "params": {**vars(a), "rounds": rounds}, "rows": rows}
    stem = a.out or (
        f"fleet_cpu_{a.count}_{a.version.replace('.', '')}"
        + ("_replay" if a.replay else "")
        + ("_simuv" if a.sim_uvloop else "")
    )
    jp, mp = C.write_results(stem, data, text)
    print()
    print(text)
    print(f"wrote {jp} and {mp}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--version", default="3.4")
    p.add_argument("--clients", default=",".join(CLIENTS))
    p.add_argument("--polls", type=int, default=5000, help="polls per run (rounds = polls/count)")
    p.add_argument("--rounds", type=int, default=0, help="rounds per run (overrides --polls)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2, help="warm-up rounds")
    p.add_argument("--sim-uvloop", action="store_true", help="serve the simulator on uvloop")
    p.add_argument(
        "--replay",
        action="store_true",
        help="devices answer with a canned frame after the first query (not the "
        "simulator): the device side stops being the bottleneck",
    )
    p.add_argument("--out", default="", help="results file stem in bench/results/")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--client", help=argparse.SUPPRESS)
    p.add_argument("--devices-file", help=argparse.SUPPRESS)
    p.add_argument("--sim-pid", type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        worker(a)
    else:
        C.pin(C.CLIENT_CORE)
        orchestrate(a)


if __name__ == "__main__":
    main()
