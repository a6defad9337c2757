"""InfluxDB writer: line protocol, the three write APIs, real InfluxDB 1.x, outages."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from portpick import free_port

from powermonitor.client.reconnect import Backoff
from powermonitor.config import Config
from powermonitor.config.sections import influx_settings
from powermonitor.errors import ConfigError
from powermonitor.exporters.influx import (
    InfluxSettings,
    InfluxWriter,
    escape_key,
    escape_measurement,
    line_for,
    point,
)
from powermonitor.models import Reading
from powermonitor.monitor.hub import Hub

from .conftest import Influxd, Receiver, StubService, live_fleet, until

T0 = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
T0_NS = 1_795_694_400_123_456_000


def settings(url: str, **table: Any) -> InfluxSettings:
    s = influx_settings({"url": url, "flush_interval": 0.1, **table}, {})
    assert s is not None
    return s


@asynccontextmanager
async def running(service: Any, s: InfluxSettings) -> AsyncIterator[InfluxWriter]:
    writer = InfluxWriter(service, s, backoff=Backoff(initial=0.1, cap=0.3, key_error_delay=0.3))
    before = service.hub.subscribers
    task = asyncio.create_task(writer.run())
    await until(lambda: service.hub.subscribers > before)
    try:
        yield writer
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# --------------------------------------------------------------------------- line protocol


def test_timestamp_is_exact_nanoseconds() -> None:
    assert T0_NS == int(T0.replace(microsecond=0).timestamp()) * 10**9 + 123_456_000
    line = line_for(Reading("bf01", T0, power_w=5.0), "x", None)
    assert line is not None and line.endswith(f" {T0_NS}")


def test_point_fields_and_tags() -> None:
    r = Reading("bf01", T0, True, {"1": True}, 81.5, 229.8, 0.372, power_factor=0.95)
    assert line_for(r, "fridge", 1234.5) == (
        "powermonitor,device_id=bf01,name=fridge power_w=81.5,voltage_v=229.8,current_a=0.372,"
        f"power_factor=0.95,switch=true,energy_wh_total=1234.5 {T0_NS}"
    )
    # missing quantities are left out (never 0); ints become floats; an empty name is no tag
    bare = Reading("bf02", T0, False, power_w=0)
    assert line_for(bare, "", None) == f"powermonitor,device_id=bf02 power_w=0.0,switch=false {T0_NS}"
    assert line_for(Reading("bf03", T0), "n", None) is None  # no field at all: no point
    assert point("m", {}, {"x": float("nan"), "y": float("inf"), "z": 1}, None) == "m z=1.0"


@pytest.mark.parametrize(("raw", "escaped"), [
    ("living room", "living\\ room"),
    ("a,b", "a\\,b"),
    ("a=b", "a\\=b"),
    ('say "hi"', 'say\\ "hi"'),  # quotes need no escape in tags
    ("back\\slash", "back/slash"),
    ("ends\\", "ends/"),
    ("two\nlines", "two\\ lines"),
])
def test_tag_escaping(raw: str, escaped: str) -> None:
    assert escape_key(raw) == escaped


def test_measurement_and_string_escaping() -> None:
    assert escape_measurement("my power,x=1") == "my\\ power\\,x=1"
    assert point("m", {"t": "v"}, {"s": 'a "q" \\ b'}, 1) == 'm,t=v s="a \\"q\\" \\\\ b" 1'


# --------------------------------------------------------------------------- settings


def test_settings_choose_the_api() -> None:
    v2 = influx_settings({"url": "http://h:8086", "org": "o", "bucket": "b", "token": "s3cr3t"},
                         {})
    assert v2 is not None and v2.api == "v2" and "s3cr3t" not in repr(v2)
    v3 = influx_settings({"url": "http://h:8181", "database": "d", "token": "t"}, {})
    assert v3 is not None and v3.api == "v3"
    v1 = influx_settings({"url": "http://h:8086", "database": "d"}, {})
    assert v1 is not None and v1.api == "v1"
    env = influx_settings({"database": "d"}, {"POWERMONITOR_INFLUX_URL": "http://e:1",
                                              "POWERMONITOR_INFLUX_TOKEN": "tok"})
    assert env is not None and env.url == "http://e:1" and env.token == "tok"
    assert influx_settings(None, {}) is None
    assert influx_settings({"url": "http://h", "database": "d", "enabled": False}, {}) is None


@pytest.mark.parametrize(("table", "message"), [
    ({"database": "d"}, "'url' is missing"),
    ({"url": "ftp://h", "database": "d"}, "must be http://"),
    ({"url": "http://u:p@h", "database": "d"}, "not in the url"),
    ({"url": "http://h"}, "'database' is required"),
    ({"url": "http://h", "api": "v2", "org": "o", "bucket": "b"}, "'token' is required"),
    ({"url": "http://h", "api": "v4"}, "must be one of v1, v2, v3"),
    ({"url": "http://h", "database": "d", "batch_size": 0}, "'batch_size'"),
    ({"url": "http://h", "database": "d", "db": "x"}, "unknown key 'db'"),
])
def test_settings_errors(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        influx_settings(table, {})


# --------------------------------------------------------------------------- requests


def hub_service(n: int = 2) -> StubService:
    from powermonitor.config import PlugConfig

    plugs = tuple(PlugConfig(name=f"plug {i}", device_id=f"bf{i:02d}", host="10.0.0.1",
                             local_key="0123456789abcdef", version="3.3") for i in range(n))
    service = StubService(Config(plugs=plugs), Hub())
    service.recorder.wh.update({p.device_id: 100.0 * (i + 1)
                                for i, p in enumerate(plugs)})
    return service


def publish(service: StubService, count: int, power: float = 50.0) -> None:
    for i in range(count):
        for p in service.config.plugs:
            service.hub.publish(Reading(p.device_id, T0.replace(second=i % 60), True, {"1": True},
                                        power, 230.0, power / 230.0))


async def test_v2_request(receiver: Receiver) -> None:
    service = hub_service()
    s = settings(receiver.url, org="my org", bucket="power", token="s3cret")
    async with running(service, s) as writer:
        publish(service, 3)
        await until(lambda: writer.written == 6)
    r = receiver.requests[0]
    assert (r.method, r.path) == ("POST", "/api/v2/write")
    assert r.query == {"org": "my org", "bucket": "power", "precision": "ns"}
    assert r.headers["authorization"] == "Token s3cret"
    assert r.headers["content-type"].startswith("text/plain")
    lines = receiver.lines()
    assert len(lines) == 6 and lines[0].startswith("powermonitor,device_id=bf00,name=plug\\ 0 ")
    assert "energy_wh_total=100.0" in lines[0] and "switch=true" in lines[0]


async def test_v3_request(receiver: Receiver) -> None:
    service = hub_service()
    s = settings(receiver.url + "/prefix/", database="power", token="tok", gzip=True)
    assert s.api == "v3"
    async with running(service, s) as writer:
        publish(service, 1)
        await until(lambda: writer.written == 2)
    r = receiver.requests[0]
    assert (r.method, r.path) == ("POST", "/prefix/api/v3/write_lp")
    assert r.query == {"db": "power", "precision": "nanosecond"}
    assert r.headers["authorization"] == "Bearer tok"
    assert r.headers["content-encoding"] == "gzip"
    assert len(receiver.lines()) == 2


async def test_v1_request_uses_basic_auth(receiver: Receiver) -> None:
    service = hub_service()
    s = settings(receiver.url, database="db", retention_policy="autogen", username="u",
                 password="p w")
    async with running(service, s) as writer:
        publish(service, 1)
        await until(lambda: writer.written == 2)
    r = receiver.requests[0]
    assert r.path == "/write" and r.query == {"db": "db", "rp": "autogen", "precision": "ns"}
    assert r.headers["authorization"] == "Basic " + base64.b64encode(b"u:p w").decode()


async def test_batching_by_size_and_interval(receiver: Receiver) -> None:
    service = hub_service(1)
    s = settings(receiver.url, database="d", batch_size=10, flush_interval=30.0)
    async with running(service, s) as writer:
        publish(service, 25)
        await until(lambda: writer.written == 20)  # two full batches, without waiting 30 s
        await asyncio.sleep(0.3)
        assert writer.written == 20 and len(writer.buffer) == 5
    assert [len(r.body.splitlines()) for r in receiver.requests][:2] == [10, 10]
    assert len(receiver.requests) == 3  # the rest went out in the final flush on shutdown


async def test_auth_error_logs_once_and_retries_slowly(caplog: pytest.LogCaptureFixture) -> None:
    bad = await Receiver(status=401, body=b'{"code":"unauthorized"}').start()
    try:
        service = hub_service(1)
        async with running(service, settings(bad.url, database="d", token="s3cr3t")) as writer:
            publish(service, 3)
            await until(lambda: len(bad.requests) >= 3)
            # the server counts a request before the writer has its answer: until then the
            # batch is in flight, out of the buffer; refused, it comes back, kept for later
            await until(lambda: len(writer.buffer) == 3)
            assert writer.written == 0
        errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(errors) == 1 and "refused our credentials" in errors[0].getMessage()
        assert "s3cr3t" not in caplog.text
    finally:
        await bad.stop()


async def test_rejected_data_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    bad = await Receiver(status=400, body=b'{"error":"field type conflict"}').start()
    try:
        service = hub_service(1)
        async with running(service, settings(bad.url, database="d")) as writer:
            publish(service, 2)
            await until(lambda: writer.rejected == 2)
            assert not writer.buffer
        assert "field type conflict" in caplog.text
    finally:
        await bad.stop()


async def test_bounded_buffer_drops_oldest_and_counts() -> None:
    service = hub_service(1)
    s = settings(f"http://127.0.0.1:{free_port()}", database="d", max_buffer=5, batch_size=2)
    async with running(service, s) as writer:
        for i in range(12):
            service.hub.publish(Reading("bf00", T0.replace(second=i), power_w=float(i)))
        await until(lambda: writer.dropped >= 7)
        assert len(writer.buffer) <= 5
        assert " power_w=11.0," in writer.buffer[-1]  # the newest is kept


async def test_receiver_down_retries_and_polling_goes_on(caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    """No server: writes are retried with backoff while the monitor keeps polling; when the
    server appears on that port, the buffered points arrive, oldest first."""
    caplog.set_level(logging.INFO, "powermonitor.exporters")
    port = free_port()
    late: Receiver | None = None
    try:
        async with live_fleet(["cz", "cz"]) as live:
            s = settings(f"http://127.0.0.1:{port}", database="d", batch_size=5)
            async with running(live.service, s) as writer:
                await until(lambda: writer.failures >= 3, 15)
                before = live.readings()
                await until(lambda: live.readings() >= before + 4, 10)  # readings keep flowing
                assert len(writer.buffer) >= 4 and writer.written == 0
                late = await Receiver(port=port).start()
                await until(lambda: writer.written >= 4 and not writer.buffer, 15)
            # The writer stops before the receiver: a write after the receiver went away
            # would be a second, real error.
        stamps = [int(line.rsplit(" ", 1)[1]) for line in late.lines()]
        per_plug: dict[str, list[int]] = {}
        for line, ts in zip(late.lines(), stamps, strict=True):
            per_plug.setdefault(line.split(",")[1], []).append(ts)
        assert all(v == sorted(v) for v in per_plug.values())
    finally:
        if late is not None:
            await late.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING
              and r.name.startswith("powermonitor.exporters")]
    assert len(errors) == 1 and "cannot write to" in errors[0].getMessage()
    assert any("writing to" in r.getMessage() and "again" in r.getMessage()
               for r in caplog.records)


# --------------------------------------------------------------------------- real InfluxDB 1.x


async def test_real_influxdb_v1(influxd: Influxd) -> None:
    async with httpx.AsyncClient(base_url=influxd.url) as http:
        r = await http.post("/query", data={"q": 'CREATE DATABASE "power"'})
        assert r.status_code == 200, r.text
        service = hub_service(2)
        odd = 'desk, "lamp"=on\\x'
        service.config = Config(plugs=(service.config.plugs[0],
                                       dataclasses.replace(service.config.plugs[1], name=odd)))
        async with running(service, settings(influxd.url, database="power")) as writer:
            publish(service, 3, power=42.5)
            await until(lambda: writer.written == 6, 15)
        r = await http.get("/query", params={
            "db": "power", "epoch": "ns",
            "q": 'SELECT * FROM powermonitor GROUP BY "device_id", "name"',
        })
        assert "series" in r.json().get("results", [{}])[0], r.json()
        series = r.json()["results"][0]["series"]
    by_id = {s["tags"]["device_id"]: s for s in series}
    assert set(by_id) == {"bf00", "bf01"}
    assert by_id["bf01"]["tags"]["name"] == odd.replace("\\", "/")
    cols = by_id["bf00"]["columns"]
    row = dict(zip(cols, by_id["bf00"]["values"][0], strict=True))
    assert row["time"] == T0_NS
    assert row["power_w"] == 42.5 and row["voltage_v"] == 230.0 and row["switch"] is True
    assert row["energy_wh_total"] == 100.0
    assert len(by_id["bf00"]["values"]) == 3


async def test_real_influxdb_v1_missing_database(influxd: Influxd,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    service = hub_service(1)
    async with running(service, settings(influxd.url, database="nope")) as writer:
        publish(service, 1)
        await until(lambda: writer.failures >= 2, 10)
        assert len(writer.buffer) == 1
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1 and "create the database" in errors[0].getMessage()
