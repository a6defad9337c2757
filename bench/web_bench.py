"""The web API under load: a year of history for 50 plugs, a monitor polling them meanwhile.

Three processes, everything on 127.0.0.1:

* the simulator fleet (``bench/sim_server.py``), pinned to core 1;
* THIS process, pinned to core 0: the whole service as ``powermonitor`` composes it -- Monitor,
  Hub, Recorder, StoreWriter and a SqliteStore file, and the web app served by uvicorn in the
  same event loop (uvloop, like the CLI; ``--loop asyncio`` for the default loop);
* the load client (this script with ``--client``), pinned to core 1 beside the simulator.

Before the service starts, the store gets a year of history through its bulk helper
``SqliteStore.backfill`` (``Store.write`` that skips the raw and minute rows the default
retention would delete at once, so the file looks like a collector's after a year): one sample
per plug per hour for 364 days, then one per minute for the last 24 hours (what a monitor
polling every few seconds leaves in the 1-minute tier), so the 24 h chart has 1440 points per
plug.

Measured:

1. **First paint**: what the dashboard fetches before it can draw -- ``GET /api/plugs`` (all 50
   cards, today's kWh from the store) and ``GET /api/plugs/{id}/history`` (24 h, 1-minute
   rollups); ``--paints`` sequential rounds, each charting another plug, so the history is
   never a cache hit (a cold first paint). Server time comes from an ASGI wrapper around the app (first byte of the request handled to the last byte of the response handed to the
   server); client time is the round trip seen by the client. Target: server time ≤ 100 ms.
2. **History at a fixed rate**: ``--rate`` requests/s (open loop: requests are sent on
   schedule whether or not earlier ones have finished, and latency counts from the scheduled
   time, so a stall cannot hide) for ``--duration`` s, a random plug's 24 h history each,
   while the monitor keeps polling. Target: p95 ≤ 50 ms. The history cache (a few seconds
   per plug and range, see ``web/history.py``) is on as in the service; ``--no-cache`` shows
   what the store and the encoding alone can do.

    python3 bench/web_bench.py                  # 50 plugs, 365 days, 200 req/s for 30 s
    python3 bench/web_bench.py --plugs 10 --days 30 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "src"))  # measure the checkout this file lives in
import _common as C

PAINT = {"X-Bench-Phase": "paint"}
LOAD = {"X-Bench-Phase": "load"}
HOUR = 3600.0
DAY = 86400.0
TIMEZONE = "Europe/Berlin"


# --------------------------------------------------------------------------- history


def seed_series(index: int, now: float, days: int) -> list[tuple[float, float]]:
    """(ts, power_w) for one plug: hourly for ``days - 1`` days, then per minute for 24 h.

    A daily shape (more in the afternoon) times a per-plug level, with three offline days.
    """
    rng = random.Random(index)
    level = rng.uniform(20.0, 400.0)
    start = math.floor((now - days * DAY) / HOUR) * HOUR
    minute_from = math.floor((now - DAY) / 60.0) * 60.0
    offline = {rng.randrange(days - 1) for _ in range(3)}

    def power(ts: float) -> float:
        shape = 0.6 + 0.4 * math.sin(((ts % DAY) / HOUR - 13.0) / 24.0 * 2 * math.pi)
        return round(level * shape * rng.uniform(0.85, 1.15), 1)  # plugs report 0.1 W

    hourly = [start + k * HOUR for k in range(int((minute_from - start) // HOUR))]
    minutes = [minute_from + k * 60.0 for k in range(int((now - 60.0 - minute_from) // 60.0))]
    return [(ts, power(ts)) for ts in hourly + minutes
            if int((ts - start) // DAY) not in offline]


async def seed_store(store: Any, devices: list[dict[str, Any]], now: float, days: int,
                     price: float) -> int:
    """Write the history in time order, in batches, through ``backfill`` (or ``write``)."""
    write = getattr(store, "backfill", store.write)
    from powermonitor.storage.base import Sample

    series = [seed_series(i, now, days) for i in range(len(devices))]
    names = {d["id"]: d["name"] for d in devices}
    batch: list[Sample] = []
    written = 0
    cursors = [0] * len(devices)
    totals = [0.0] * len(devices)
    previous: list[float | None] = [None] * len(devices)
    window = 6 * HOUR
    t = min(s[0][0] for s in series if s)
    while any(cursors[i] < len(series[i]) for i in range(len(devices))):
        t += window
        for i, device in enumerate(devices):
            points = series[i]
            while cursors[i] < len(points) and points[cursors[i]][0] < t:
                ts, power = points[cursors[i]]
                cursors[i] += 1
                prev = previous[i]
                dt = 0.0 if prev is None else ts - prev
                covered = dt if dt <= HOUR else 0.0  # an offline day is a gap
                wh = power * covered / HOUR
                totals[i] += wh
                batch.append(Sample(device["id"], ts, power, 230.0, power / 230.0, True,
                                    interval_wh=wh, covered_s=covered, uncovered_s=dt - covered,
                                    cost=wh / 1000.0 * price, total_wh=totals[i]))
                previous[i] = ts
        if len(batch) >= 20_000 or not any(
                cursors[i] < len(series[i]) for i in range(len(devices))):
            await write(batch, names)
            written += len(batch)
            batch = []
    return written


# --------------------------------------------------------------------------- server side


class Timing:
    """ASGI wrapper: server time per request, grouped by route kind."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state  # serve() finds the live streams there
        self.times: dict[str, list[float]] = defaultdict(list)
        self.recording = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.recording:
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        phase = dict(scope["headers"]).get(b"x-bench-phase", b"-").decode()
        kind = phase + ":" + ("history" if path.endswith("/history") else path)
        start = time.perf_counter()

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.times[kind].append((time.perf_counter() - start) * 1000.0)

        await self.app(scope, receive, timed_send)


async def run_server(args: argparse.Namespace) -> dict[str, Any]:
    from powermonitor.config import Config, Defaults, PlugConfig
    from powermonitor.monitor.supervisor import Monitor
    from powermonitor.recorder import Recorder
    from powermonitor.service import Service
    from powermonitor.storage.sqlite import SqliteStore
    from powermonitor.storage.writer import StoreWriter
    from powermonitor.tariff import Tariff
    from powermonitor.web import create_app, serve

    sim = C.start_simulator(args.plugs, ["3.3", "3.4"], uvloop=True, core=C.DEVICE_CORE)
    tmp = tempfile.TemporaryDirectory(prefix="pm-web-bench-")
    result: dict[str, Any] = {}
    try:
        store = SqliteStore(Path(tmp.name) / "powermonitor.db", timezone=TIMEZONE)
        await store.open()
        now = time.time()
        t0 = time.perf_counter()
        samples = await seed_store(store, sim.devices, now, args.days, 0.30)
        result["seed"] = {"samples": samples, "seconds": round(time.perf_counter() - t0, 1),
                          "db_mb": round(os.path.getsize(store.path) / 1e6, 1)}
        print(f"seeded {samples:,} samples in {result['seed']['seconds']} s "
              f"({result['seed']['db_mb']} MB)", flush=True)

        plugs = tuple(PlugConfig(name=d["name"], device_id=d["id"], host=d["ip"],
                                 local_key=d["key"], version=d["version"], port=d["port"])
                      for d in sim.devices)
        config = Config(defaults=Defaults(poll_interval=args.poll), plugs=plugs)
        tariff = Tariff(currency="EUR", timezone=TIMEZONE, flat_price=0.30)
        monitor = Monitor(config, start_spread=1.0)
        writer = StoreWriter(store)
        recorder = Recorder(monitor.hub, writer, tariff, counters=await store.counters(),
                            poll_intervals={p.device_id: args.poll for p in plugs},
                            names={p.device_id: p.name for p in plugs})
        service = Service(config=config, hub=monitor.hub, monitor=monitor, store=store,
                          writer=writer, recorder=recorder, tariff=tariff, token="bench")
        app = create_app(service, cache_history=not args.no_cache)
        timing = Timing(app)
        loop = asyncio.get_running_loop()
        bound: asyncio.Future[int] = loop.create_future()
        writer.start()
        tasks = [loop.create_task(monitor.run()), loop.create_task(recorder.run()),
                 loop.create_task(serve(timing, "127.0.0.1", 0, on_started=bound.set_result))]
        try:
            await measure(args, service, timing, await bound, result)
        finally:
            for task in reversed(tasks):
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            await writer.stop()
            await store.close()
        cache = app.state.history_cache
        result["history_cache"] = {"enabled": cache.enabled, "hits": cache.hits,
                                   "misses": cache.misses}
    finally:
        sim.stop()
        tmp.cleanup()
    return result


async def measure(args: argparse.Namespace, service: Any, timing: Timing, port: int,
                  result: dict[str, Any]) -> None:
    """Wait for every plug, then run the load client and collect what both sides saw."""
    monitor, writer = service.monitor, service.writer
    plugs = service.config.plugs
    async with asyncio.timeout(30):
        while not all(s.online for s in monitor.hub.states.values()):
            await asyncio.sleep(0.1)
    readings0 = sum(s.readings for s in monitor.hub.states.values())
    cpu0, wall0 = time.process_time(), time.perf_counter()
    timing.recording = True
    client = await asyncio.create_subprocess_exec(
        *C.taskset(C.DEVICE_CORE), sys.executable, __file__, "--client",
        "--port", str(port), "--ids", ",".join(p.device_id for p in plugs),
        "--paints", str(args.paints), "--rate", str(args.rate),
        "--duration", str(args.duration), "--sse", str(args.sse),
        stdout=asyncio.subprocess.PIPE, env=C.child_env())
    out, _ = await client.communicate()
    timing.recording = False
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    readings = sum(s.readings for s in monitor.hub.states.values()) - readings0
    result["client"] = json.loads(out.decode().strip().splitlines()[-1])
    result["server_ms"] = {k: summarize(v) for k, v in timing.times.items()}
    result["service"] = {
        "cpu_percent": round(100 * cpu / wall, 1),
        "readings_per_s": round(readings / wall, 1),
        "expected_readings_per_s": round(args.plugs / args.poll, 1),
        "writer": str(writer.stats),
    }


def summarize(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": round(statistics.median(values), 2),
            "p95": round(C.quantile(values, 0.95), 2), "p99": round(C.quantile(values, 0.99), 2),
            "max": round(max(values), 2)}


# --------------------------------------------------------------------------- client side


class Connection:
    """A minimal keep-alive HTTP/1.1 GET client on one socket (httpx costs more CPU per request
    than the server does, and would measure itself instead of the server)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def run_client(args: argparse.Namespace) -> dict[str, Any]:
    ids = args.ids.split(",")
    rng = random.Random(1)
    out: dict[str, Any] = {}
    loop = asyncio.get_running_loop()
    stalled = await stalled_live_clients(args.port, args.sse)  # held until the end
    out["live_clients"] = {"asked": args.sse, "admitted": sum(s == 200 for s, _ in stalled),
                           "refused": sum(s == 503 for s, _ in stalled)}

    # 1. first paint: the cards, then a 24 h chart -- of another plug each round, so the
    #    history is never served from the cache (a cold first paint)
    conn = Connection(args.port)
    for _ in range(3):  # warm-up, not measured
        await conn.get("/api/plugs", {})
    await conn.get(f"/api/plugs/{ids[0]}/history", {})
    paint: list[float] = []
    sizes: dict[str, int] = {}
    for device_id in ids[1:args.paints + 1]:
        start = time.perf_counter()
        s1, plugs = await conn.get("/api/plugs", PAINT)
        s2, history = await conn.get(f"/api/plugs/{device_id}/history", PAINT)
        paint.append((time.perf_counter() - start) * 1000.0)
        assert s1 == 200 and s2 == 200, (s1, s2)
        sizes = {"plugs_bytes": len(plugs), "history_bytes": len(history),
                 "history_points": json.loads(history)["points"],
                 "cards": len(json.loads(plugs)["plugs"])}
    conn.close()
    out["first_paint_client_ms"] = summarize(paint)
    out["sizes"] = sizes

    # 2. history at a fixed rate, open loop: a scheduler queues each request at its time;
    #    latency counts from that time, so waiting for a free connection is included
    queue: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        conn = Connection(args.port)
        try:
            while (job := await queue.get()) is not None:
                at, path = job
                try:
                    status, _ = await conn.get(path, LOAD)
                    errors += status != 200
                except (OSError, asyncio.IncompleteReadError):
                    errors += 1
                    conn = Connection(args.port)
                latencies.append((time.perf_counter() - at) * 1000.0)
        finally:
            conn.close()

    workers = [loop.create_task(worker()) for _ in range(args.connections)]
    n = int(args.rate * args.duration)
    t0 = time.perf_counter() + 0.1  # perf_counter: uvloop's loop.time() has 1 ms steps
    for k in range(n):
        at = t0 + k / args.rate
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        queue.put_nowait((at, f"/api/plugs/{rng.choice(ids)}/history"))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    span = time.perf_counter() - t0
    out["history_load"] = {"requests": n, "errors": errors, "seconds": round(span, 2),
                           "achieved_per_s": round(n / span, 1),
                           "connections": args.connections,
                           "latency_ms": summarize(latencies)}
    for _, writer in stalled:
        writer.close()
    return out


async def stalled_live_clients(port: int, n: int
                               ) -> list[tuple[int, asyncio.StreamWriter]]:
    """``n`` live-event clients that read their status line and then nothing: the worst
    dashboards (a laptop asleep with the page open). Polling must not notice them."""
    out = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status = int((await reader.readuntil(b"\r\n")).split(b" ", 2)[1])
        out.append((status, writer))
    return out


# --------------------------------------------------------------------------- report


def markdown(args: argparse.Namespace, r: dict[str, Any], env: dict[str, Any]) -> str:
    c, s = r["client"], r["server_ms"]
    plugs_ms, hist_ms = s.get("paint:/api/plugs", {}), s.get("paint:history", {})
    load_ms = s.get("load:history", {})
    cache = r["history_cache"]
    cache_text = (f"history cache on ({cache['hits']} served from it, {cache['misses']} "
                  "computations)" if cache["enabled"] else "history cache off (`--no-cache`)")
    paint_server = plugs_ms.get("p50", math.nan) + hist_ms.get("p50", math.nan)
    load, sizes, service = c["history_load"], c["sizes"], r["service"]
    command = (f" --name {args.name}" + (f" --rate {args.rate:g}" if args.rate != 200 else "")
               + (" --no-cache" if args.no_cache else ""))

    def row(label: str, d: dict[str, Any], target: str = "") -> str:
        return f"| {label} | {d.get('p50')} | {d.get('p95')} | {d.get('p99')} | {target} |"

    return "\n".join([
        f"### `web_bench.py{command}`",
        "",
        (f"{env['date']}; {env.get('cpu_model', '?')}, {env['cpus']} cores; Python "
        f"{env['python']}; git {env['git']}. The service (monitor, recorder, writer, SQLite, "
        f"uvicorn on {args.loop}) runs on core 0; the simulator ({args.plugs} plugs polled "
        f"every {args.poll:g} s) and the load client share core 1. History: "
        f"{r['seed']['samples']:,} samples ({args.days} days hourly, the last 24 h per "
        f"minute) loaded with `SqliteStore.backfill` in {r['seed']['seconds']} s "
        f"({r['seed']['db_mb']} MB file)."),
        "",
        "| Measure (ms) | p50 | p95 | p99 | Target |",
        "|---|---|---|---|---|",
        row(f"First paint, server: `GET /api/plugs` ({sizes['cards']} cards, "
            f"{sizes['plugs_bytes']:,} B)", plugs_ms),
        row(f"First paint, server: 24 h history, uncached ({sizes['history_points']} points, "
            f"{sizes['history_bytes']:,} B)", hist_ms),
        f"| First paint, server, both (sum of the p50s) | {paint_server:.1f} | | | ≤ 100 |",
        row("First paint, client round trips, both", c["first_paint_client_ms"]),
        row(f"History, {args.rate:g} req/s for {args.duration:g} s, open loop, client latency",
            load["latency_ms"], "p95 ≤ 50"),
        row("History under that load, server time", load_ms),
        "",
        (f"{load['requests']} requests, {load['errors']} errors, {load['achieved_per_s']} req/s "
        f"achieved over {load['connections']} connections; {cache_text}. Service CPU "
        f"{service['cpu_percent']} % of one core for the whole measurement; the monitor "
        f"delivered {service['readings_per_s']} readings/s (expected "
        f"{service['expected_readings_per_s']}); stalled live clients held meanwhile: "
        f"{c['live_clients']['admitted']} admitted, {c['live_clients']['refused']} refused."),
        "",
    ])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--plugs", type=int, default=50)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--poll", type=float, default=5.0, help="monitor poll interval, s")
    p.add_argument("--paints", type=int, default=49,
                   help="first-paint rounds (one plug each, at most plugs - 1)")
    p.add_argument("--rate", type=float, default=200.0, help="history requests per second")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of history load")
    p.add_argument("--connections", type=int, default=16, help="client keep-alive connections")
    p.add_argument("--sse", type=int, default=0,
                   help="stalled live-event clients held during the run (above the cap: refused)")
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    p.add_argument("--no-cache", action="store_true",
                   help="turn the history cache off (every request runs query + encoding)")
    p.add_argument("--name", default="web_bench", help="results file name in bench/results/")
    p.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--ids", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.client:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            print(json.dumps(runner.run(run_client(args))), flush=True)
        return
    C.pin(0)
    env = C.environment()
    if args.loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            result = runner.run(run_server(args))
    else:
        result = asyncio.run(run_server(args))
    result["args"] = vars(args)
    text = markdown(args, result, env)
    jpath, mpath = C.write_results(args.name, {"environment": env, **result}, text)
    print(text)
    print(f"results: {jpath} {mpath}")


if __name__ == "__main__":
    main()
