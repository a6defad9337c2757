"""The demo household: a week of history with its appliance cycles, the cost report, and a live
alert from the running demo."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
from e2e.conftest import command
from rich.console import Console

from powermonitor.cli.demo import HOUSEHOLD, backfill, household_specs, print_report
from powermonitor.insight.store import InsightStore
from powermonitor.storage.sqlite import SqliteStore
from powermonitor.tariff import Tariff


@pytest.mark.slow  # a week of history for seven appliances: ~5 s
async def test_backfilled_week_has_cycles_and_a_report(tmp_path: Path) -> None:
    tariff = Tariff(flat_price=0.30, currency="EUR", timezone="UTC")
    specs = [replace(s, profile=a.history) if a.history else s
             for s, a in zip(household_specs(), HOUSEHOLD, strict=True)]
    now = time.time()
    console = Console(record=True, width=120)
    db = tmp_path / "demo.db"
    await backfill(db, specs, tariff, now, console)
    await print_report(db, tariff, now, console)
    store = SqliteStore(db, timezone="UTC")
    await store.open()
    try:
        by_name = {s.name: s.device_id for s in specs}
        dishes = await InsightStore(store).cycles(by_name["Dishwasher"], 0, now)
        washes = await InsightStore(store).cycles(by_name["Washing machine"], 0, now)
    finally:
        await store.close()
    assert 6 <= len(dishes) <= 8  # one programme a day for a week
    assert all(65 * 60 <= c.duration_s <= 75 * 60 for c in dishes)
    assert washes
    text = console.export_text()
    assert "What cost most in the last 7 days:" in text and "cycles" in text


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.timeout(480)  # the demo's first dishwasher programme ends within ~3 minutes
def test_running_demo_fires_an_alert(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLUG", "POWERMONITOR"))}
    proc = subprocess.Popen([*command("powermonitor"), "-v", "demo", "--listen", "off",
                             "--data-dir", str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        alert = ""
        deadline = time.monotonic() + 420  # the dishwasher's programme repeats every 3 min
        for line in proc.stderr:  # the real signal: the service logging the alert
            if '"alert":"dishwasher done"' in line:
                alert = line
                break
            assert time.monotonic() < deadline, "no alert from the demo"
        assert '"event":"finished"' in alert and '"kwh"' in alert
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    recent = subprocess.run([*command("powermonitor"), "alerts", "recent", "--db",
                             str(tmp_path / "demo.db"), "--json"], capture_output=True,
                            text=True, env=env, timeout=60, check=False)
    assert recent.returncode == 0 and "dishwasher done" in recent.stdout
