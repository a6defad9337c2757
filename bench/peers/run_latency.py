#!/usr/bin/env python3
"""The neutral peer harness, its clients against our simulator answering after a Wi-Fi-like latency.

Imports the harness's ``run_bench`` from its folder (read-only: nothing is written there, not
even bytecode), replaces its tuyamock ``DevHost`` by one that starts ``simhost.py`` (our
simulator, the harness's devices and DPs, ``--latency``), and runs ``run_bench.main`` once per
latency with every other argument passed through. Then prints one table: client CPU per poll
at each latency, for every client and case, with failures and wrong connection counts marked.

  python3 bench/peers/run_latency.py --latencies 5ms,20ms --repeat 3
  python3 bench/peers/run_latency.py --latencies 0ms --quick --clients tinytuya,powermonitor

Our client's interpreter: PEERBENCH_POWERMONITOR_PYTHON (a venv with this checkout installed,
see bench/README.md); the simulator runs in the same interpreter unless ``--sim-python``.
Raw JSON: one run_bench file per latency under bench/results/ (``--out-dir``), plus the table.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

sys.dont_write_bytecode = True  # importing run_bench must not write into the harness folder
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SIMHOST = HERE / "simhost.py"
DEFAULT_HARNESS = os.environ.get("PEERBENCH_DIR") or str(REPO.parent / "shared" / "bench-peers")


def load_run_bench(harness: Path) -> ModuleType:
    path = harness / "run_bench.py"
    if not path.is_file():
        raise SystemExit(f"no run_bench.py in {harness} (give --harness or PEERBENCH_DIR)")
    spec = importlib.util.spec_from_file_location("run_bench", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["run_bench"] = mod
    spec.loader.exec_module(mod)
    return mod


def sim_devhost(rb: ModuleType, python: str, harness: Path, latency: str) -> type:
    """``run_bench.DevHost`` with our simulator behind the same line protocol."""

    class SimDevHost(rb.DevHost):  # type: ignore[name-defined,misc]
        def __init__(self, _mock_python: str, groups: list[dict[str, Any]],
                     cpu: int | None = None, idle_timeout: float = 60.0) -> None:
            cmd = [python, str(SIMHOST), "--harness", str(harness), "--spec", json.dumps(groups),
                   "--idle-timeout", str(idle_timeout), "--latency", latency]
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True,
                                         preexec_fn=rb.pinner(cpu))  # noqa: PLW1509 - as the harness
            assert self.proc.stdout is not None and self.proc.stderr is not None
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"simhost failed to start: {self.proc.stderr.read()[-2000:]}")
            first = json.loads(line)
            self.pid, self.devices = first["pid"], first["devices"]
            self.versions = {k: first[k] for k in ("simulator", "latency", "loop")}
            for d in self.devices:
                assert d["host"] == rb.LOOPBACK, d

    return SimDevHost


def _cell(r: dict[str, Any], cpu_us: float | None, expected_conns: Any) -> str:
    if r.get("status") != "ok":
        return str(r.get("status") or "?")
    text = "-" if cpu_us is None else f"{cpu_us:.0f}"
    if r.get("errors"):
        text += f" ({r['errors']} err)"
    return text + ("!" if r.get("connections") != expected_conns else "")


def cells(doc: dict[str, Any]) -> dict[str, dict[str, str]]:
    """client -> column -> client CPU µs per poll (``!``: wrong connection count)."""
    out: dict[str, dict[str, str]] = {}
    for r in doc.get("single", []):
        col = f"{r['mode'][:4]} {r['version']}"
        out.setdefault(r["client"], {})[col] = _cell(
            r, r.get("cpu_us_per_poll"), r.get("expected_connections"))
    best: dict[tuple[str, str], float] = {}
    for r in doc.get("fleet", []):  # the client's cheapest strategy, named
        col, per_1k = f"fleet {r['version']}", r.get("cpu_s_per_1000")
        row = out.setdefault(r["client"], {})
        multi = len({x["strategy"] for x in doc["fleet"] if x["client"] == r["client"]}) > 1
        cell = _cell(r, None if per_1k is None else per_1k * 1000, r.get("devices"))
        cell += f" ({r['strategy']})" if multi else ""
        if per_1k is None or r.get("status") != "ok":
            row.setdefault(col, cell)
        elif per_1k < best.get((r["client"], col), float("inf")):
            best[(r["client"], col)] = per_1k
            row[col] = cell
    return out


def table(docs: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per (latency, client), one column per case."""
    per_lat = {lat: cells(doc) for lat, doc in docs.items()}
    cols = sorted({c for rows in per_lat.values() for row in rows.values() for c in row},
                  key=lambda c: (("pers", "reco", "flee").index(c[:4]), c))
    lines = ["| latency | client | " + " | ".join(cols) + " |",
             "|---|---|" + "---:|" * len(cols)]
    for lat, rows in per_lat.items():
        for client in sorted(rows):
            lines.append(f"| {lat} | {client} | "
                         + " | ".join(rows[client].get(c, "") for c in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--latencies", default="5ms,20ms",
                    help="comma list; one harness run per latency (5ms, 0.02s, 5ms..20ms)")
    ap.add_argument("--harness", default=DEFAULT_HARNESS, help="the harness folder [%(default)s]")
    ap.add_argument("--sim-python",
                    default=os.environ.get("PEERBENCH_POWERMONITOR_PYTHON") or sys.executable,
                    help="interpreter with powermonitor for the simulator")
    ap.add_argument("--out-dir", default=str(REPO / "bench" / "results"))
    ap.add_argument("--tag", default=datetime.date.today().isoformat(),
                    help="in the result file names")
    ours, rest = ap.parse_known_args(argv)
    if any(a == "--out" or a.startswith("--out=") for a in rest):
        ap.error("--out is per latency here: use --out-dir")
    harness = Path(ours.harness).resolve()
    rb = load_run_bench(harness)
    if not any(a == "--mock-python" or a.startswith("--mock-python=") for a in rest):
        rest += ["--mock-python", ours.sim_python]  # the harness checks it exists; tuyamock unused
    docs: dict[str, dict[str, Any]] = {}
    status = 0
    for latency in [x.strip() for x in ours.latencies.split(",") if x.strip()]:
        out = Path(ours.out_dir) / f"peers_latency_{latency.replace('..', '-')}_{ours.tag}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        rb.DevHost = sim_devhost(rb, ours.sim_python, harness, latency)  # type: ignore[attr-defined]
        print(f"\n######## simulator latency {latency}", flush=True)
        status = max(status, rb.main([*rest, "--out", str(out)]))
        doc = json.loads(out.read_text())
        doc["meta"]["device_host"] = (f"powermonitor simulator (bench/peers/simhost.py), "
                                      f"answers after {latency}")
        out.write_text(json.dumps(doc, indent=1) + "\n")
        docs[latency] = doc
    text = table(docs)
    print("\nClient CPU per poll, µs (pers = persistent, reco = new connection per poll, "
          "fleet = the client's cheapest strategy); '!' = wrong connection count\n")
    print(text)
    summary = Path(ours.out_dir) / f"peers_latency_{ours.tag}.md"
    summary.write_text(text + "\n")
    print(f"\ntable written to {summary}")
    return status


if __name__ == "__main__":
    sys.exit(main())
