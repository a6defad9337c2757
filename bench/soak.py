"""Fault soak: ``powermonitor run`` against ~200 misbehaving simulated plugs, a web flood and
``kill -9`` of both processes; then checks what it stored.

    python3 bench/soak.py --plugs 200 --duration 600 --db sqlite     # the long run (~12 min)
    python3 bench/soak.py --plugs 200 --duration 600 --db postgres   # a throw-away PostgreSQL

What it does (times relative to the first healthy answer of the service):

* the simulator (``soak_sim.py``, its own process, fixed ports) serves the plugs; every fault it
  can inject (``soak_sim.FAULT_FLAGS``) is spread over the plugs (one plug in 12 stays clean) and
  switched on and off in windows between 8 % and 75 % of the run; four plugs are hostile all
  the time (1e300 W, negative power, NaN/inf, deeply nested JSON);
* ``Flood`` (``soak_flood.py``) hits the HTTP API and the event stream, honestly and not;
* the simulator is killed with SIGKILL (restarted once health reports every plug offline), and
  so is the service (restarted at once), ``--kills`` times each;
* at the end every fault is off; it waits until health reports every plug back, stops the
  service with SIGTERM and reads the database.

Checked (each failure is a line in ``problems``): the service never exits on its own and
exits 0 on SIGTERM; no traceback in its log; memory flat (RSS of the longest-lived service
process at the end vs after warm-up); every plug back within the backoff cap (plus timeouts)
after each of its outages; stored kWh == the re-integration of the stored readings, gaps
recorded as gaps, daily rollups == counters; counters never backwards (snapshots at each kill,
API totals within a process); health honest (plug count, 0 online while the simulator is dead,
everyone back at the end, the same count as /api/plugs). Timings are reported, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO / "src"), str(HERE), str(REPO / "tests")]

from portpick import fixed_port_block  # tests/portpick.py: the one port rule
from soak_checks import (
    check_counters_forward,
    check_energy,
    check_recovery,
    missed_readings,
    read_counters,
    read_store,
)
from soak_flood import Flood, FloodSizes
from soak_sim import FAULT_FLAGS, HOSTILE_DPS

from powermonitor.client.reconnect import Backoff

KINDS: list[str | None] = [None, *FAULT_FLAGS]
"""Plug i gets KINDS[i % len(KINDS)]; None: a clean plug, the control group."""


@dataclass
class SoakConfig:
    plugs: int = 200
    duration: float = 600.0
    db: str = "sqlite"  # sqlite, postgres (a throw-away server) or a postgresql:// URL
    kills: int = 1  # SIGKILLs of the simulator and of the service, each
    seed: int = 1
    interval: float = 1.0
    timeout: float = 2.0
    max_gap: float = 5.0  # [energy] max_gap: short, so fault windows become recorded gaps
    flood: FloodSizes = field(default_factory=FloodSizes)


@dataclass
class SoakResult:
    plugs: int
    duration_s: float
    db: str
    faults: dict[str, int] = field(default_factory=dict)  # fault windows per kind
    readings: int = 0
    readings_expected_healthy: int = 0
    readings_missed_healthy: int = 0
    gaps_recorded: int = 0
    recoveries_checked: int = 0
    recoveries_pending: int = 0
    worst_recovery_s: float = 0.0
    recovery_bound_s: float = 0.0
    sim_kills: int = 0
    service_kills: int = 0
    crashes: int = 0
    rss_mb: dict[str, float] = field(default_factory=dict)
    http: dict[str, int] = field(default_factory=dict)
    sse_events: int = 0
    health_zero_when_sim_dead: list[bool] = field(default_factory=list)
    kills: list[list[Any]] = field(default_factory=list)  # [what, down at, back at]
    problems: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        rows = [(k, v) for k, v in asdict(self).items() if k not in ("problems", "kills")]
        out = ["| what | value |", "|---|---|"]
        out += [f"| {k} | {json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v} |"
                for k, v in rows]
        out.append(f"| problems | {len(self.problems)} |")
        return "\n".join(out + [f"- {p}" for p in self.problems[:50]])


def make_windows(cfg: SoakConfig, t0: float, ordinary: int) -> list[list[Any]]:
    """Fault windows ``[plug, kind, start, end]`` (absolute times) between 8 % and 75 %."""
    rng = random.Random(cfg.seed)
    lo, hi = t0 + max(5.0, 0.08 * cfg.duration), t0 + 0.75 * cfg.duration
    per_plug = max(1, int(cfg.duration // 240))
    windows: list[list[Any]] = []
    for i in range(ordinary):
        kind = KINDS[i % len(KINDS)]
        if kind is None:
            continue
        slot = (hi - lo) / per_plug
        for w in range(per_plug):
            length = rng.uniform(0.15, 0.6) * slot
            start = lo + w * slot + rng.uniform(0, slot - length)
            windows.append([i, kind, start, start + length])
    return windows


def spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None
          ) -> subprocess.Popen[bytes]:
    """Start a process with its stdout and stderr appended to ``log`` (never a pipe: a full
    pipe would stall it)."""
    with open(log, "ab") as fh:
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)


def merge(outages: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    """Overlapping outages as one: (first start, last end, largest bound)."""
    out: list[tuple[float, float, float]] = []
    for start, end, bound in sorted(outages):
        if out and start <= out[-1][1]:
            s, e, b = out[-1]
            out[-1] = (s, max(e, end), max(b, bound))
        else:
            out.append((start, end, bound))
    return out


class Soak:
    def __init__(self, cfg: SoakConfig, work: Path, db: str) -> None:
        self.cfg, self.work, self.db = cfg, work, db
        self.result = SoakResult(cfg.plugs, cfg.duration, cfg.db)
        self.hostile = min(len(HOSTILE_DPS), max(0, cfg.plugs // 10))
        self.ordinary = cfg.plugs - self.hostile
        self.base_port = fixed_port_block(cfg.plugs)
        self.web_port = fixed_port_block(1)
        self.plan_path = work / "plan.json"
        self.plan: dict[str, Any] = {
            "count": cfg.plugs, "seed": cfg.seed, "base_port": self.base_port,
            "hostile": self.hostile, "versions": ["3.3", "3.4", "3.5", "3.1", "3.2"],
            "profiles": ["fridge", "tv", "pc", "kettle", "washer", "lamp", "constant:100"],
            "windows": [],
        }
        self.sim: subprocess.Popen[bytes] | None = None
        self.service: subprocess.Popen[bytes] | None = None
        self.killing = False
        self.devices: list[dict[str, Any]] = []
        self.rss: list[list[float]] = []  # per service process: RSS samples (MB)
        self.api_totals: list[dict[str, float]] = []  # per service process: last API totals
        self.snapshots: list[dict[str, float]] = []
        self.outages: list[tuple[float, float, float]] = []  # everyone's (sim, service)
        backoff = Backoff()
        slack = 3 * cfg.timeout + cfg.interval + 10.0
        self.bound = backoff.cap * (1 + backoff.jitter) + slack
        self.key_bound = backoff.key_error_delay * (1 + backoff.jitter) + slack
        self.result.recovery_bound_s = round(self.bound, 1)

    # ------------------------------------------------------------------ processes

    def write_plan(self) -> None:
        tmp = self.plan_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.plan))
        os.replace(tmp, self.plan_path)

    async def start_sim(self) -> None:
        ready = self.plan_path.with_suffix(".ready")
        ready.unlink(missing_ok=True)
        self.sim = spawn([sys.executable, str(HERE / "soak_sim.py"), str(self.plan_path)],
                         self.work / "sim.log")
        while not ready.exists():
            if self.sim.poll() is not None:
                raise RuntimeError(f"simulator died: see {self.work / 'sim.log'}")
            await asyncio.sleep(0.05)
        self.devices = json.loads(ready.read_text())

    def write_config(self) -> Path:
        lines = [f"[defaults]\npoll_interval = {self.cfg.interval}\ntimeout = {self.cfg.timeout}\n",
                 f"[energy]\nmax_gap = {self.cfg.max_gap}\n",
                 '[tariff]\ncurrency = "EUR"\ntimezone = "UTC"\nprice = 0.25\n']
        for d in self.devices:
            lines.append(f'[[plugs]]\nname = "{d["name"]}"\nid = "{d["id"]}"\nhost = "127.0.0.1"'
                         f'\nkey = "{d["key"]}"\nversion = "{d["version"]}"\nport = {d["port"]}\n')
        path = self.work / "config.toml"
        path.write_text("\n".join(lines))
        path.chmod(0o600)
        return path

    async def start_service(self, config: Path, flood: Flood) -> float:
        env = {**os.environ, "XDG_DATA_HOME": str(self.work / "data"),
               "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")
                                              ])}
        self.service = spawn(
            [sys.executable, "-m", "powermonitor", "run", "--config", str(config), "--db",
             self.db, "--listen", f"127.0.0.1:{self.web_port}"], self.work / "service.log", env)
        self.rss.append([])
        self.api_totals.append({})
        while await flood.get_json("/api/health") is None:
            if self.service.poll() is not None:
                raise RuntimeError(f"service did not start: see {self.work / 'service.log'}")
            await asyncio.sleep(0.1)
        found = re.search(r"in (\S*api-token)", (self.work / "service.log").read_text())
        if found and Path(found.group(1)).exists():  # where the service says it keeps it
            flood.token = Path(found.group(1)).read_text().strip()
        return time.time()

    def sigkill(self, proc: subprocess.Popen[bytes] | None) -> None:
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    # ------------------------------------------------------------------ watchers

    async def watch(self, flood: Flood, config: Path) -> None:
        """Every second: crash check, RSS, health; every 5 s the API totals."""
        n = 0
        while True:
            await asyncio.sleep(1.0)
            proc = self.service
            if proc is None:
                continue
            if proc.poll() is not None and not self.killing:
                self.result.crashes += 1
                self.result.problems.append(f"service exited on its own (rc {proc.returncode})")
                await self.start_service(config, flood)
                continue
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.rss[-1].append(int(line.split()[1]) / 1024)
            health = await flood.get_json("/api/health")
            if health is not None and health.get("plugs") != self.cfg.plugs:
                self.result.problems.append(f"health says {health.get('plugs')} plugs")
            n += 1
            if n % 5 == 0:
                listing = await flood.get_json("/api/plugs")
                if listing is not None:
                    seen = self.api_totals[-1]
                    for p in listing["plugs"]:
                        total = p.get("total_kwh")
                        if total is None:
                            continue
                        if total < seen.get(p["id"], 0.0):
                            self.result.problems.append(
                                f"{p['id']}: API total went from {seen[p['id']]} to {total} kWh")
                        seen[p["id"]] = total

    async def online(self, flood: Flood) -> int | None:
        health = await flood.get_json("/api/health")
        return None if health is None else int(health["online"])

    async def wait_online(self, flood: Flood, pred: Any, limit: float) -> bool:
        """Until health's online count satisfies ``pred`` (a real signal) or ``limit`` s."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            online = await self.online(flood)
            if online is not None and pred(online):
                return True
            await asyncio.sleep(0.5)
        return False

    # ------------------------------------------------------------------ the run

    async def run(self) -> SoakResult:
        cfg, res = self.cfg, self.result
        self.write_plan()
        await self.start_sim()
        config = self.write_config()
        flood = Flood(self.web_port, [d["id"] for d in self.devices], sizes=cfg.flood)
        started = await self.start_service(config, flood)
        t0 = started
        self.plan["windows"] = make_windows(cfg, t0, self.ordinary)
        self.write_plan()
        for _, kind, _, _ in self.plan["windows"]:
            res.faults[kind] = res.faults.get(kind, 0) + 1
        tasks = [asyncio.create_task(flood.run()), asyncio.create_task(self.watch(flood, config))]
        events = sorted([(f, "sim") for f in (0.3, 0.65)[:cfg.kills]]
                        + [(f, "service") for f in (0.45, 0.85)[:cfg.kills]])
        try:
            for frac, what in events:
                await asyncio.sleep(max(0.0, t0 + frac * cfg.duration - time.time()))
                down = time.time()
                if what == "sim":
                    self.sigkill(self.sim)
                    res.sim_kills += 1
                    # honest health: every plug offline while the simulator is dead
                    res.health_zero_when_sim_dead.append(
                        await self.wait_online(flood, lambda n: n == 0, 30.0))
                    await self.start_sim()
                else:
                    self.killing = True  # the watcher must not count this as a crash
                    self.sigkill(self.service)
                    res.service_kills += 1
                    self.snapshots.append(await read_counters(self.db))
                    await self.start_service(config, flood)
                    self.killing = False
                self.outages.append((down, time.time(), self.bound))
                res.kills.append([what, round(down, 3), round(time.time(), 3)])
            await asyncio.sleep(max(0.0, t0 + cfg.duration - time.time()))
            run_end = time.time()
            pending = self.pending(run_end)
            want = self.ordinary - len(pending)
            if not await self.wait_online(flood, lambda n: n >= want, self.bound):
                res.problems.append(f"health: fewer than {want} plugs online {self.bound:.0f} s "
                                    f"after the last fault (pending: {sorted(pending)})")
            await self.honest_count(flood, res)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        res.http = dict(flood.status)
        res.sse_events = flood.sse_events
        await self.stop_all()
        await self.check(t0, run_end + self.bound)
        return res

    def pending(self, now: float) -> set[int]:
        """Plugs whose last outage may legitimately still last (a wrong key waits 5 min)."""
        return {i for i, kind, _, end in self.plan["windows"]
                if kind == "wrong-key" and end + self.key_bound > now}

    async def honest_count(self, flood: Flood, res: SoakResult) -> None:
        """Health's online count equals the plugs /api/plugs shows online (same moment: asked
        again until two answers in a row agree, at most 10 times)."""
        for _ in range(10):
            a = await self.online(flood)
            listing = await flood.get_json("/api/plugs")
            b = await self.online(flood)
            if listing is None or a is None or a != b:
                continue
            if sum(1 for p in listing["plugs"] if p["online"]) == a:
                return
        res.problems.append("health's online count never matched /api/plugs")

    async def stop_all(self) -> None:
        res = self.result
        if self.service is not None:
            self.killing = True
            self.service.send_signal(signal.SIGTERM)
            try:
                rc = self.service.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.service.kill()
                rc = self.service.wait()
            if rc != 0:
                res.problems.append(f"service exited {rc} on SIGTERM")
        if self.sim is not None:
            self.sim.send_signal(signal.SIGTERM)
            try:
                self.sim.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.sim.kill()
        log = (self.work / "service.log").read_text(errors="replace")
        if "Traceback" in log:
            res.problems.append(f"traceback in the service log ({self.work / 'service.log'})")

    async def check(self, t0: float, run_end: float) -> None:
        cfg, res = self.cfg, self.result
        ids = [d["id"] for d in self.devices]
        stored = await read_store(self.db, ids, t0)
        self.snapshots.append({d: c.total_wh for d, c in stored.counters.items()})
        res.problems += check_counters_forward(self.snapshots)
        energy_problems, res.gaps_recorded = check_energy(stored, cfg.max_gap)
        res.problems += energy_problems
        elapsed_h = (time.time() - t0) / 3600
        for d, c in stored.counters.items():
            if c.total_wh > 25_000 * elapsed_h:  # more than a 25 kW load: absurd values counted
                res.problems.append(f"{d}: {c.total_wh!r} Wh in {elapsed_h * 60:.0f} min")
        res.readings = sum(len(v) for v in stored.samples.values())
        downs: dict[str, list[tuple[float, float, float]]] = {}
        for i in range(self.ordinary):
            mine = [(s, e, self.key_bound if k == "wrong-key" else self.bound)
                    for p, k, s, e in self.plan["windows"] if p == i]
            downs[ids[i]] = merge(mine + self.outages)
        problems, res.recoveries_checked, res.recoveries_pending, worst = check_recovery(
            stored.samples, downs, run_end)
        res.problems += problems
        res.worst_recovery_s = round(worst, 1)
        for device_id, outages in downs.items():
            points = stored.samples.get(device_id, [])
            times = [p.ts for p in points]
            healthy, cursor = [], t0 + 10.0
            for start, end, _ in outages:
                back = next((t for t in times if t > end), math.inf)
                if start > cursor:
                    healthy.append((cursor, start))
                cursor = max(cursor, back)
            if cursor < run_end - self.bound:
                healthy.append((cursor, run_end - self.bound))
            expected, missed = missed_readings(points, healthy, cfg.interval)
            res.readings_expected_healthy += expected
            res.readings_missed_healthy += missed
        lives = [r for r in self.rss if len(r) > 10]
        if lives:
            longest = max(lives, key=len)
            warm = longest[min(len(longest) - 1, max(5, len(longest) // 10))]
            res.rss_mb = {"start": round(warm, 1), "end": round(longest[-1], 1),
                          "max": round(max(max(r) for r in lives), 1)}
            if longest[-1] > 2 * warm + 64:
                res.problems.append(f"RSS grew from {warm:.0f} to {longest[-1]:.0f} MB")


async def make_database(dsn: str) -> str:
    """A fresh database on the server of ``dsn``; its DSN."""
    import asyncpg  # type: ignore[import-untyped]

    name = f"soak_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return dsn.rsplit("/", 1)[0] + "/" + name


async def soak(cfg: SoakConfig, work: Path, pg_dsn: str | None = None) -> SoakResult:
    """One soak in ``work``. ``cfg.db``: sqlite, postgres (needs ``pg_dsn``) or a URL."""
    if cfg.db == "sqlite":
        db = str(work / "soak.db")
    elif cfg.db == "postgres":
        assert pg_dsn is not None
        db = await make_database(pg_dsn)
    else:
        db = await make_database(cfg.db)
    return await Soak(cfg, work, db).run()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plugs", type=int, default=200)
    ap.add_argument("--duration", type=float, default=600.0, help="seconds")
    ap.add_argument("--db", default="sqlite", help="sqlite, postgres or a postgresql:// URL")
    ap.add_argument("--kills", type=int, default=2, choices=(0, 1, 2))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", type=Path, default=None, help="keep logs and the database here")
    ap.add_argument("--out", default=None, help="write results/<out>.{md,json}")
    args = ap.parse_args()
    cfg = SoakConfig(plugs=args.plugs, duration=args.duration, db=args.db, kills=args.kills,
                     seed=args.seed)
    import tempfile

    work = args.work or Path(tempfile.mkdtemp(prefix="pm-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    if cfg.db == "postgres":
        from storage.pgserver import pg_bin, throwaway_postgres

        bindir = pg_bin()
        if bindir is None:
            print("PostgreSQL server binaries not found (apt-get install postgresql)")
            return 2
        with throwaway_postgres(bindir) as dsn:
            result = asyncio.run(soak(cfg, work, dsn))
    else:
        result = asyncio.run(soak(cfg, work))
    text = result.markdown()
    print(text)
    print(f"(logs in {work})")
    if args.out:
        (HERE / "results" / f"{args.out}.md").write_text(text + "\n")
        (HERE / "results" / f"{args.out}.json").write_text(
            json.dumps(asdict(result), indent=2) + "\n")
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
