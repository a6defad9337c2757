"""Shared helpers for the benchmarks in bench/ (not part of the package).

- makes ``powermonitor`` importable from ``src/`` when it is not installed,
- pins processes to cores (client on one core, devices on the other),
- starts our simulator (``bench/sim_server.py``) or tuyamock in a separate pinned process,
- reads another process's CPU time from /proc (nanosecond ``schedstat`` of every thread),
- small statistics helpers and a machine/environment description for the result files.

Everything listens and connects on 127.0.0.1 only; nothing here scans or discovers.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"

TUYAMOCK_ID = "eb0123456789abcdefghij"  # tuyamock's default gwId (it does not check devId)
TUYAMOCK_KEY = "thisisarealkey00"  # tuyamock's default local key

CLIENT_CORE = 0
DEVICE_CORE = 1


def ensure_importable() -> None:
    """Import powermonitor from the checkout when it is not installed in this interpreter."""
    try:
        import powermonitor
    except ImportError:
        sys.path.insert(0, str(REPO / "src"))
        import powermonitor  # noqa: F401


def child_env() -> dict[str, str]:
    """Environment for child Python processes: the checkout's ``src`` first on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO / "src"), env.get("PYTHONPATH", "")) if p
    )
    return env


def pin(core: int) -> None:
    """Pin the calling process to one core (the in-process equivalent of ``taskset -c``)."""
    if hasattr(os, "sched_setaffinity") and core < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {core})


def taskset(core: int) -> list[str]:
    """Command prefix pinning a child to ``core`` (empty if taskset is missing)."""
    from shutil import which

    if which("taskset") and core < (os.cpu_count() or 1):
        return ["taskset", "-c", str(core)]
    return []


# ---------------------------------------------------------------- CPU of another process


def proc_cpu_ns(pid: int) -> int:
    """CPU time (user+system) of every thread of ``pid`` in ns, from /proc/PID/task/*/schedstat.

    schedstat's first field is the on-CPU time in nanoseconds (the sum over threads equals the
    process's CPU time as ``time.process_time()`` would report it inside that process, at ns
    resolution; /proc/PID/stat only has 10 ms ticks). Falls back to /proc/PID/stat ticks.
    """
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                    total += int(fh.read().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                pass  # thread exited between listdir and open
        return total
    except FileNotFoundError:
        pass
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def idle_rate_ns_per_s(pid: int, seconds: float = 0.5) -> float:
    """CPU the device process burns per wall second while nobody talks to it."""
    c0, w0 = proc_cpu_ns(pid), time.perf_counter()
    time.sleep(seconds)
    c1, w1 = proc_cpu_ns(pid), time.perf_counter()
    return (c1 - c0) / (w1 - w0)


# ---------------------------------------------------------------- device processes


@dataclass
class DeviceProc:
    """A device-side process (simulator fleet or one tuyamock) and what clients need."""

    kind: str  # "sim", "sim-uvloop" or "tuyamock"
    proc: subprocess.Popen[str]
    devices: list[dict[str, Any]] = field(default_factory=list)
    tmpdir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # this process only (we started it)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.tmpdir is not None:
            self.tmpdir.cleanup()


def start_simulator(
    count: int,
    versions: Sequence[str],
    *,
    uvloop: bool = False,
    replay: bool = False,
    core: int = DEVICE_CORE,
    idle_timeout: float = 30.0,
    timeout: float = 60.0,
    latency: str = "",
) -> DeviceProc:
    """Start ``bench/sim_server.py`` pinned to ``core``; wait until its devices file exists."""
    tmp = tempfile.TemporaryDirectory(prefix="pm-bench-")
    devfile = Path(tmp.name) / "devices.json"
    cmd = [
        *taskset(core),
        sys.executable,
        str(BENCH_DIR / "sim_server.py"),
        "--count",
        str(count),
        "--versions",
        ",".join(versions),
        "--devices-file",
        str(devfile),
        "--idle-timeout",
        str(idle_timeout),
    ]
    if uvloop:
        cmd.append("--uvloop")
    if replay:
        cmd.append("--replay")
    if latency:
        cmd += ["--latency", latency]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env()
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = proc.stdout.readline()
    if not line.startswith("READY") or time.monotonic() > deadline:
        proc.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    devices = json.loads(devfile.read_text())
    kind = ("replay" if replay else "sim") + ("-uvloop" if uvloop else "")
    return DeviceProc(kind, proc, devices, tmp)


def start_tuyamock(version: str, *, core: int = DEVICE_CORE) -> DeviceProc:
    """Start ``python -m tuyamock --port 0 --version V`` pinned to ``core``; read its port."""
    cmd = [
        *taskset(core),
        sys.executable,
        "-m",
        "tuyamock",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--version",
        version,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.isdigit():
        proc.kill()
        raise RuntimeError(f"tuyamock did not start: {line!r}")
    entry = {
        "id": TUYAMOCK_ID,
        "key": TUYAMOCK_KEY,
        "ip": "127.0.0.1",
        "port": int(line),
        "version": version,
    }
    return DeviceProc("tuyamock", proc, [entry])


# ---------------------------------------------------------------- statistics and output


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def quantile(xs: Sequence[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    i = min(len(s) - 1, max(0, round(q * (len(s) - 1))))
    return s[i]


def environment() -> dict[str, Any]:
    """What ran the benchmark: machine, interpreter, library versions, repo revision."""
    info: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
    }
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    for mod in ("tinytuya", "rustuya", "tuyamock", "uvloop", "cryptography"):
        try:
            info[mod] = version(mod)
        except PackageNotFoundError:
            info[mod] = None
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        info["git"] = rev + ("+dirty-src" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        info["git"] = None
    return info


def write_results(name: str, data: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    jpath, mpath = RESULTS / f"{name}.json", RESULTS / f"{name}.md"
    jpath.write_text(json.dumps(data, indent=2, default=str) + "\n")
    mpath.write_text(markdown)
    return jpath, mpath


def have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
