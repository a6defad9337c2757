"""Prometheus metrics: values parsed back, absent-not-zero for offline plugs, promtool, serving."""

from __future__ import annotations

import asyncio
import gzip
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from powermonitor.config import Config, PlugConfig
from powermonitor.dps import DpMapping
from powermonitor.exporters.prometheus import (
    CONTENT_TYPE,
    METRIC_NAMES,
    MetricsServer,
    metrics_asgi_app,
    registry_for,
    render_metrics,
)
from powermonitor.models import Reading
from powermonitor.monitor.hub import Availability, Hub
from powermonitor.recorder import Recorder
from powermonitor.storage.sqlite import SqliteStore
from powermonitor.storage.writer import StoreWriter
from powermonitor.tariff import Tariff

from .conftest import FakeRecorder, StubService, find_binary, live_fleet, until

T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
KEY = "0123456789abcdef"


def plug(i: int, name: str, **kw: object) -> PlugConfig:
    return PlugConfig(name=name, device_id=f"bf{i:018d}", host=f"192.168.1.{10 + i}",
                      local_key=KEY, version="3.3", **kw)  # type: ignore[arg-type]


def service_with_states() -> StubService:
    """Four plugs: fridge online, strip online (2 outlets), heater offline, new never seen."""
    plugs = (plug(1, "fridge"), plug(2, 'strip "desk"\\x'), plug(3, "heater"),
             plug(4, "new", mapping=DpMapping(name="custom")))
    hub = Hub()
    for p in plugs:
        hub.register(p.device_id, p.name)
    fridge, strip, heater = plugs[0].device_id, plugs[1].device_id, plugs[2].device_id
    hub.publish(Reading(fridge, T0, True, {"1": True}, 81.5, 229.8, 0.372, 85.5, 0.953,
                        dps={"1": True, "18": 372, "19": 815, "20": 2298}, protocol="3.3"))
    hub.set_availability(Availability(fridge, "fridge", True, T0))
    hub.publish(Reading(strip, T0, True, {"1": True, "2": False}, 10.0, None, None,
                        dps={"1": True, "2": False}, protocol="3.4"))
    hub.set_availability(Availability(strip, "strip", True, T0))
    hub.publish(Reading(heater, T0, False, {"1": False}, 0.0, 230.0, 0.0, protocol="3.3"))
    hub.set_availability(Availability(heater, "heater", False, T0, "timed out", "timeout"))
    recorder = FakeRecorder({fridge: 1500.0, heater: 2.5})
    writer = StoreWriter(SqliteStore(":memory:"))  # never started: not recording
    return StubService(Config(plugs=plugs), hub, recorder, writer=writer)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(parsed: dict[tuple[str, frozenset[tuple[str, str]]], float], metric: str,
          **labels: str) -> float | None:
    for (n, labs), v in parsed.items():
        if n == metric and set(labels.items()) <= labs:
            return v
    return None


def test_values_parse_back() -> None:
    service = service_with_states()
    parsed = samples(render_metrics(service).decode())
    fridge, strip, heater, new = (p.device_id for p in service.config.plugs)
    assert value(parsed, "powermonitor_power_watts", device_id=fridge, name="fridge") == 81.5
    assert value(parsed, "powermonitor_voltage_volts", device_id=fridge) == 229.8
    assert value(parsed, "powermonitor_current_amperes", device_id=fridge) == 0.372
    assert value(parsed, "powermonitor_power_factor", device_id=fridge) == 0.953
    assert value(parsed, "powermonitor_switch_on", device_id=fridge, outlet="1") == 1.0
    assert value(parsed, "powermonitor_device_up", device_id=fridge) == 1.0
    assert value(parsed, "powermonitor_energy_joules_total", device_id=fridge) == 1500.0 * 3600
    assert value(parsed, "powermonitor_last_reading_timestamp_seconds",
                 device_id=fridge) == T0.timestamp()
    assert value(parsed, "powermonitor_device_info", device_id=fridge, host="192.168.1.11",
                 protocol="3.3", layout="cz") == 1.0
    # strip: two outlets, no voltage reported → no voltage sample (absent, not 0)
    assert value(parsed, "powermonitor_switch_on", device_id=strip, outlet="2") == 0.0
    assert value(parsed, "powermonitor_switch_on", device_id=strip, outlet="1") == 1.0
    assert value(parsed, "powermonitor_voltage_volts", device_id=strip) is None
    assert value(parsed, "powermonitor_power_watts", device_id=strip,
                 name='strip "desk"\\x') == 10.0
    # heater offline: device_up 0, energy and last timestamp kept, no live values at all
    assert value(parsed, "powermonitor_device_up", device_id=heater) == 0.0
    for name in ("powermonitor_power_watts", "powermonitor_voltage_volts",
                 "powermonitor_current_amperes", "powermonitor_switch_on"):
        assert value(parsed, name, device_id=heater) is None, name
    assert value(parsed, "powermonitor_energy_joules_total", device_id=heater) == 2.5 * 3600
    assert value(parsed, "powermonitor_last_reading_timestamp_seconds", device_id=heater)
    # configured but never reached: up 0 and an info series, nothing else
    assert value(parsed, "powermonitor_device_up", device_id=new, name="new") == 0.0
    assert value(parsed, "powermonitor_device_info", device_id=new, layout="custom") == 1.0
    assert value(parsed, "powermonitor_last_reading_timestamp_seconds", device_id=new) is None
    assert {n for n, _ in parsed} <= METRIC_NAMES


def test_types_and_no_created_series() -> None:
    text = render_metrics(service_with_states()).decode()
    kinds = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert kinds["powermonitor_energy_joules"] == "counter"
    assert kinds["powermonitor_power_watts"] == "gauge"
    assert "_created" not in text
    assert "# TYPE powermonitor_energy_joules_total counter" in text


def test_collector_matches_fast_renderer() -> None:
    service = service_with_states()
    fast = samples(render_metrics(service).decode())
    slow = samples(generate_latest(registry_for(service)).decode())
    assert fast == slow


async def test_recording_says_whether_readings_are_stored(tmp_path: Path) -> None:
    service = service_with_states()
    store = SqliteStore(tmp_path / "pm.db")
    await store.open()
    writer = service.writer = StoreWriter(store, flush_interval=0.05)
    try:
        writer.start()
        parsed = samples(render_metrics(service).decode())
        assert value(parsed, "powermonitor_recording") == 1.0
        assert value(parsed, "powermonitor_store_pending_samples") == 0.0
        await writer.stop()  # a writer that stopped stores nothing more: not healthy
        parsed = samples(render_metrics(service).decode())
        assert value(parsed, "powermonitor_recording") == 0.0
    finally:
        await writer.stop()
        await store.close()
    service.writer = None  # a service without a store: no such series at all
    parsed = samples(render_metrics(service).decode())
    assert value(parsed, "powermonitor_recording") is None


def test_no_recorder_means_no_energy_but_everything_else() -> None:
    service = service_with_states()
    service.recorder = None
    parsed = samples(render_metrics(service).decode())
    assert value(parsed, "powermonitor_energy_joules_total") is None
    assert value(parsed, "powermonitor_power_watts") is not None


@pytest.mark.service
def test_promtool_check_metrics_is_clean() -> None:
    promtool = find_binary("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    text = render_metrics(service_with_states())
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                            timeout=30, check=False)
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), (
        result.stdout.decode() + result.stderr.decode()
    )


async def test_metrics_server_serves_and_negotiates() -> None:
    service = service_with_states()
    server = MetricsServer(service, "127.0.0.1", 0)
    task = asyncio.create_task(server.run())
    try:
        await asyncio.wait_for(server.started.wait(), 5)
        base = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient() as http:
            r = await http.get(f"{base}/metrics", headers={"Accept-Encoding": "identity"})
            assert r.status_code == 200 and r.headers["content-type"] == CONTENT_TYPE
            assert "powermonitor_device_up" in r.text
            raw = await http.get(f"{base}/metrics", headers={"Accept-Encoding": "gzip"})
            assert raw.headers.get("content-encoding") == "gzip"
            assert raw.text == r.text  # httpx decoded it
            om = await http.get(f"{base}/metrics",
                                headers={"Accept": "application/openmetrics-text"})
            assert om.headers["content-type"].startswith("application/openmetrics-text")
            assert om.text.rstrip().endswith("# EOF")
            assert (await http.get(f"{base}/nope")).status_code == 404
            assert (await http.post(f"{base}/metrics")).status_code == 405
            head = await http.head(f"{base}/metrics")
            assert head.status_code == 200 and head.content == b""
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_metrics_server_retries_a_busy_port(caplog: pytest.LogCaptureFixture) -> None:
    blocker = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    server = MetricsServer(service_with_states(), "127.0.0.1", port, retry_s=0.1)
    task = asyncio.create_task(server.run())
    try:
        await until(lambda: server._quiet.count >= 3)  # refused, then retried (quietly)
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1 and "cannot listen" in errors[0].getMessage()
        blocker.close()
        await blocker.wait_closed()
        await asyncio.wait_for(server.started.wait(), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        blocker.close()


async def test_asgi_app() -> None:
    app = metrics_asgi_app(service_with_states())
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app({"type": "http", "method": "GET", "path": "/", "headers": []}, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 200
    assert (b"content-type", CONTENT_TYPE.encode()) in sent[0]["headers"]  # type: ignore[operator]
    body = sent[1]["body"]
    assert isinstance(body, bytes) and b"powermonitor_power_watts{" in body
    sent.clear()
    await app({"type": "http", "method": "GET", "path": "/",
               "headers": [(b"accept-encoding", b"gzip")]}, receive, send)  # type: ignore[arg-type]
    assert gzip.decompress(sent[1]["body"]) == body  # type: ignore[arg-type]


async def test_routed_in_a_fastapi_app() -> None:
    import fastapi

    app = fastapi.FastAPI()
    app.add_route("/metrics", metrics_asgi_app(service_with_states()), include_in_schema=False)  # type: ignore[arg-type]  # an ASGI app
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        r = await http.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"] == CONTENT_TYPE
        assert samples(r.text) == samples(render_metrics(service_with_states()).decode())
        assert (await http.head("/metrics")).content == b""


async def test_against_a_live_fleet() -> None:
    """Real coordinators: metrics appear once polled, and an unplugged plug drops to up=0."""
    async with live_fleet(["cz", "strip4"]) as live:
        await until(lambda: all(s.online for s in live.service.hub.states.values()))
        await until(lambda: all(s.reading is not None
                                for s in live.service.hub.states.values()))
        parsed = samples(render_metrics(live.service).decode())
        cz, strip = live.ids()
        assert value(parsed, "powermonitor_power_watts", device_id=cz) == pytest.approx(100, 0.2)
        assert value(parsed, "powermonitor_switch_on", device_id=strip, outlet="4") is not None
        await live.fleet.servers[0].stop()
        await until(lambda: not live.service.hub.states[cz].online, timeout=15)
        parsed = samples(render_metrics(live.service).decode())
        assert value(parsed, "powermonitor_device_up", device_id=cz) == 0.0
        assert value(parsed, "powermonitor_power_watts", device_id=cz) is None
        assert value(parsed, "powermonitor_device_up", device_id=strip) == 1.0


async def test_energy_counter_comes_from_the_real_recorder() -> None:
    async with live_fleet(["cz"]) as live:
        (cz,) = live.ids()
        recorder = Recorder(live.service.hub, None, Tariff(flat_price=0.3))
        task = asyncio.create_task(recorder.run())
        try:
            live.service.recorder = recorder
            await until(lambda: recorder.samples >= 2, 10)
            first = value(samples(render_metrics(live.service).decode()),
                          "powermonitor_energy_joules_total", device_id=cz)
            assert first is not None and first > 0
            assert first == pytest.approx(recorder.totals()[cz].total_wh * 3600, rel=0.2)
            count = recorder.samples
            await until(lambda: recorder.samples >= count + 2, 10)
            second = value(samples(render_metrics(live.service).decode()),
                           "powermonitor_energy_joules_total", device_id=cz)
            assert second is not None and second > first  # ~100 W for ~2 s: ~200 J more
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
