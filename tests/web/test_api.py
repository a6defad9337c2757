"""The HTTP API against a real running service: plugs, history, energy, switching, SSE, and
every bad-input path. All traffic stays on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from powermonitor.web.schemas import EnergyTotalOut, HistoryOut, PlugList

from .harness import GAP, NAMES, SEED_DAYS, TOKEN, Stack, until

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def assert_no_keys(stack: Stack, text: str) -> None:
    for key in stack.keys:
        assert key not in text


# --------------------------------------------------------------------------- plugs


async def test_health(stack: Stack) -> None:
    r = await stack.client.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["plugs"] == 3 and body["online"] == 3
    assert body["recording"] is True and body["store_error"] is None
    assert body["uptime_s"] >= 0


async def test_health_fails_while_readings_are_not_stored(stack: Stack) -> None:
    """Plugs all answering, but the database refuses writes (another process holds its write
    lock, as a backup tool or the sqlite3 shell can): the service is not healthy then."""
    blocker = sqlite3.connect(stack.service.store.path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        await until(lambda: not stack.service.writer.recording, 20)
        r = await stack.client.get("/api/health")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "failing" and body["recording"] is False
        assert "locked" in body["store_error"] and body["pending_samples"] > 0
        assert body["online"] == 3  # the plugs are fine: it is the recording that is not
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await until(lambda: stack.service.writer.recording, 20)  # the retry stores the backlog
    r = await stack.client.get("/api/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["store_error"] is None


async def test_plugs_list_live_state_and_energy(stack: Stack) -> None:
    r = await stack.client.get("/api/plugs")
    assert r.status_code == 200
    body = r.json()
    assert body["currency"] == "EUR" and body["timezone"] == "Europe/Berlin"
    plugs = body["plugs"]
    assert [p["name"] for p in plugs] == NAMES
    assert [p["id"] for p in plugs] == stack.ids
    for plug, server in zip(plugs, stack.fleet.servers, strict=True):
        assert plug["online"] is True and plug["since"].endswith("Z")
        assert plug["host"] == "127.0.0.1" and plug["port"] == server.port
        assert plug["protocol"].startswith(server.plug.spec.version)
        reading = plug["reading"]
        assert set(reading) >= {"switch", "switches", "power_w", "voltage_v", "current_a",
                                "power_factor", "timestamp", "ts"}
        assert reading["switch"] is True and reading["voltage_v"] > 200
        assert isinstance(plug["today_kwh"], float) and plug["today_kwh"] >= 0
        assert plug["total_kwh"] > 0 and plug["currency"] == "EUR"
        assert "key" not in plug and "local_key" not in plug
    assert plugs[1]["reading"]["switches"].keys() >= {"1", "2", "3", "4"}
    # the sum of the plugs' power, each and the sum rounded to 0.1 W
    assert body["power_w"] == pytest.approx(
        sum(p["reading"]["power_w"] or 0 for p in plugs), abs=0.05 * (len(plugs) + 1))
    assert_no_keys(stack, r.text)


async def test_today_comes_from_the_store_in_the_tariff_zone(stack: Stack) -> None:
    """Today's kWh is the store's energy since local midnight in Europe/Berlin."""
    store = stack.service.store
    now = time.time()
    zone = stack.service.tariff.timezone
    midnight = datetime.combine(datetime.fromtimestamp(now, ZoneInfo(zone)).date(),
                                datetime.min.time(), ZoneInfo(zone)).timestamp()
    plug = (await stack.client.get(f"/api/plugs/{stack.ids[0]}")).json()
    after = time.time()
    rows = await store.energy("day", midnight, after, [stack.ids[0]])
    step = 0.0005  # kWh are rounded to 1 Wh (what the plug measures)
    assert plug["today_kwh"] <= sum(r.wh for r in rows) / 1000 + step
    before = await store.energy("day", midnight, now, [stack.ids[0]])
    assert plug["today_kwh"] >= sum(r.wh for r in before) / 1000 - step
    assert plug["today_cost"] == pytest.approx(plug["today_kwh"] * 0.30, abs=step * 0.30 + 5e-5)


def test_api_numbers_carry_what_a_plug_measures_and_no_float_noise() -> None:
    """The CLI's rounding rule (powermonitor.precision): 0.1 + 0.2 kWh is 0.3, not
    0.30000000000000004; power to 0.1 W, cost to 0.0001; -0.0 is 0.0."""
    body = PlugList(plugs=[], currency="EUR", timezone="UTC", today_kwh=0.1 + 0.2,
                    today_cost=0.1 + 0.2, power_w=106.19999999999999 - 1e-12)
    assert body.model_dump_json() == ('{"plugs":[],"currency":"EUR","timezone":"UTC",'
                                      '"today_kwh":0.3,"today_cost":0.3,"power_w":106.2}')
    row = EnergyTotalOut(start=datetime.fromtimestamp(0, UTC), end=datetime.fromtimestamp(0, UTC),
                         start_ts=0, end_ts=0, kwh=-1e-9, cost=7e-06)
    assert (row.kwh, row.cost) == (0.0, 0.0) and str(row.kwh) == "0.0"


def _decimals(value: float) -> int:
    text = repr(value)
    return 0 if "." not in text else len(text.split(".")[1])


async def test_api_json_has_no_float_noise(stack: Stack) -> None:
    plugs = (await stack.client.get("/api/plugs")).json()
    energy = (await stack.client.get("/api/energy", params={"by": "hour", "since": "2d"})).json()
    checked = 0
    for plug in plugs["plugs"]:
        for key, places in (("today_kwh", 3), ("total_kwh", 3), ("today_cost", 4)):
            checked += 1
            assert _decimals(plug[key]) <= places, (key, plug[key])
        for key, places in (("power_w", 1), ("voltage_v", 1), ("current_a", 3)):
            assert _decimals(plug["reading"][key]) <= places, (key, plug["reading"][key])
    for row in energy["rows"] + energy["totals"]:
        checked += 1
        assert _decimals(row["kwh"]) <= 3 and _decimals(row["cost"]) <= 4, row
    assert checked > 9


async def test_one_plug_by_id_name_or_any_case(stack: Stack) -> None:
    for ref in (stack.ids[2], "heater", "HEATER"):
        r = await stack.client.get(f"/api/plugs/{ref}")
        assert r.status_code == 200 and r.json()["id"] == stack.ids[2]
    r = await stack.client.get("/api/plugs/nope")
    assert r.status_code == 404 and "nope" in r.json()["detail"]


async def test_offline_plug_shows_why_and_recovers(stack: Stack) -> None:
    server = stack.server("fridge")
    await server.stop()
    hub = stack.service.hub
    await until(lambda: not hub.states[stack.ids[0]].online)
    plug = (await stack.client.get("/api/plugs/fridge")).json()
    assert plug["online"] is False and plug["reason"] and plug["kind"]
    await server.start()
    await until(lambda: hub.states[stack.ids[0]].online)
    assert (await stack.client.get("/api/plugs/fridge")).json()["online"] is True


# --------------------------------------------------------------------------- history


async def history(stack: Stack, plug: str = "fridge", **params: str) -> httpx.Response:
    r = await stack.client.get(f"/api/plugs/{plug}/history", params=params)
    if r.status_code == 200:  # the hand-encoded body is what the schema documents
        body = HistoryOut.model_validate_json(r.content)
        assert body.points == len(body.series.ts)
        assert all(len(column) == body.points for column in body.series.model_dump().values())
    return r


def rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The history columns as one dict per point."""
    series = body["series"]
    return [dict(zip(series, values, strict=True)) for values in zip(*series.values(), strict=True)]


@pytest.mark.parametrize(("since", "resolution"), [
    ("1h", "raw"), ("2h", "raw"), ("24h", "1m"), ("2d", "1m"), ("7d", "1h"), ("60d", "1h"),
    ("61d", "1d"), ("365d", "1d"),
])
async def test_history_picks_the_resolution_from_the_range(
        stack: Stack, since: str, resolution: str) -> None:
    r = await history(stack, since=since)
    assert r.status_code == 200, r.text
    assert r.json()["resolution"] == resolution


async def test_history_default_is_24h_and_shows_the_gaps_as_nulls(stack: Stack) -> None:
    await until(lambda: stack.service.hub.states[stack.ids[0]].readings >= 2)
    await stack.service.writer.flush()  # the live minutes are stored too
    r = await history(stack)
    body = r.json()
    assert body["resolution"] == "1m"
    assert body["until_ts"] - body["since_ts"] == pytest.approx(86400, abs=5)
    points = rows(body)
    assert len([p for p in points if p["power_w"] is not None]) > 200
    now = time.time()
    gaps = [p for p in points if p["power_w"] is None]
    hole = [g for g in gaps if now - GAP[1] - 600 <= g["ts"] <= now - GAP[0]]
    assert len(hole) == 1  # one null inside the hole of the seeded history...
    restart = [g for g in gaps if g not in hole]
    # ...and one where the service started after the seeded data ended (time without
    # readings is a gap, not a line)
    assert len(restart) == 1 and restart[0]["ts"] > now - 900
    assert points[-1]["power_w"] is not None and points[-1]["ts"] > now - 120
    assert not any(now - GAP[1] + 60 < p["ts"] < now - GAP[0] - 60
                   for p in points if p["power_w"] is not None)
    assert [p["ts"] for p in points] == sorted(p["ts"] for p in points)


async def test_history_raw_has_the_live_readings(stack: Stack) -> None:
    await until(lambda: stack.service.hub.states[stack.ids[0]].readings >= 3)
    await stack.service.writer.flush()
    body = (await history(stack, since="10m")).json()
    assert body["resolution"] == "raw"
    assert any(p["ts"] > time.time() - 60 and p["power_w"] is not None for p in rows(body))


async def test_history_explicit_range_and_resolution(stack: Stack) -> None:
    until_ = datetime.fromtimestamp(time.time() - 86400, UTC).isoformat()
    r = await history(stack, "strip", since="3d", until=until_, resolution="1h")  # 3d ago..1d ago
    body = r.json()
    assert r.status_code == 200 and body["resolution"] == "1h"
    assert body["until_ts"] == pytest.approx(time.time() - 86400, abs=5)
    assert body["until_ts"] - body["since_ts"] == pytest.approx(2 * 86400, abs=5)
    assert 40 <= body["points"] <= 50
    assert all(p["power_w"] == pytest.approx(200.0) for p in rows(body))


@pytest.mark.parametrize(("params", "status", "words"), [
    ({"since": "yesterday-ish"}, 400, "since"),
    ({"until": "soon"}, 400, "until"),
    ({"since": "1h", "until": "2h"}, 400, "after"),
    ({"since": "2026-01-02", "until": "2026-01-01"}, 400, "after"),
    ({"since": "now", "until": "now"}, 400, "empty"),
    ({"resolution": "5m"}, 422, "raw"),
    ({"since": "365d", "resolution": "raw"}, 400, "coarser"),
    ({"since": "400d", "resolution": "1m"}, 400, "points"),
])
async def test_history_bad_input(stack: Stack, params: dict[str, str], status: int,
                                 words: str) -> None:
    r = await history(stack, **params)
    assert r.status_code == status, r.text
    assert words in json.dumps(r.json()["detail"])


async def test_history_of_an_unknown_plug(stack: Stack) -> None:
    r = await history(stack, "ghost")
    assert r.status_code == 404


async def test_history_bodies_are_shared_for_a_few_seconds(stack: Stack) -> None:
    cache = stack.app.state.history_cache
    first = await stack.client.get("/api/plugs/strip/history", params={"since": "7d"})
    hits = cache.hits
    again = await asyncio.gather(*(
        stack.client.get(f"/api/plugs/{ref}/history", params={"since": "7d"})
        for ref in ("strip", stack.ids[1], "STRIP")))
    assert cache.hits == hits + 3
    assert all(r.content == first.content for r in again)
    other = await stack.client.get("/api/plugs/strip/history", params={"since": "8d"})
    assert other.content != first.content


# --------------------------------------------------------------------------- energy


async def test_energy_by_day_for_all_plugs(stack: Stack) -> None:
    r = await stack.client.get("/api/energy", params={"by": "day", "since": "7d"})
    assert r.status_code == 200
    body = r.json()
    assert body["by"] == "day" and body["currency"] == "EUR"
    assert {row["name"] for row in body["rows"]} == set(NAMES)
    days = {t["start_ts"] for t in body["totals"]}
    assert SEED_DAYS <= len(days) <= SEED_DAYS + 1
    for total in body["totals"]:
        rows = [x for x in body["rows"] if x["start_ts"] == total["start_ts"]]
        # each value rounded to what a plug measures: 1 Wh, 0.0001 of money
        assert total["kwh"] == pytest.approx(sum(x["kwh"] for x in rows),
                                             abs=0.0005 * (len(rows) + 1))
        assert total["cost"] == pytest.approx(sum(x["cost"] for x in rows),
                                              abs=0.00005 * (len(rows) + 1))
    # periods are whole local days (Berlin midnight)
    for row in body["rows"]:
        start = datetime.fromisoformat(row["start"])
        local = start.astimezone(ZoneInfo("Europe/Berlin"))
        assert (local.hour, local.minute) == (0, 0)
    # the seeded 300 W heater: each day before today holds 300 W × its measured time, and
    # at least one of them is a whole day (23-25 h with DST)
    heater = sorted((x for x in body["rows"] if x["name"] == "heater"),
                    key=lambda x: x["start_ts"])
    for day in heater[:-1]:  # today also holds live readings of another power
        assert day["kwh"] == pytest.approx(0.3 * day["covered_s"] / 3600, rel=1e-3)
    assert max(x["covered_s"] for x in heater) >= 23 * 3600
    assert sum(x["uncovered_s"] for x in heater) >= GAP[1] - GAP[0] - 2 * 300
    assert_no_keys(stack, r.text)


@pytest.mark.parametrize("by", ["hour", "day", "week", "month"])
async def test_energy_periods(stack: Stack, by: str) -> None:
    r = await stack.client.get("/api/energy", params={"by": by, "device": "strip"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rows"] and {x["name"] for x in body["rows"]} == {"strip"}
    assert sum(x["kwh"] for x in body["rows"]) > 0


async def test_energy_several_devices_by_name_and_id(stack: Stack) -> None:
    r = await stack.client.get("/api/energy", params=[("device", "fridge"),
                                                      ("device", stack.ids[2])])
    assert {x["name"] for x in r.json()["rows"]} == {"fridge", "heater"}


@pytest.mark.parametrize(("params", "status", "words"), [
    ({"by": "year"}, 422, "hour"),
    ({"since": "last tuesday"}, 400, "since"),
    ({"until": "x"}, 400, "until"),
    ({"since": "1d", "until": "2d"}, 400, "after"),
    ({"by": "hour", "since": "3650d"}, 400, "too many"),
    ({"device": "ghost"}, 404, "ghost"),
])
async def test_energy_bad_input(stack: Stack, params: dict[str, str], status: int,
                                words: str) -> None:
    r = await stack.client.get("/api/energy", params=params)
    assert r.status_code == status, r.text
    assert words in json.dumps(r.json()["detail"])


# --------------------------------------------------------------------------- switching


async def switch(stack: Stack, plug: str, body: Any, headers: dict[str, str] | None = None,
                 **kw: Any) -> httpx.Response:
    return await stack.client.post(f"/api/plugs/{plug}/switch", json=body, headers=headers,
                                   **kw)


async def test_switch_off_and_on_reaches_the_plug(stack: Stack) -> None:
    sim = stack.server("fridge").plug
    r = await switch(stack, "fridge", {"on": False}, AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["on"] is False and body["outlet"] == 1 and body["reading"]["switch"] is False
    assert sim.switches[1] is False
    assert_no_keys(stack, r.text)
    r = await switch(stack, stack.ids[0], {"on": True, "outlet": 1},
                     {"X-Powermonitor-Token": TOKEN})
    assert r.status_code == 200 and sim.switches[1] is True


async def test_switch_one_outlet_of_a_strip(stack: Stack) -> None:
    sim = stack.server("strip").plug
    r = await switch(stack, "strip", {"on": False, "outlet": 3}, AUTH)
    assert r.status_code == 200, r.text
    assert sim.switches == {**sim.switches, 1: True, 2: True, 3: False, 4: True}
    assert r.json()["reading"]["switches"]["3"] is False


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401),
    ({"Authorization": f"Basic {TOKEN}"}, 401),
    ({"Authorization": "Bearer"}, 401),
    ({"X-Powermonitor-Token": ""}, 401),
    ({"Cookie": f"token={TOKEN}; powermonitor_token={TOKEN}"}, 401),
    ({"Authorization": "Bearer wrong"}, 403),
    ({"X-Powermonitor-Token": TOKEN[:-1]}, 403),
    ({"X-Powermonitor-Token": "wrong", "Authorization": f"Bearer {TOKEN}"}, 403),
])
async def test_switch_needs_the_token_in_a_header(stack: Stack, headers: dict[str, str],
                                                  status: int) -> None:
    sim = stack.server("fridge").plug
    r = await switch(stack, "fridge", {"on": False}, headers)
    assert r.status_code == status, r.text
    if status == 401:
        assert r.headers["www-authenticate"] == "Bearer"
    assert TOKEN not in r.text
    assert sim.switches[1] is True and sim.controls == 0


async def test_switch_unknown_plug(stack: Stack) -> None:
    r = await switch(stack, "ghost", {"on": True}, AUTH)
    assert r.status_code == 404


async def test_switch_unknown_plug_without_token_is_401_not_404(stack: Stack) -> None:
    r = await switch(stack, "ghost", {"on": True})
    assert r.status_code == 401


@pytest.mark.parametrize("body", [
    {}, {"on": "yes"}, {"on": 1}, {"on": None}, {"on": True, "outlet": 0},
    {"on": True, "outlet": "1"}, {"on": True, "outlet": 1.5}, {"on": True, "extra": 1},
    [True], "on",
])
async def test_switch_bad_body(stack: Stack, body: Any) -> None:
    r = await switch(stack, "fridge", body, AUTH)
    assert r.status_code == 422, r.text
    assert stack.server("fridge").plug.controls == 0


async def test_switch_body_not_json(stack: Stack) -> None:
    r = await stack.client.post("/api/plugs/fridge/switch", content=b"on please",
                                headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 422


async def test_switch_an_outlet_the_plug_does_not_have(stack: Stack) -> None:
    r = await switch(stack, "fridge", {"on": False, "outlet": 9}, AUTH)
    assert r.status_code == 422 and "outlet 9" in r.json()["detail"]


async def test_switch_an_offline_plug(stack: Stack) -> None:
    server = stack.server("heater")
    await server.stop()
    await until(lambda: not stack.service.hub.states[stack.ids[2]].online)
    r = await switch(stack, "heater", {"on": False}, AUTH)
    assert r.status_code == 503 and "offline" in r.json()["detail"]
    assert r.headers["retry-after"]
    await server.start()


# --------------------------------------------------------------------------- live events


async def read_events(lines: AsyncIterator[str], want: Callable[[list[tuple[str, str]]], bool],
                      limit: int = 500) -> list[tuple[str, str]]:
    """(kind, payload) items from SSE lines until ``want(items)`` (bounded by ``limit``)."""
    items: list[tuple[str, str]] = []
    event = ""
    async for line in lines:
        if line.startswith(":"):
            items.append(("comment", line[1:].strip()))
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            items.append((event, line[6:]))
        if want(items) or len(items) >= limit:
            break
    return items


async def test_events_stream_readings_heartbeats_and_availability(stack: Stack) -> None:
    hub = stack.service.hub
    before = hub.subscribers
    async with stack.client.stream("GET", "/api/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        async with asyncio.timeout(20):
            lines = response.aiter_lines()
            items = await read_events(lines, lambda xs: (
                {k for k, _ in xs} >= {"reading", "comment"}
                and sum(k == "reading" for k, _ in xs) >= 3
                and ("comment", "heartbeat") in xs))
        readings = [json.loads(d) for k, d in items if k == "reading"]
        assert {r["id"] for r in readings} <= set(stack.ids)
        first = readings[0]
        assert set(first) >= {"id", "name", "ts", "timestamp", "power_w", "voltage_v",
                              "current_a", "switch", "switches", "power_factor"}
        assert hub.subscribers == before + 1
        await stack.server("heater").stop()
        async with asyncio.timeout(20):
            items = await read_events(lines, lambda xs: any(k == "availability"
                                                               for k, _ in xs))
        offline = next(json.loads(d) for k, d in items if k == "availability")
        assert offline == {**offline, "id": stack.ids[2], "name": "heater", "online": False}
        assert offline["reason"]
        for kind, data in items:
            assert_no_keys(stack, data)
        await stack.server("heater").start()
    # the client went away: its subscription is gone
    await until(lambda: hub.subscribers == before)
    live = stack.service.hub
    assert live.subscribers == before


async def test_events_for_one_plug(stack: Stack) -> None:
    async with stack.client.stream("GET", "/api/events", params={"device": "strip"}) as r:
        async with asyncio.timeout(20):
            items = await read_events(r.aiter_lines(),
                                      lambda xs: sum(k == "reading" for k, _ in xs) >= 4)
    ids = {json.loads(d)["id"] for k, d in items if k == "reading"}
    assert ids == {stack.ids[1]}


async def test_events_unknown_plug(stack: Stack) -> None:
    r = await stack.client.get("/api/events", params={"device": "ghost"})
    assert r.status_code == 404


async def test_many_clients_come_and_go(stack: Stack) -> None:
    hub = stack.service.hub
    before = hub.subscribers

    async def one() -> None:
        async with stack.client.stream("GET", "/api/events") as r:
            await read_events(r.aiter_lines(), lambda xs: any(k == "reading" for k, _ in xs))

    async with asyncio.timeout(30):
        await asyncio.gather(*(one() for _ in range(8)))
    await until(lambda: hub.subscribers == before)


# --------------------------------------------------------------------------- the page


async def test_dashboard_is_served_with_its_files_and_no_cdn(stack: Stack) -> None:
    r = await stack.client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    html = r.text
    for path in ("/static/app.js", "/static/style.css", "/static/vendor/uPlot.iife.min.js",
                 "/static/vendor/uPlot.min.css"):
        assert path in html
        asset = await stack.client.get(path)
        assert asset.status_code == 200 and len(asset.content) > 500
        if not path.startswith("/static/vendor/"):
            assert "http://" not in asset.text and "https://" not in asset.text, path
    assert "http://" not in html and "https://" not in html
    lic = await stack.client.get("/static/vendor/uPlot.LICENSE")
    assert lic.status_code == 200 and "MIT License" in lic.text


async def test_openapi_and_no_cdn_docs(stack: Stack) -> None:
    r = await stack.client.get("/openapi.json")
    paths = r.json()["paths"]
    assert {"/api/plugs", "/api/plugs/{plug}", "/api/plugs/{plug}/history", "/api/energy",
            "/api/plugs/{plug}/switch", "/api/events", "/api/health"} <= set(paths)
    assert_no_keys(stack, r.text)
    assert (await stack.client.get("/docs")).status_code == 404


async def test_unknown_api_path(stack: Stack) -> None:
    assert (await stack.client.get("/api/nothing")).status_code == 404


async def test_no_local_key_in_any_response(stack: Stack) -> None:
    paths = ["/api/plugs", "/api/health", "/openapi.json", "/api/energy?by=hour",
             *(f"/api/plugs/{i}" for i in stack.ids),
             *(f"/api/plugs/{i}/history?since=1h" for i in stack.ids),
             "/api/plugs/ghost", "/api/energy?since=bad"]
    for path in paths:
        r = await stack.client.get(path)
        assert_no_keys(stack, r.text)
        assert TOKEN not in r.text


def test_resolution_rule() -> None:
    from powermonitor.storage.base import pick_resolution

    h, d = 3600.0, 86400.0
    assert [pick_resolution(s) for s in (60, 2 * h, 2 * h + 1, 2 * d, 2 * d + 1, 60 * d,
                                         60 * d + 1, 3650 * d)] == [
        "raw", "raw", "1m", "1m", "1h", "1h", "1d", "1d"]
