"""The whole service (`powermonitor run`) against a simulated fleet: its CPU, memory and loss.

Unlike ``monitor_fleet.py`` (the Monitor alone, in this process), this runs the service as a
user does: ``taskset -c 0 python -m powermonitor run --config F --db D --listen 127.0.0.1:P``
in its own process (uvloop, Monitor + Hub + Recorder + StoreWriter + SQLite + the web app),
against ``bench/sim_server.py`` (uvloop) on core 1. Everything else the bench starts (mosquitto,
the InfluxDB receiver, the Prometheus scraper, the live-event clients) is on core 1 too.

Phases:
  1. ``--rss-base N`` (default 10): the same service with N plugs for a few seconds, its VmRSS
     once online = the base (the interpreter, the imports, the web app);
  2. the service with ``--count`` plugs polled every ``--interval`` s; wait until
     ``/api/health`` says every plug is online, warm up ``--warmup`` s, then measure
     ``--duration`` s: service CPU from /proc/PID/task/*/schedstat (every thread: the SQLite
     writer's too), readings stored in the window (rows of ``samples`` whose ts falls in it,
     counted from this process after the run), VmRSS at the end;
     RSS per plug = (RSS at --count - RSS at the base) / (--count - N);
  3. ``--exporters``: Prometheus (``/metrics`` on the dashboard port, scraped every 15 s),
     MQTT to a real mosquitto on 127.0.0.1 (state topics + Home Assistant discovery), InfluxDB
     line protocol to a loopback HTTP receiver (this script, ``--influx-receiver``), all on;
  4. ``--sse N``: N ``/api/events`` clients (one process on core 1) held open through the
     window. One of them decodes every reading event and checks it against the stored rows
     (``lost`` = rows in the window it never got); the others count reading events
     (``bytes.count``) and report whether their stream ended early (a client dropped as slow).
  5. ``--profile N``: the service runs under cProfile, enabled for the window only (SIGUSR1 /
     SIGUSR2); the top N functions by own time go to ``results/NAME_profile.txt``. The CPU
     figures of a profiled run do not count.

    python3 bench/service_fleet.py --name service_fleet_1000                      # SQLite + web
    python3 bench/service_fleet.py --exporters --name service_fleet_1000_exporters
    python3 bench/service_fleet.py --sse 50 --name service_fleet_1000_sse50
    python3 bench/service_fleet.py --profile 40 --rss-base 0 --name service_fleet_1000_profile
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import _common as C

TARGETS = {"cpu_pct": 10.0, "cpu_pct_exporters": 15.0, "rss_kb_per_plug": 20.0,
           "sse_added_pct": 10.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vm_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def get_json(port: int, path: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
        return json.loads(resp.read())


def write_config(work: Path, devices: list[dict[str, Any]], a: argparse.Namespace,
                 mqtt_port: int | None, influx_port: int | None) -> Path:
    lines = ["[defaults]", f"poll_interval = {a.interval}", ""]
    if a.refresh != "learn":
        lines += [f"refresh = {'true' if a.refresh == 'on' else 'false'}", ""]
    lines += ["[prometheus]", f"web = {'true' if a.exporters else 'false'}", ""]
    if mqtt_port is not None:
        lines += ["[mqtt]", f'url = "mqtt://127.0.0.1:{mqtt_port}"', "discovery = true"]
        lines += [f"qos = {a.mqtt_qos}"] if a.mqtt_qos is not None else []
        if a.mqtt_state_interval is not None:
            lines.append(f"state_interval = {a.mqtt_state_interval}")
        lines.append("")
    if influx_port is not None:
        lines += ["[influx]", f'url = "http://127.0.0.1:{influx_port}"', 'database = "bench"', ""]
    for d in devices:
        lines += ["[[plugs]]", f'name = "{d["name"]}"', f'id = "{d["id"]}"', f'host = "{d["ip"]}"',
                  f'key = "{d["key"]}"', f'version = "{d["version"]}"', f'port = {d["port"]}', ""]
    path = work / "config.toml"
    path.write_text("\n".join(lines))
    path.chmod(0o600)  # it holds the simulated plugs' keys
    return path


class ServiceProc:
    """``powermonitor run`` pinned to core 0 (optionally under cProfile, see ``--serve``)."""

    def __init__(self, work: Path, config: Path, tag: str, profile: int = 0) -> None:
        self.port = free_port()
        self.db = work / f"{tag}.db"
        self.log = open(work / f"{tag}.log", "w")  # noqa: SIM115 - closed in stop()
        self.profile_out = work / f"{tag}.prof"
        argv = ["run", "--config", str(config), "--db", str(self.db),
                "--listen", f"127.0.0.1:{self.port}"]
        if profile:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--serve",
                   str(self.profile_out), *argv]
        else:
            cmd = [sys.executable, "-m", "powermonitor", *argv]
        env = C.child_env()
        env["XDG_DATA_HOME"] = str(work / "data")  # the API token file goes there
        self.proc = subprocess.Popen([*C.taskset(C.CLIENT_CORE), *cmd], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_online(self, n: int, timeout: float) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited ({self.proc.returncode}); see {self.log.name}")
            try:
                if get_json(self.port, "/api/health")["online"] >= n:
                    return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"not every plug came online in {timeout} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # our child only
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def threads_cpu_ns(pid: int) -> dict[str, int]:
    """CPU of each thread of ``pid`` by thread name (the loop's, SQLite's executor, ...)."""
    out: dict[str, int] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as fh:
                name = fh.read().strip()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                ns = int(fh.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
        key = "main (the event loop)" if tid == str(pid) else name
        out[key] = out.get(key, 0) + ns
    return out


def stored_in(db: Path, t0: float, t1: float) -> list[tuple[str, int]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("SELECT device_id, ts FROM samples WHERE ts >= ? AND ts < ?",
                           (int(t0 * 1000), int(t1 * 1000))).fetchall()
    finally:
        con.close()


def start_mosquitto(work: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    conf = work / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 100000\n")
    proc = subprocess.Popen([*C.taskset(C.DEVICE_CORE), "mosquitto", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("mosquitto did not start")


def start_helper(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    """This script in a helper role on core 1; it prints one line (READY ...) when ready."""
    proc = subprocess.Popen([*C.taskset(C.DEVICE_CORE), sys.executable, str(Path(__file__).resolve()),
                             *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=C.child_env())
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY"):
        proc.kill()
        raise RuntimeError(f"helper {args[0]} did not start: {line!r}")
    return proc, line


def finish_helper(proc: subprocess.Popen[str]) -> Any:
    """Tell a helper to stop (close its stdin), read its JSON result line."""
    out, _ = proc.communicate(timeout=60)
    last = [x for x in out.splitlines() if x.strip()]
    return json.loads(last[-1]) if last else None


# ---------------------------------------------------------------- helper roles (core 1)


async def _until_stdin_closes() -> None:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.read(1) or done.set())
    await done.wait()
    loop.remove_reader(sys.stdin.fileno())


async def influx_receiver() -> None:
    """A minimal InfluxDB write endpoint: 204 to every POST, counts the lines it got."""
    stats = {"requests": 0, "lines": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                body = await reader.readexactly(int(m.group(1))) if m else b""
                if head.startswith(b"POST"):
                    stats["requests"] += 1
                    stats["lines"] += body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
                    writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                else:  # /ping and the like
                    writer.write(b"HTTP/1.1 204 No Content\r\nX-Influxdb-Version: 1.8\r\n"
                                 b"Content-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError,
                asyncio.CancelledError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    await _until_stdin_closes()
    server.close()
    print(json.dumps(stats), flush=True)


async def scraper(port: int, every: float) -> None:
    """GET /metrics every ``every`` s (what a Prometheus server does)."""
    print("READY", flush=True)
    stats = {"scrapes": 0, "bytes": 0}

    async def loop() -> None:
        while True:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                         "Connection: close\r\n\r\n".encode())
            stats["bytes"] += len(await reader.read())
            stats["scrapes"] += 1
            writer.close()
            await asyncio.sleep(every)

    task = asyncio.create_task(loop())
    await _until_stdin_closes()
    task.cancel()
    print(json.dumps(stats), flush=True)


_TS = re.compile(rb'"ts":([0-9.]+).*?"id":"([^"]+)"')


async def sse_clients(port: int, n: int, t0: float, t1: float) -> None:
    """N live-event clients; client 0 decodes every reading (id, ts), the rest count them."""
    connected = 0
    ready = asyncio.Event()
    seen: set[tuple[str, int]] = set()
    counts = [0] * n
    ended = [False] * n
    refused = [False] * n

    async def client(i: int) -> None:
        nonlocal connected
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     "Accept: text/event-stream\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        connected += 1
        if connected == n:
            ready.set()
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            refused[i] = True  # over the server's cap (503)
            return
        tail = b""
        while True:
            chunk = await reader.read(1 << 20)
            if not chunk:
                ended[i] = True
                return
            counts[i] += chunk.count(b"event: reading")
            if i == 0:
                data = tail + chunk
                cut = data.rfind(b"\n\n")
                if cut < 0:
                    tail = data
                    continue
                tail = data[cut + 2:]
                for frame in data[:cut].split(b"\n\n"):
                    if b"event: reading" in frame:
                        m = _TS.search(frame)
                        if m:
                            ts = float(m.group(1))
                            if t0 <= ts < t1:
                                seen.add((m.group(2).decode(), round(ts * 1000)))

    tasks = [asyncio.create_task(client(i)) for i in range(n)]
    await asyncio.wait_for(ready.wait(), 60)
    print("READY", flush=True)
    await _until_stdin_closes()
    for t in tasks:
        t.cancel()
    counts = [c for c, r in zip(counts, refused, strict=True) if not r]
    print(json.dumps({"counts": counts, "ended_early": sum(ended), "refused": sum(refused),
                      "seen": sorted(f"{d}|{t}" for d, t in seen)}), flush=True)


def serve_profiled(out: str, argv: list[str]) -> None:
    """Run the CLI with cProfile toggled by SIGUSR1 (on) and SIGUSR2 (off and dump)."""
    import cProfile

    prof = cProfile.Profile(time.process_time)
    top = int(os.environ.get("PM_BENCH_TRACEMALLOC", "0"))
    if top:  # allocations alive at the end of the window instead of a profile
        import tracemalloc

        tracemalloc.start()

        def snapshot(*_: object) -> None:
            stats = tracemalloc.take_snapshot().statistics("lineno")
            with open(out + ".txt", "w") as fh:
                fh.write(f"total {sum(st.size for st in stats)} bytes\n")
                for st in stats[:top]:
                    frame = st.traceback[0]
                    fh.write(f"{st.size:10d} {st.count:8d}  {frame.filename}:{frame.lineno}\n")

        signal.signal(signal.SIGUSR2, snapshot)
    else:
        signal.signal(signal.SIGUSR1, lambda *_: prof.enable())
        signal.signal(signal.SIGUSR2, lambda *_: (prof.disable(), prof.dump_stats(out)))
    from powermonitor.cli.main import main

    sys.argv = ["powermonitor", *argv]
    main()


# ---------------------------------------------------------------- the run


def rss_base(a: argparse.Namespace, work: Path) -> int | None:
    if not a.rss_base:
        return None
    sim = C.start_simulator(a.rss_base, [a.version], uvloop=True, latency=a.latency)
    try:
        cfg = write_config(work, sim.devices, a, None, None)
        svc = ServiceProc(work, cfg, "base")
        try:
            svc.wait_online(len(sim.devices), a.connect_timeout)
            time.sleep(a.warmup)
            return vm_kb(svc.pid, "VmRSS")
        finally:
            svc.stop()
    finally:
        sim.stop()


def run(a: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="pm-service-bench-"))
    base = rss_base(a, work)
    sim = C.start_simulator(a.count, [a.version], uvloop=True, latency=a.latency)
    helpers: dict[str, subprocess.Popen[str]] = {}
    mosq = None
    try:
        mqtt_port = influx_port = None
        if a.exporters:
            mosq, mqtt_port = start_mosquitto(work)
            helpers["influx"], ready = start_helper(["--influx-receiver"])
            influx_port = int(ready.split()[1])
        cfg = write_config(work, sim.devices, a, mqtt_port, influx_port)
        if a.tracemalloc:
            os.environ["PM_BENCH_TRACEMALLOC"] = str(a.tracemalloc)
        svc = ServiceProc(work, cfg, "service", a.profile or a.tracemalloc)
        try:
            online_s = svc.wait_online(len(sim.devices), a.connect_timeout)
            if a.exporters:
                helpers["scraper"], _ = start_helper(["--scraper", str(svc.port)])
                mqtt_log = open(work / "mqtt_sub.txt", "wb")  # noqa: SIM115 - closed below
                mqtt_sub = subprocess.Popen(
                    [*C.taskset(C.DEVICE_CORE), "mosquitto_sub", "-h", "127.0.0.1", "-p",
                     str(mqtt_port), "-t", "#", "-F", "%t"], stdout=mqtt_log)
            time.sleep(a.warmup)
            if a.sse:
                # the window is known in advance: clients check readings stamped inside it
                t0_plan = time.time() + 5.0
                helpers["sse"], _ = start_helper(["--sse-clients", str(svc.port), str(a.sse),
                                               str(t0_plan), str(t0_plan + a.duration)])
                time.sleep(max(0.0, t0_plan - time.time()))
            if a.profile and not a.tracemalloc:
                os.kill(svc.pid, signal.SIGUSR1)
            m0 = (work / "mqtt_sub.txt").stat().st_size if a.exporters else 0
            th0 = threads_cpu_ns(svc.pid)
            w0, c0, s0 = time.time(), C.proc_cpu_ns(svc.pid), C.proc_cpu_ns(sim.pid)
            time.sleep(a.duration)
            w1, c1, s1 = time.time(), C.proc_cpu_ns(svc.pid), C.proc_cpu_ns(sim.pid)
            th1 = threads_cpu_ns(svc.pid)
            if a.exporters:
                mqtt_sub.terminate()  # our child only
                mqtt_sub.wait(5)
                mqtt_log.close()
                with open(work / "mqtt_sub.txt", "rb") as fh:
                    fh.seek(m0)
                    window = fh.read()
                mqtt_msgs = window.count(b"\n")
            if a.profile or a.tracemalloc:
                os.kill(svc.pid, signal.SIGUSR2)
                time.sleep(5.0 if a.tracemalloc else 1.0)  # the dump is written
            rss = vm_kb(svc.pid, "VmRSS")
            hwm = vm_kb(svc.pid, "VmHWM")
            time.sleep(1.0)  # readings stamped in the window's last burst (BURST_S) reach clients
            results = {k: finish_helper(p) for k, p in helpers.items()}
            helpers.clear()
        finally:
            svc.stop()
    finally:
        for p in helpers.values():
            p.kill()
        if mosq is not None:
            mosq.terminate()  # our child only
            mosq.wait(5)
        sim.stop()
    rows = stored_in(svc.db, w0, w1)  # after the stop, which commits everything still queued
    wall = w1 - w0
    n = a.count
    out: dict[str, Any] = {
        "plugs": n, "interval_s": a.interval, "latency": a.latency or "0", "refresh": a.refresh, "exporters": a.exporters,
        "sse_clients": a.sse, "all_online_s": round(online_s, 1), "window_s": round(wall, 2),
        "cpu_pct_of_core": 100.0 * (c1 - c0) / 1e9 / wall,
        "readings_stored": len(rows), "readings_per_s": len(rows) / wall,
        "expected_per_s": n / a.interval,
        "cpu_us_per_reading": (c1 - c0) / 1e3 / len(rows) if rows else None,
        "sim_cpu_pct_of_core": 100.0 * (s1 - s0) / 1e9 / wall,
        "threads_pct_of_core": {k: round(100.0 * (v - th0.get(k, 0)) / 1e9 / wall, 2)
                                for k, v in th1.items() if v - th0.get(k, 0) > 0},
        "rss_kb": rss, "vmhwm_kb": hwm, "rss_base_kb": base, "rss_base_plugs": a.rss_base,
        "rss_kb_per_plug": (rss - base) / (n - a.rss_base) if base else None,
        "work": str(work),
    }
    if a.exporters:
        out["mqtt_messages_per_s"] = mqtt_msgs / wall
    if "influx" in results:
        out["influx"] = results["influx"]
    if "scraper" in results:
        out["scraper"] = results["scraper"]
    if "sse" in results and results["sse"] is not None:
        sse = results["sse"]
        stored = {f"{d}|{t}" for d, t in stored_in(svc.db, float(t0_plan), t0_plan + a.duration)}
        seen = set(sse["seen"])
        out["sse"] = {
            "window_rows": len(stored), "checker_got": len(seen & stored),
            "lost": len(stored - seen), "extra_not_stored": len(seen - stored),
            "per_client_counts_min_max": [min(sse["counts"]), max(sse["counts"])],
            "ended_early": sse["ended_early"], "refused": sse["refused"],
        }
    if a.tracemalloc:
        dest = C.RESULTS / f"{a.name}_tracemalloc.txt"
        dest.write_text(Path(str(svc.profile_out) + ".txt").read_text())
        out["tracemalloc"] = str(dest.relative_to(C.REPO))
    elif a.profile:
        import pstats

        dest = C.RESULTS / f"{a.name}_profile.txt"
        with open(dest, "w") as fh:
            st = pstats.Stats(str(svc.profile_out), stream=fh)
            st.sort_stats("tottime").print_stats(a.profile)
            st.sort_stats("cumulative").print_stats(a.profile)
        out["profile"] = str(dest.relative_to(C.REPO))
    return out


def markdown(r: dict[str, Any], env: dict[str, Any], argv: list[str]) -> str:
    lines = [f"# service_fleet: {' '.join(argv)}", "",
             (f"{env['date']}; {env.get('cpu_model', '?')}, {env['cpus']} cores; Python "
              f"{env['python']}; git {env.get('git', '?')}; load before {env['loadavg_before']}"),
             "", "| metric | value |", "|---|---|"]
    for k, v in r.items():
        if k in ("work",):
            continue
        lines.append(f"| {k} | {round(v, 2) if isinstance(v, float) else v} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve_profiled(sys.argv[2], sys.argv[3:])
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--version", default="3.4")
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--latency", default="", help="simulated plugs answer after 5ms, 5ms..20ms")
    p.add_argument("--refresh", choices=("learn", "on", "off"), default="learn")
    p.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--rss-base", type=int, default=10, help="plugs of the RSS base run (0: skip)")
    p.add_argument("--exporters", action="store_true")
    p.add_argument("--mqtt-qos", type=int, choices=(0, 1, 2), help="[mqtt] qos (default: the config's)")
    p.add_argument("--mqtt-state-interval", type=float,
                   help="[mqtt] state_interval in s (default: the config's, 5; 0 = every reading)")
    p.add_argument("--sse", type=int, default=0, help="live-event clients through the window")
    p.add_argument("--profile", type=int, default=0, metavar="N")
    p.add_argument("--tracemalloc", type=int, default=0, metavar="N",
                   help="Python allocations alive after the window, top N sites (no profile)")
    p.add_argument("--connect-timeout", type=float, default=90.0)
    p.add_argument("--name", default="", help="results file stem in bench/results/")
    p.add_argument("--influx-receiver", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--scraper", type=int, help=argparse.SUPPRESS)
    p.add_argument("--sse-clients", nargs=4, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.influx_receiver:
        asyncio.run(influx_receiver())
        return
    if a.scraper:
        asyncio.run(scraper(a.scraper, 15.0))
        return
    if a.sse_clients:
        port, n, t0, t1 = a.sse_clients
        asyncio.run(sse_clients(int(port), int(n), float(t0), float(t1)))
        return
    env = C.environment()
    r = run(a)
    print(json.dumps(r, indent=2))
    if a.name:
        C.RESULTS.mkdir(exist_ok=True)
        (C.RESULTS / f"{a.name}.json").write_text(json.dumps({"env": env, "result": r}, indent=2))
        (C.RESULTS / f"{a.name}.md").write_text(markdown(r, env, sys.argv[1:]))


if __name__ == "__main__":
    main()
