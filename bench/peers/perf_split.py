#!/usr/bin/env python3
"""Where each client's CPU per persistent poll goes: kernel or user space, and which library.

The neutral harness says how much CPU a poll costs; this says where, with ``perf``. Each
client is driven through the harness's own adapter (same calls, same venv), one persistent
connection to one tuyamock device of the harness's device host (device core). The client
process (client core) warms up, then ``perf record`` attaches to it for exactly the measured
loop. Samples are split by library (the kernel, the Python interpreter, C modules of the
standard library, crypto, a native client core, libc) and converted to µs per poll with the
CPU of the same loop run just before without perf (``time.process_time()``): sampling with
call graphs slows a client down, a threaded one most (rustuya: 55 → 125 µs at 10 kHz). The kernel part is split further by inclusive time in
``send`` (which, on this VM, mostly pays for waking the device host's sleeping vCPU),
``recv``, the wait for readiness and futex (a threaded client's hand-offs).

    python3 bench/peers/perf_split.py --version 3.4 --n 20000
    python3 bench/peers/perf_split.py --clients powermonitor,rustuya --out bench/results/x.md

Needs ``perf`` with permission to attach (root, or kernel.perf_event_paranoid <= 1) and the
harness's venvs (``setup.sh``); our client's interpreter: PEERBENCH_POWERMONITOR_PYTHON.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import inspect
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.dont_write_bytecode = True  # the harness folder is read-only: no bytecode there
HERE = Path(__file__).resolve()
REPO = HERE.parents[2]
DEFAULT_HARNESS = os.environ.get("PEERBENCH_DIR") or str(REPO.parent / "shared" / "bench-peers")
CLIENT_CORE, DEVICE_CORE = 0, 1
WARMUP = 300

# Libraries, by the name perf reports, into what they stand for.
_GROUPS = (
    ("kernel", re.compile(r"^\[(kernel\.kallsyms|vdso)\]$")),
    ("interpreter", re.compile(r"^(libpython\d|python\d)")),
    ("native client core", re.compile(r"^rustuya")),
    ("crypto", re.compile(r"^(libcrypto|libssl|_rust\.abi3|_hashlib|_cffi_backend)")),
    ("C modules", re.compile(r"\.cpython-\d+.*\.so$")),
    ("libc", re.compile(r"^(libc\.so|ld-linux|libm\.so|libgcc)")),
)
_KERNEL_PATHS = (  # (label, the syscalls or kernel functions whose inclusive time it sums)
    ("send", ("__x64_sys_sendto",)),
    ("  of which waking the peer", ("sock_def_readable",)),
    ("recv", ("__x64_sys_recvfrom",)),
    ("waiting for readiness (epoll, poll, select)", (
        "__x64_sys_epoll_wait", "__x64_sys_epoll_pwait", "__x64_sys_poll", "__x64_sys_ppoll",
        "__x64_sys_select", "__x64_sys_pselect6")),
    ("futex (thread hand-offs)", ("__x64_sys_futex",)),
)


def load_adapter(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- client side

def runner(adapter_path: str, device_json: str, n: int) -> None:
    """In the client's venv: open, warm up, poll ``n`` times (measured), say "ready", poll
    ``n`` times more on "go" (profiled), report the measured CPU per poll."""
    module = load_adapter(Path(adapter_path))
    adapter = module.Adapter()
    device = json.loads(device_json)
    if inspect.iscoroutinefunction(adapter.status):
        asyncio.run(_run_async(adapter, device, n))
        return
    adapter.setup()
    handle = adapter.open(device, True)
    for _ in range(WARMUP):
        adapter.status(handle)
    c0 = time.process_time()
    for _ in range(n):
        adapter.status(handle)
    plain = (time.process_time() - c0) / n * 1e6
    _ready()
    for _ in range(n):
        adapter.status(handle)
    _report(plain)
    adapter.close(handle)


async def _run_async(adapter: Any, device: dict[str, Any], n: int) -> None:
    await adapter.setup()
    handle = await adapter.open(device, True)
    for _ in range(WARMUP):
        await adapter.status(handle)
    c0 = time.process_time()
    for _ in range(n):
        await adapter.status(handle)
    plain = (time.process_time() - c0) / n * 1e6
    _ready()
    for _ in range(n):
        await adapter.status(handle)
    _report(plain)
    await adapter.close(handle)


def _ready() -> None:
    print("ready", flush=True)
    sys.stdin.readline()  # "go": perf is attached


def _report(cpu_us: float) -> None:
    print(json.dumps({"cpu_us": cpu_us}), flush=True)
    sys.stdin.readline()  # "quit": perf has stopped (closing is not measured)


# --------------------------------------------------------------------------- orchestrator

def client_python(info: dict[str, Any]) -> str:
    spec = info["python"]
    return os.environ.get(spec["env"]) or spec["default"]


def profile(python: str, adapter: Path, device: dict[str, Any], n: int,
            data: Path) -> float:
    """Run one client, perf attached for its profiled loop; its CPU µs per poll without perf."""
    proc = subprocess.Popen(
        ["taskset", "-c", str(CLIENT_CORE), python, str(HERE), "--runner", str(adapter),
         "--device", json.dumps(device), "--n", str(n)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{adapter.name}: the client did not start")
        perf = subprocess.Popen(
            ["perf", "record", "-q", "-g", "-F", "2000", "-p", str(proc.pid), "-o", str(data)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # perf attaches
        proc.stdin.write("go\n")
        proc.stdin.flush()
        result = json.loads(proc.stdout.readline())
        perf.send_signal(signal.SIGINT)
        perf.wait(30)
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return float(result["cpu_us"])


def split(data: Path) -> tuple[dict[str, float], dict[str, float]]:
    """Self-time share per library group, and inclusive share of the kernel paths (0..1)."""
    by_dso = _report_lines(data, ["--no-children", "--sort", "dso"])
    groups: dict[str, float] = {}
    for share, name in by_dso:
        group = next((g for g, rx in _GROUPS if rx.search(name)), "other")
        groups[group] = groups.get(group, 0.0) + share
    by_sym = {name: share for share, name in _report_lines(
        data, ["--children", "--sort", "sym"], children=True)}
    paths = {label: sum(by_sym.get(sym, 0.0) for sym in syms) for label, syms in _KERNEL_PATHS}
    return groups, paths


def _report_lines(data: Path, args: list[str], children: bool = False) -> list[tuple[float, str]]:
    out = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "-g", "none", *args],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = []
    pattern = (r"^\s*([\d.]+)%\s+[\d.]+%\s+(?:\[[.k]\]\s+)?(\S+)" if children
               else r"^\s*([\d.]+)%\s+(\S+)")
    for line in out.splitlines():
        m = re.match(pattern, line)
        if m:
            rows.append((float(m.group(1)) / 100, m.group(2)))
    return rows


def table(results: dict[str, tuple[float, dict[str, float], dict[str, float]]]) -> str:
    names = list(results)
    rows = ["CPU per poll (process_time)"] + [g for g, _ in _GROUPS] + ["other"]
    head = "| µs per poll | " + " | ".join(names) + " |"
    lines = [head, "|---|" + "---:|" * len(names)]
    for row in rows:
        cells = []
        for name in names:
            cpu, groups, _ = results[name]
            cells.append(f"{cpu:.1f}" if row == rows[0] else f"{groups.get(row, 0.0) * cpu:.1f}")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    for label, _syms in _KERNEL_PATHS:
        cells = [f"{results[name][2][label] * results[name][0]:.1f}" for name in names]
        lines.append(f"| kernel: {label.strip()} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--harness", default=DEFAULT_HARNESS)
    ap.add_argument("--clients", default="powermonitor,powermonitor-device,rustuya,tinytuya")
    ap.add_argument("--version", default="3.4")
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--out", help="also write the table (markdown) and JSON next to it")
    ap.add_argument("--runner", help=argparse.SUPPRESS)
    ap.add_argument("--device", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.runner:
        runner(args.runner, args.device, args.n)
        return 0
    harness = Path(args.harness)
    sys.path.insert(0, str(harness))
    import run_bench  # the harness's own device host class

    adapters = {}
    for path in sorted((harness / "adapters").glob("*_adapter.py")):
        info = load_adapter(path).INFO
        adapters[info["name"]] = (path, info)
    host = run_bench.DevHost(os.environ.get("PEERBENCH_MOCK_PYTHON", run_bench.DEFAULT_MOCK_PYTHON),
                             [{"version": args.version, "count": 1}], cpu=DEVICE_CORE,
                             idle_timeout=600.0)
    results = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name in args.clients.split(","):
                path, info = adapters[name]
                data = Path(tmp) / f"{name}.data"
                cpu = profile(client_python(info), path, host.devices[0], args.n, data)
                groups, paths = split(data)
                results[name] = (cpu, groups, paths)
                print(f"{name}: {cpu:.1f} µs per poll", file=sys.stderr)
    finally:
        host.stop()
    text = (f"perf split, protocol {args.version}, {args.n} persistent polls per client, "
            f"tuyamock {host.versions.get('tuyamock')} on core {DEVICE_CORE}, client on core "
            f"{CLIENT_CORE}, {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n\n{table(results)}\n")
    print(text)
    if args.out:
        out = Path(args.out)
        out.write_text(text)
        out.with_suffix(".json").write_text(json.dumps(
            {name: {"cpu_us": c, "groups": g, "kernel_paths": p}
             for name, (c, g, p) in results.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
