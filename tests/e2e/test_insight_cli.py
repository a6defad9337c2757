"""``alerts list|test|recent``, ``cycles`` and ``report`` as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from insight.receiver import Receiver

from powermonitor.alerts.events import AlertEvent
from powermonitor.insight.cycles import Cycle
from powermonitor.insight.store import InsightStore
from powermonitor.models import Reading
from powermonitor.monitor.hub import Hub
from powermonitor.recorder import Recorder
from powermonitor.storage.sqlite import SqliteStore
from powermonitor.tariff import Tariff

from .conftest import command


async def cli(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLUG", "POWERMONITOR"))}
    proc = await asyncio.create_subprocess_exec(
        *command("powermonitor"), *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**env, "COLUMNS": "200"})
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def make_db(db: Path, now: float) -> None:
    tariff = Tariff(flat_price=0.25, currency="EUR", timezone="UTC")
    recorder = Recorder(Hub(), None, tariff)
    samples = []
    for i in range(720):  # the last two hours, every 10 s
        t = now - 7200 + i * 10
        at = datetime.fromtimestamp(t, UTC)
        samples.append(recorder.record(Reading("w1", at, switch=True,
                                               power_w=2000.0 if 1800 <= i * 10 < 3600 else 3.0)))
        samples.append(recorder.record(Reading("tv1", at, switch=True, power_w=12.0)))
    store = SqliteStore(db, timezone="UTC")
    await store.open()
    try:
        await store.write(samples, {"w1": "Washer", "tv1": "TV"})
        insight = InsightStore(store)
        await insight.save_cycle(Cycle("w1", now - 5400, now - 3600, 1000.0, 0.25, 2000.0))
        event = AlertEvent("washer done", "Washer", "w1", "finished", now - 3600,
                           notify=("hook",))
        await insight.enqueue(event, event.notify, now)
    finally:
        await store.close()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths")
async def test_alerts_cycles_and_report_commands(tmp_path: Path) -> None:
    now = datetime.now(UTC).timestamp()
    db = tmp_path / "pm.db"
    await make_db(db, now)
    receiver = Receiver()
    await receiver.start()
    config = tmp_path / "config.toml"
    config.write_text(f"""
[tariff]
currency = "EUR"
timezone = "UTC"
price = 0.25

[[notify]]
name = "hook"
url = "http://127.0.0.1:{receiver.port}/hook"

[[notify]]
name = "nobody"
url = "ntfy://127.0.0.1:1/none"

[[alerts]]
name = "washer done"
plug = "Washer"
when = "finished"
preset = "washer"
notify = ["hook"]

[[alerts]]
name = "broken"
plug = "*"
when = "offline"
notify = ["nobody"]
""")
    config.chmod(0o600)
    common = ["--config", str(config)]
    try:
        code, out, _ = await cli("alerts", "list", *common, "--json")
        assert code == 0
        rules = json.loads(out)
        assert [r["name"] for r in rules] == ["washer done", "broken"]
        assert "stop < 5 W for 300 s" in rules[0]["condition"]

        code, out, _ = await cli("alerts", "test", "washer done", *common)
        assert code == 0 and "hook: ok" in out
        (sent,) = receiver.events()
        assert sent["alert"] == "washer done" and sent["cycle"]["kwh"] == 0.85

        code, out, err = await cli("alerts", "test", "broken", *common)
        assert code == 1 and "nobody:" in out and err.startswith("error: not delivered")
        code, _, err = await cli("alerts", "test", "nope", *common)
        assert code == 2 and "no alert named 'nope'" in err
    finally:
        await receiver.stop()

    code, out, _ = await cli("alerts", "recent", *common, "--db", str(db), "--json")
    assert code == 0
    (logged,) = json.loads(out)
    assert logged["event"] == "finished" and logged["deliveries"][0]["delivered"] is False

    code, out, _ = await cli("cycles", "Washer", *common, "--db", str(db), "--json")
    assert code == 0
    (cycle,) = json.loads(out)
    assert cycle["kwh"] == 1.0 and cycle["duration_s"] == 1800

    code, out, _ = await cli("cycles", "Washer", *common, "--db", str(db), "--csv")
    assert code == 0 and out.splitlines()[0].startswith("start,end,name")

    code, out, _ = await cli("report", *common, "--db", str(db), "--since", "1d", "--json")
    assert code == 0
    report = json.loads(out)
    washer, tv = report["plugs"]
    assert washer["name"] == "Washer" and tv["name"] == "TV"  # sorted by cost
    assert washer["kwh"] == pytest.approx(2.0 * 0.5 + 0.003 * 1.5, rel=0.03)
    assert washer["always_on_w"] == pytest.approx(3.0, rel=0.05) and washer["cycles"] == 1
    assert tv["always_on_w"] == pytest.approx(12.0, rel=0.01)
    assert tv["standby_cost_per_year"] == pytest.approx(12 * 8.766 * 0.25, rel=0.05)

    code, out, _ = await cli("report", *common, "--db", str(db), "--since", "1d")
    assert code == 0 and "What costs most" in out and "Washer" in out

    code, _, err = await cli("cycles", "Washer", *common, "--db", str(tmp_path / "no.db"))
    assert code == 9 and "does not exist" in err
