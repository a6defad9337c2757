"""``powermonitor run`` as a process with few file descriptors, flooded with trickling web
connections while its plugs go away and come back: the web limits hold, the refusals are
logged, the plugs are read again (each reconnection needs a descriptor), and the web answers
again once the held connections time out.

Before the connection cap and request timeout, the flood held its descriptors forever: the
web never answered again, nothing said why, and the plugs had only what they freed
themselves to reconnect with.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from portpick import fixed_port_block

pytestmark = [pytest.mark.slow, pytest.mark.service]  # runs `powermonitor run` (~13 s)

FD_LIMIT = 80
FLOOD = 300


def spawn(args: list[str], tmp: Path, log: Path, limit_fds: bool = False
          ) -> subprocess.Popen[str]:
    """``python -m powermonitor args``, with at most FD_LIMIT descriptors if ``limit_fds``."""
    limit = (f"import resource; resource.setrlimit(resource.RLIMIT_NOFILE, ({FD_LIMIT}, "
             f"{FD_LIMIT})); " if limit_fds else "")
    main = f"{limit}import runpy; runpy.run_module('powermonitor', run_name='__main__')"
    env = {**os.environ, "XDG_DATA_HOME": str(tmp / "data")}
    with log.open("a") as err:  # a file, not a pipe: a chatty process never blocks on it
        return subprocess.Popen([sys.executable, "-c", main, *args], env=env, text=True,
                                stdout=subprocess.DEVNULL, stderr=err)


def wait_for(what: str, check: object, proc: subprocess.Popen[str], seconds: float = 60) -> None:
    """Poll ``check()`` until true (bounded; fails early if ``proc`` died)."""
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        if proc.poll() is not None:
            raise AssertionError(f"{what}: the process ended ({proc.returncode})")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Simulator:
    """``powermonitor simulate`` on fixed ports, so it can go away and come back."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.base_port = fixed_port_block(3)
        self.devices_file = tmp / "devices.json"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> list[dict[str, object]]:
        self.devices_file.unlink(missing_ok=True)
        self.proc = spawn(["simulate", "--count", "3", "--protocol", "3.3", "--profile",
                           "constant:100", "--base-port", str(self.base_port),
                           "--devices-file", str(self.devices_file)], self.tmp,
                          self.tmp / "sim.log")
        wait_for("simulator", self.devices_file.exists, self.proc)
        return list(json.loads(self.devices_file.read_text()))

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[Simulator]:
    sim = Simulator(tmp_path)
    try:
        yield sim
    finally:
        sim.stop()


def last_sample_s(db: Path) -> dict[str, float]:
    """device id → time of its newest stored sample (seconds)."""
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            rows = c.execute("SELECT device_id, max(ts) FROM samples GROUP BY device_id").fetchall()
    except sqlite3.OperationalError:  # not created yet
        return {}
    return {d: (ts / 1000.0 if ts > 1e11 else float(ts)) for d, ts in rows}


def health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as r:
            return int(r.status)
    except (OSError, http.client.HTTPException):
        return 0


def test_a_trickling_flood_neither_starves_the_plugs_nor_goes_unlogged(
        tmp_path: Path, simulator: Simulator) -> None:
    devices = simulator.start()
    config = tmp_path / "c.toml"
    lines = ["[defaults]\npoll_interval = 1\ntimeout = 2\n"]
    for d in devices:
        lines.append(f'[[plugs]]\nname = "{d["name"]}"\nid = "{d["id"]}"\nhost = "127.0.0.1"\n'
                     f'key = "{d["key"]}"\nversion = "{d["version"]}"\nport = {d["port"]}\n')
    config.write_text("\n".join(lines))
    config.chmod(0o600)
    db = tmp_path / "pm.db"
    log = tmp_path / "service.log"
    port = fixed_port_block(1)
    service = spawn(["run", "--config", str(config), "--db", str(db), "--listen",
                     f"127.0.0.1:{port}"], tmp_path, log, limit_fds=True)
    flood: list[socket.socket] = []
    try:
        wait_for("web up", lambda: health(port) == 200, service)
        ids = {str(d["id"]) for d in devices}
        wait_for("first samples", lambda: set(last_sample_s(db)) == ids, service)
        for _ in range(FLOOD):  # slowloris: a request line, then nothing
            s = socket.socket()
            s.settimeout(2)
            try:
                s.connect(("127.0.0.1", port))
                s.sendall(b"GET /api/plugs HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            except OSError:  # a full backlog: the flood is as big as it gets
                s.close()
                break
            flood.append(s)
        simulator.stop()  # the plugs go away: their descriptors are free for a moment...
        wait_for("plugs offline", lambda: log.read_text().count("offline") >= len(ids), service)
        back = time.time()
        simulator.start()  # ...and they come back: reconnecting needs descriptors again
        wait_for("samples after the plugs came back", lambda: len(
            [t for t in last_sample_s(db).values() if t > back]) == len(ids), service)
        wait_for("web back", lambda: health(port) == 200, service)  # held ones time out
    finally:
        for s in flood:
            s.close()
        stop(service)
    err = log.read_text()
    assert "connections open (the most allowed)" in err
    assert service.returncode == 0, err
