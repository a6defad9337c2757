"""/api/alerts, /api/plugs/{plug}/cycles and /api/report on the running web stack."""

from __future__ import annotations

import pytest

from powermonitor.alerts.events import AlertEvent
from powermonitor.insight.cycles import Cycle
from powermonitor.insight.store import InsightStore

from .harness import PRICE, Stack


async def test_alerts_cycles_and_report(stack: Stack) -> None:
    heater = stack.ids[2]
    insight = InsightStore(stack.service.store)
    now = stack.service.started_at
    await insight.save_cycle(Cycle(heater, now - 7200, now - 3600, 1500.0, 0.45, 2200.0))
    event = AlertEvent("heater done", "heater", heater, "finished", now - 3600,
                       notify=("hook",))
    await insight.enqueue(event, event.notify, now)

    alerts = (await stack.client.get("/api/alerts?limit=5")).json()["alerts"]
    assert [a["id"] for a in alerts] == [event.id]
    assert alerts[0]["deliveries"] == [{"channel": "hook", "attempts": 0, "delivered": False,
                                        "error": None}]

    body = (await stack.client.get("/api/plugs/heater/cycles?since=1d")).json()
    assert body["plug"] == heater and body["name"] == "heater"
    (cycle,) = body["cycles"]
    assert cycle["kwh"] == 1.5 and cycle["duration_s"] == 3600 and cycle["peak_w"] == 2200
    assert (await stack.client.get("/api/plugs/nobody/cycles")).status_code == 404
    assert (await stack.client.get("/api/alerts?limit=0")).status_code == 422

    report = (await stack.client.get("/api/report?since=2d")).json()
    names = [p["name"] for p in report["plugs"]]
    assert names == ["heater", "strip", "fridge"]  # seeded at 300, 200 and 100 W: by cost
    heater_row = report["plugs"][0]
    assert heater_row["always_on_w"] == pytest.approx(300.0, rel=0.01)
    assert heater_row["standby_cost_per_year"] == pytest.approx(300 * 8.766 * PRICE, rel=0.05)
    assert heater_row["cycles"] == 1
    assert sum(p["share"] for p in report["plugs"]) == pytest.approx(100.0)
    assert (await stack.client.get("/api/report?since=later")).status_code == 400

    page = (await stack.client.get("/")).text
    assert "/static/insight.js" in page
    assert (await stack.client.get("/static/insight.js")).status_code == 200
