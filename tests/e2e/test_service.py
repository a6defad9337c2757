"""``powermonitor run`` as a process: durability across kill -9, clean stops, bad databases."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import pytest

from powermonitor.config import StorageSettings
from powermonitor.storage.sqlite import SqliteStore

from .conftest import Simulator, command, run


def write_config(sim: Simulator, path: Path, interval: float = 1.0) -> Path:
    lines = [f"[defaults]\npoll_interval = {interval}\ntimeout = 2\n"]
    for d in sim.devices:
        lines.append(
            f'[[plugs]]\nname = "{d["name"]}"\nid = "{d["id"]}"\nhost = "127.0.0.1"\n'
            f'key = "{d["key"]}"\nversion = "{d["version"]}"\nport = {d["port"]}\n'
        )
    lines.append('[tariff]\ncurrency = "EUR"\ntimezone = "UTC"\nprice = 0.25\n')
    path.write_text("\n".join(lines))
    path.chmod(0o600)
    return path


def start_service(config: Path, db: Path, tmp: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp / "data")}
    return subprocess.Popen([*command("powermonitor"), "run", "--config", str(config), "--db",
                             str(db), "--listen", "off"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def wait_for_samples(db: Path, proc: subprocess.Popen[str], devices: int, total: int,
                     timeout: float = 60) -> None:
    """Until the running service has committed ``total`` samples of ``devices`` plugs (read
    from the database it writes: a real signal, not a sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, proc.communicate()
        try:
            with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
                counts = conn.execute(
                    "SELECT count(*) FROM samples GROUP BY device_id").fetchall()
        except sqlite3.Error:  # not created yet, or busy
            counts = []
        if len(counts) >= devices and sum(n for (n,) in counts) >= total:
            return
        assert time.monotonic() < deadline, f"only {counts} samples after {timeout} s"
        time.sleep(0.1)


async def read_store(db: Path) -> tuple[dict[str, float], float, int]:
    store = SqliteStore(db, timezone="UTC")
    await store.open()
    try:
        counters = await store.counters()
        totals = {k: c.total_wh for k, c in counters.items()}
        last = max((c.last_ts or 0.0) for c in counters.values())
        n = 0
        for device_id in counters:
            n += len(await store.history(device_id, 0, time.time() + 60, "raw"))
        return totals, last, n
    finally:
        await store.close()


@pytest.mark.service
@pytest.mark.slow
def test_kill_9_during_heavy_ingest_loses_at_most_a_commit_interval(tmp_path: Path) -> None:
    sim = Simulator(tmp_path, "--count", "40", "--protocol", "3.3,3.4", "--profile",
                    "constant:1000", "--push-interval", "0.05")
    try:
        config = write_config(sim, tmp_path / "c.toml")
        db = tmp_path / "pm.db"
        proc = start_service(config, db, tmp_path)
        wait_for_samples(db, proc, 40, 1500)  # ~800 readings/s from pushes
        killed_at = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)

        check = sqlite3.connect(db)
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        check.close()
        totals_1, last_1, n_1 = asyncio.run(read_store(db))
        assert n_1 > 1000
        # at most the readings of one commit interval (and the commit under way) are lost
        assert last_1 >= killed_at - (StorageSettings().commit_interval + 2.0)
        assert all(v > 0 for v in totals_1.values())

        proc = start_service(config, db, tmp_path)
        wait_for_samples(db, proc, 40, n_1 + 400)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        totals_2, last_2, n_2 = asyncio.run(read_store(db))
        assert n_2 > n_1 and last_2 > last_1
        for device_id, wh in totals_1.items():
            assert totals_2[device_id] > wh  # the counter continues from where it was
            # never more than 1 kW over the wall time between the last samples of the two runs
            # (a restart shorter than the max gap is integrated; a longer one would add nothing)
            assert totals_2[device_id] - wh <= 1000 * (last_2 - last_1 + 0.2) / 3600
    finally:
        sim.stop()


def assert_no_float_noise(text: str) -> None:
    """Numbers rounded to what a plug measures: never 106.19999999999999 or 7e-06."""
    for number in re.findall(r"(?<![\w.])-?\d+\.\d+(?:e-?\d+)?", text):
        assert "e" not in number and len(number.split(".")[1]) <= 4, number
    assert not re.search(r"\de-\d", text)


@pytest.mark.service
def test_energy_json_after_a_run(tmp_path: Path) -> None:
    sim = Simulator(tmp_path, "--count", "2", "--protocol", "3.5", "--profile", "constant:600")
    try:
        config = write_config(sim, tmp_path / "c.toml")
        db = tmp_path / "pm.db"
        proc = start_service(config, db, tmp_path)
        wait_for_samples(db, proc, 2, 8)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "samples stored" in err
        result = run("powermonitor", "energy", "--by", "day", "--json", "--config", str(config),
                     "--db", str(db))
        assert result.returncode == 0, result.stderr
        rows = json.loads(result.stdout)
        assert {r["id"] for r in rows} == {d["id"] for d in sim.devices}
        for r in rows:
            assert {"id", "name", "start", "kwh", "cost", "covered_s"} <= set(r)
            # kWh to 0.001 (1 Wh): a few seconds of 600 W may round to 0 here; history has Wh
            assert r["kwh"] >= 0 and r["cost"] == pytest.approx(r["kwh"] * 0.25, abs=1e-3)
            assert r["covered_s"] > 1
            assert_no_float_noise(result.stdout)
        history = run("powermonitor", "history", "--device", sim.devices[0]["name"], "--since",
                      "1h", "--csv", "--config", str(config), "--db", str(db))
        assert history.returncode == 0 and history.stdout.startswith("time,id,name,power_w")
        assert ",600.0," in history.stdout
        assert_no_float_noise(history.stdout)
        wh = [float(line.split(",")[9]) for line in history.stdout.splitlines()[1:]]
        assert sum(wh) > 0
        export = run("powermonitor", "export", "--format", "jsonl", "--config", str(config),
                     "--db", str(db))
        lines = [json.loads(line) for line in export.stdout.splitlines()]
        assert len(lines) >= 4 and {line["id"] for line in lines} == {d["id"] for d in sim.devices}
    finally:
        sim.stop()


@pytest.mark.service
def test_foreign_database_is_refused_untouched(tmp_path: Path) -> None:
    sim = Simulator(tmp_path, "--count", "1")
    try:
        config = write_config(sim, tmp_path / "c.toml")
        foreign = tmp_path / "notes.db"
        foreign.write_bytes(b"these are my notes, not a database\n" * 10)
        before = foreign.read_bytes()
        result = run("powermonitor", "run", "--config", str(config), "--db", str(foreign),
                     "--listen", "off")
        assert result.returncode == 9, result.stderr
        assert str(foreign) in result.stderr and "Traceback" not in result.stderr
        assert foreign.read_bytes() == before
    finally:
        sim.stop()


@pytest.mark.service
def test_unreachable_postgres_is_a_clear_error(tmp_path: Path, unused_tcp_port: int) -> None:
    sim = Simulator(tmp_path, "--count", "1")
    try:
        config = write_config(sim, tmp_path / "c.toml")
        result = run("powermonitor", "run", "--config", str(config), "--db",
                     f"postgresql://pm:secretpw@127.0.0.1:{unused_tcp_port}/pm", "--listen", "off",
                     timeout=60)
        assert result.returncode == 9, result.stderr
        assert "secretpw" not in result.stderr and "Traceback" not in result.stderr
    finally:
        sim.stop()
