"""SQLite store benchmark: batched ingest rate, and energy by day over a year of 50 plugs.

Part 1, ingest. N plugs polled every ``--poll`` seconds (with per-plug phase offsets, so 1 in
``poll/60`` intervals straddles a minute), written with ``SqliteStore.write`` in batches of
5 000 (the writer's default) and 50 000, each run into a fresh file in a temporary directory
on disk. Also the same stream through ``StoreWriter.submit`` + ``flush`` (the service's path).
Reported: samples per second (median of ``--repeat`` runs) and where the time goes (planning in
Python vs. the SQLite transaction).

Part 2, a year. ``--year-plugs`` plugs × 365 days ending now, one sample every ``--year-step``
seconds per plug, loaded with ``SqliteStore.backfill`` in one-day batches with the default
retention (raw 14 days, minutes 90 days, hours and days forever), so the file looks like a
collector's after a year. Then ``energy(by="day")`` over the whole year (50 × 365 rows) is
timed (first call, then the median and p90 of ``--queries`` calls), with a split between the
SQL fetch and building the ``EnergyRow`` objects; week, month, hour and history queries too.
"Cold" is the query in an open store with its past-days cache emptied (the definition used
since the first run). Also timed: the same query as the first thing a fresh process does
(imports excluded), and the whole ``powermonitor energy --by day`` command as a user runs it
(interpreter start-up, imports, rendering; JSON and table).

Writes results/storage_ingest.{json,md}. Everything stays in a temporary directory, unless
``--year-db PATH`` keeps the year's file (and reuses it on the next run: loading takes minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import child_env, ensure_importable, environment, quantile, write_results

ensure_importable()

from powermonitor.storage.base import Retention, Sample
from powermonitor.storage.rollup import Calendar, plan_batch
from powermonitor.storage.sqlite import SqliteStore
from powermonitor.storage.writer import StoreWriter

TZ = "Europe/Berlin"


def stream(plugs: int, count: int, poll: float, t0: float) -> list[Sample]:
    """``count`` samples round-robin over ``plugs``, time-ordered, trapezoid-like energy."""
    out: list[Sample] = []
    totals = [0.0] * plugs
    for i in range(count):
        d, k = i % plugs, i // plugs
        p = 20.0 + 37.0 * d + (k % 17)
        wh = p * poll / 3600.0
        totals[d] += wh
        out.append(
            Sample(
                f"bf{d:04d}a1b2c3d4e5f6",
                t0 + k * poll + d * poll / plugs,
                p,
                229.5 + (k % 7) * 0.1,
                p / 230.0,
                True,
                interval_wh=wh,
                covered_s=poll,
                cost=wh * 0.00032,
                total_wh=totals[d],
            )
        )
    return out


async def ingest_once(samples: list[Sample], batch: int, directory: Path) -> dict[str, float]:
    path = directory / f"ingest-{batch}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    async with SqliteStore(path, timezone=TZ) as store:
        gc.collect()
        t, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(samples), batch):
            await store.write(samples[i : i + batch], {})
        dt, cpu = time.perf_counter() - t, time.process_time() - cpu
    return {
        "seconds": dt,
        "rate": len(samples) / dt,
        "cpu_us": cpu / len(samples) * 1e6,
        "bytes": path.stat().st_size,
    }


async def writer_once(samples: list[Sample], directory: Path) -> dict[str, float]:
    path = directory / "writer.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    async with SqliteStore(path, timezone=TZ) as store:
        writer = StoreWriter(store, max_backlog=len(samples) + 1)
        writer.start()
        gc.collect()
        t = time.perf_counter()
        for s in samples:
            writer.submit(s, None)
        t_submit = time.perf_counter() - t
        await writer.flush()
        dt = time.perf_counter() - t
        await writer.stop()
    return {
        "seconds": dt,
        "rate": len(samples) / dt,
        "submit_us": t_submit / len(samples) * 1e6,
        "batches": writer.stats.batches,
    }


def plan_cost(samples: list[Sample], batch: int) -> float:
    cal = Calendar(TZ)
    t = time.perf_counter()
    for i in range(0, len(samples), batch):
        plan_batch(samples[i : i + batch], cal)
    return (time.perf_counter() - t) / len(samples) * 1e6


async def year(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    path = Path(args.year_db) if args.year_db else directory / "year.db"
    stamp = Path(str(path) + ".json")  # when a kept year was loaded (its "now")
    if path.exists() and stamp.exists():
        loaded = json.loads(stamp.read_text())
        out = await year_queries(args, path, loaded["now"])
        out.update({k: v for k, v in loaded.items() if k != "now"})
        return out
    now = time.time()
    out = await year_load(args, path, now)
    if args.year_db:
        stamp.write_text(json.dumps({**out, "now": now}))
    out.update(await year_queries(args, path, now))
    return out


async def year_load(args: argparse.Namespace, path: Path, now: float) -> dict[str, Any]:
    start = now - 365 * 86400
    per_day = int(86400 // args.year_step)
    out: dict[str, Any] = {"plugs": args.year_plugs, "step_s": args.year_step}
    async with SqliteStore(path, timezone=TZ, retention=Retention()) as store:
        t = time.perf_counter()
        n = 0
        totals = [0.0] * args.year_plugs
        for day in range(365):
            batch: list[Sample] = []
            for k in range(per_day):
                base = start + day * 86400 + k * args.year_step
                for d in range(args.year_plugs):
                    p = 15.0 + 40.0 * d + 200.0 * ((day + k) % 3 == 0)
                    wh = p * args.year_step / 3600
                    totals[d] += wh
                    batch.append(
                        Sample(
                            f"bf{d:04d}a1b2c3d4e5f6",
                            base + d * 3.0,
                            p,
                            230.0,
                            p / 230,
                            True,
                            interval_wh=wh,
                            covered_s=args.year_step,
                            cost=wh * 0.00032,
                            total_wh=totals[d],
                        )
                    )
            await store.backfill(batch, {}, now=now)
            n += len(batch)
        out["load_seconds"] = time.perf_counter() - t
        out["samples"] = n
        out["load_rate"] = n / out["load_seconds"]
        await store.purge(now)
        sizes = {}
        for table in ("samples", "rollup_1m", "rollup_1h", "rollup_1d"):
            sizes[table] = (await store._run(store._query, f"SELECT count(*) FROM {table}", ()))[0][
                0
            ]
        out["rows"] = sizes
    out["file_mb"] = path.stat().st_size / 1e6
    return out


async def year_queries(args: argparse.Namespace, path: Path, now: float) -> dict[str, Any]:
    start = now - 365 * 86400
    out: dict[str, Any] = {}
    async with SqliteStore(path, timezone=TZ, retention=Retention()) as store:

        async def timed(fn: Any, *a: Any) -> tuple[float, Any]:
            t = time.perf_counter()
            r = await fn(*a)
            return (time.perf_counter() - t) * 1000, r

        first, rows = await timed(store.energy, "day", start, now)
        out["energy_day_rows"] = len(rows)
        out["energy_day_first_ms"] = first
        cold, cold_cpu = [], []
        for _ in range(args.queries):  # without the past-days cache: the query and the objects
            store._forget_days(None)
            cpu = time.process_time()
            cold.append((await timed(store.energy, "day", start, now))[0])
            cold_cpu.append((time.process_time() - cpu) * 1000)
        out["energy_day_cold_ms"] = {
            "median": statistics.median(cold),
            "p90": quantile(cold, 0.9),
            "min": min(cold),
            "cpu_median": statistics.median(cold_cpu),
        }
        times = [(await timed(store.energy, "day", start, now))[0] for _ in range(args.queries)]
        out["energy_day_ms"] = {
            "median": statistics.median(times),
            "p90": quantile(times, 0.9),
            "min": min(times),
        }
        total_wh = sum(r.wh for r in rows)
        out["energy_day_total_kwh"] = total_wh / 1000
        out["counters_total_kwh"] = (
            sum(c.total_wh for c in (await store.counters()).values()) / 1000
        )

        # where the time of energy(by="day") goes: the SQL + fetch alone (the store's per-plug
        # queries, without building EnergyRow objects), in the store's thread
        lo, hi = store._cal.span("day", round(start * 1000), round(now * 1000))
        sql = (
            "SELECT r.bucket_start / 1000.0, r.bucket_end / 1000.0, r.wh, r.cost, r.covered_s,"
            " r.uncovered_s FROM rollup_1d r WHERE r.device_id = ? AND r.bucket_start >= ?"
            " AND r.bucket_start < ? ORDER BY r.bucket_start"
        )
        devices = [d.device_id for d in await store.devices()]

        def fetch_all() -> None:
            for dev in devices:
                store._query(sql, (dev, lo, hi))

        fetch = []
        for _ in range(args.queries):
            fetch.append((await timed(store._run, fetch_all))[0])
        out["energy_day_fetch_only_ms"] = statistics.median(fetch)
        for by in ("week", "month"):
            ts = [(await timed(store.energy, by, start, now))[0] for _ in range(args.queries)]
            out[f"energy_{by}_ms"] = statistics.median(ts)
        ts = [(await timed(store.energy, "hour", now - 7 * 86400, now))[0] for _ in range(10)]
        out["energy_hour_7d_ms"] = statistics.median(ts)
        dev = "bf0000a1b2c3d4e5f6"
        ts = [(await timed(store.history, dev, now - 86400, now, "1m"))[0] for _ in range(10)]
        out["history_1m_1d_ms"] = statistics.median(ts)
        ts = [(await timed(store.history, dev, start, now, "1d"))[0] for _ in range(10)]
        out["history_1d_1y_ms"] = statistics.median(ts)
    out.update(fresh_processes(args, path, now))
    return out


FRESH = """
import asyncio, json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
from powermonitor.storage.base import Retention
from powermonitor.storage.sqlite import SqliteStore
imported = time.perf_counter() - t0
async def main():
    async with SqliteStore(sys.argv[1], timezone=sys.argv[2], retention=Retention()) as store:
        t, c = time.perf_counter(), time.process_time()
        rows = await store.energy("day", float(sys.argv[3]), float(sys.argv[4]))
        return len(rows), time.perf_counter() - t, time.process_time() - c
n, wall, cpu = asyncio.run(main())
print(json.dumps({"rows": n, "ms": wall * 1000, "cpu_ms": cpu * 1000, "import_ms": imported * 1000}))
"""


def fresh_processes(args: argparse.Namespace, path: Path, now: float) -> dict[str, Any]:
    """The same query as the first thing a new process does (what ``powermonitor energy``
    does), and the whole command's wall time as a user sees it (start-up, imports, rendering)."""
    env = child_env()
    since, until = str(now - 365 * 86400), str(now)
    runs = []
    for _ in range(args.fresh):
        done = subprocess.run(
            [sys.executable, "-c", FRESH, str(path), TZ, since, until],
            env=env, capture_output=True, text=True, check=True,
        )
        runs.append(json.loads(done.stdout))
    out: dict[str, Any] = {
        "fresh_process_query_ms": statistics.median(r["ms"] for r in runs),
        "fresh_process_query_cpu_ms": statistics.median(r["cpu_ms"] for r in runs),
        "fresh_process_store_import_ms": statistics.median(r["import_ms"] for r in runs),
    }
    with tempfile.TemporaryDirectory(prefix="pm-bench-cfg-") as cfg_dir:
        cfg = Path(cfg_dir) / "config.toml"  # the year's time zone, so nothing is rebuilt
        cfg.write_text(f'[tariff]\ntimezone = "{TZ}"\nprice = 0.32\ncurrency = "EUR"\n')
        day = time.strftime("%Y-%m-%d", time.localtime(now - 364 * 86400))
        base = [sys.executable, "-m", "powermonitor", "energy", "--config", str(cfg),
                "--db", str(path), "--by", "day", "--since", day]

        def wall(cmd: list[str], times: int) -> float:
            ts = []
            for _ in range(times):
                t = time.perf_counter()
                subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
                ts.append((time.perf_counter() - t) * 1000)
            return statistics.median(ts)

        out["cli_python_startup_ms"] = wall([sys.executable, "-c", "pass"], args.fresh)
        out["cli_import_ms"] = wall(
            [sys.executable, "-c", "import powermonitor.cli.main"], args.fresh
        )
        out["cli_energy_json_ms"] = wall([*base, "--json"], args.fresh)
        out["cli_energy_table_ms"] = wall(base, 1)
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--plugs", type=int, default=50)
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--poll", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--year-plugs", type=int, default=50)
    ap.add_argument("--year-step", type=float, default=300.0)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--fresh", type=int, default=5, help="runs of each fresh-process measurement")
    ap.add_argument("--skip-year", action="store_true")
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument(
        "--year-db",
        help="keep the year's database at this path and reuse it when it exists (skips loading)",
    )
    ap.add_argument("--dir", help="where to put the database files (default: a temp dir)")
    ap.add_argument("--out", default="storage_ingest")
    args = ap.parse_args()

    env = environment()
    with tempfile.TemporaryDirectory(prefix="pm-bench-", dir=args.dir) as tmp:
        directory = Path(tmp)
        samples = stream(
            args.plugs, 0 if args.skip_ingest else args.samples, args.poll, time.time() - 30 * 86400
        )
        ingest: dict[str, Any] = {}
        for batch in () if args.skip_ingest else (5000, 50_000):
            runs = [await ingest_once(samples, batch, directory) for _ in range(args.repeat)]
            rates = [r["rate"] for r in runs]
            ingest[str(batch)] = {
                "rate_median": statistics.median(rates),
                "rates": rates,
                "cpu_us": statistics.median(r["cpu_us"] for r in runs),
                "file_mb": runs[-1]["bytes"] / 1e6,
                "plan_us_per_sample": plan_cost(samples, batch),
            }
            print(
                f"write() batch {batch}: {statistics.median(rates):,.0f} samples/s "
                f"(runs {', '.join(f'{r:,.0f}' for r in rates)})",
                flush=True,
            )
        runs = [
            await writer_once(samples, directory)
            for _ in range(0 if args.skip_ingest else args.repeat)
        ]
        ingest["writer"] = {}
        if runs:
            ingest["writer"] = {
                "rate_median": statistics.median(r["rate"] for r in runs),
                "rate_best": max(r["rate"] for r in runs),
                "submit_us": statistics.median(r["submit_us"] for r in runs),
                "batches": runs[-1]["batches"],
            }
        if runs:
            print(
                f"StoreWriter: {ingest['writer']['rate_median']:,.0f} samples/s, submit "
                f"{ingest['writer']['submit_us']:.2f} us",
                flush=True,
            )
        del samples
        yr = None if args.skip_year else await year(args, directory)
        if yr:
            print(
                f"year: {yr['samples']:,} samples loaded at {yr['load_rate']:,.0f}/s; "
                f"energy(by='day') {yr['energy_day_rows']} rows: first "
                f"{yr['energy_day_first_ms']:.1f} ms, cold median "
                f"{yr['energy_day_cold_ms']['median']:.1f} ms (SQL+fetch alone "
                f"{yr['energy_day_fetch_only_ms']:.1f} ms), warm median "
                f"{yr['energy_day_ms']['median']:.1f} ms",
                flush=True,
            )

    env["loadavg_after"] = os.getloadavg()
    data = {"env": env, "args": vars(args), "ingest": ingest, "year": yr}
    md = [
        f"# SQLite store: ingest and energy queries ({env['date']})",
        "",
        (
            f"Machine: {env.get('cpu_model')} × {env['cpus']}, Python {env['python']}, "
            f"SQLite {__import__('sqlite3').sqlite_version}, git {env.get('git')}; load average "
            f"{env['loadavg_before'][0]:.2f} before, {env['loadavg_after'][0]:.2f} after."
        ),
        "",
        (
            f"Ingest: {args.samples:,} samples, {args.plugs} plugs every {args.poll:g} s, "
            f"median of {args.repeat} runs."
        ),
        "",
        "| path | samples/s, median (best run) | CPU µs/sample | planning µs/sample |",
        "|---|---:|---:|---:|",
    ]
    for batch in ("5000", "50000") if ingest.get("writer") else ():
        r = ingest[batch]
        md.append(
            f"| `write()` batches of {int(batch):,} | {r['rate_median']:,.0f} "
            f"({max(r['rates']):,.0f}) | {r['cpu_us']:.2f} | "
            f"{r['plan_us_per_sample']:.2f} |"
        )
    if ingest.get("writer"):
        md.append(
            f"| `StoreWriter.submit` + flush (batches of 5,000) | "
            f"{ingest['writer']['rate_median']:,.0f} ({ingest['writer']['rate_best']:,.0f}) | — | — |"
        )
    if yr:
        md += [
            "",
            (
                f"Year: {yr['plugs']} plugs × 365 days, a sample every {yr['step_s']:g} s "
                f"({yr['samples']:,} samples) loaded with `backfill` at {yr['load_rate']:,.0f}/s; "
                f"file {yr['file_mb']:.0f} MB; rows {yr['rows']}."
            ),
            "",
            "| query | ms |",
            "|---|---:|",
            (
                f"| `energy(by='day')`, 1 year, {yr['energy_day_rows']:,} rows, first call | "
                f"{yr['energy_day_first_ms']:.1f} |"
            ),
            (
                f"| `energy(by='day')` cold (past-days cache emptied), median / p90 / min of "
                f"{args.queries} | {yr['energy_day_cold_ms']['median']:.1f} / "
                f"{yr['energy_day_cold_ms']['p90']:.1f} / {yr['energy_day_cold_ms']['min']:.1f} |"
            ),
            f"| … CPU time of the cold query, median | {yr['energy_day_cold_ms']['cpu_median']:.1f} |",
            (
                f"| `energy(by='day')` in a fresh process (first query after open; imports "
                f"excluded), median of {args.fresh} (CPU) | {yr['fresh_process_query_ms']:.1f} "
                f"({yr['fresh_process_query_cpu_ms']:.1f}) |"
            ),
            (
                f"| `energy(by='day')` warm (past days cached), median / p90 / min of "
                f"{args.queries} | {yr['energy_day_ms']['median']:.1f} / "
                f"{yr['energy_day_ms']['p90']:.1f} / {yr['energy_day_ms']['min']:.1f} |"
            ),
            (
                f"| … of which SQL + fetch (no `EnergyRow` objects) | "
                f"{yr['energy_day_fetch_only_ms']:.1f} |"
            ),
            f"| `energy(by='week')`, 1 year | {yr['energy_week_ms']:.1f} |",
            f"| `energy(by='month')`, 1 year | {yr['energy_month_ms']:.1f} |",
            f"| `energy(by='hour')`, 7 days | {yr['energy_hour_7d_ms']:.1f} |",
            f"| `history('1m')`, 1 plug, 1 day | {yr['history_1m_1d_ms']:.1f} |",
            f"| `history('1d')`, 1 plug, 1 year | {yr['history_1d_1y_ms']:.1f} |",
            "",
            f"The whole command, wall time (median of {args.fresh}; the table once):",
            "",
            "| command | ms |",
            "|---|---:|",
            f"| `python -c pass` (interpreter start-up) | {yr['cli_python_startup_ms']:.0f} |",
            f"| `python -c 'import powermonitor.cli.main'` | {yr['cli_import_ms']:.0f} |",
            (
                f"| `powermonitor energy --by day --since <a year ago> --json` | "
                f"{yr['cli_energy_json_ms']:.0f} |"
            ),
            f"| … the same as a table | {yr['cli_energy_table_ms']:.0f} |",
        ]
    jpath, mpath = write_results(args.out, data, "\n".join(md) + "\n")
    print(f"wrote {jpath} and {mpath}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
