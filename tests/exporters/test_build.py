"""build_exporters: off by default, on by section or environment, config errors at start-up."""

from __future__ import annotations

import pytest

from powermonitor.config import Config
from powermonitor.errors import ConfigError
from powermonitor.exporters import build_exporters, prometheus_settings
from powermonitor.exporters.influx import InfluxWriter
from powermonitor.exporters.mqtt import MqttBridge
from powermonitor.exporters.prometheus import MetricsServer
from powermonitor.monitor.hub import Hub

from .conftest import StubService


def service() -> StubService:
    return StubService(Config(), Hub())


def test_everything_is_off_by_default() -> None:
    assert build_exporters(service(), {}, {}) == []
    assert build_exporters(service(), {"storage": {"path": "x"}}, {}) == []


def test_sections_switch_exporters_on() -> None:
    extra = {
        "prometheus": {"listen": "127.0.0.1:9108"},
        "mqtt": {"url": "mqtt://broker:1883"},
        "influx": {"url": "http://influx:8086", "database": "power"},
    }
    exporters = build_exporters(service(), extra, {})
    assert [type(e) for e in exporters] == [MetricsServer, MqttBridge, InfluxWriter]
    assert [e.name for e in exporters] == ["prometheus", "mqtt", "influx"]
    server = exporters[0]
    assert isinstance(server, MetricsServer) and (server.host, server.port) == ("127.0.0.1", 9108)


def test_environment_switches_exporters_on() -> None:
    env = {"POWERMONITOR_METRICS_LISTEN": ":9200", "POWERMONITOR_MQTT_URL": "mqtt://b",
           "POWERMONITOR_INFLUX_URL": "http://i:8086"}
    exporters = build_exporters(service(), {"influx": {"database": "d"}}, env)
    assert [e.name for e in exporters] == ["prometheus", "mqtt", "influx"]
    server = exporters[0]
    assert isinstance(server, MetricsServer) and (server.host, server.port) == ("0.0.0.0", 9200)


def test_flag_beats_env_beats_file() -> None:
    table = {"listen": "127.0.0.1:1"}
    assert prometheus_settings(table, {}).listen == ("127.0.0.1", 1)
    env = {"POWERMONITOR_METRICS_LISTEN": "127.0.0.1:2"}
    assert prometheus_settings(table, env).listen == ("127.0.0.1", 2)
    assert prometheus_settings(table, env, "[::1]:3").listen == ("::1", 3)
    assert prometheus_settings({}, {}).web is True


def test_section_can_be_disabled() -> None:
    extra = {"mqtt": {"url": "mqtt://b", "enabled": False}}
    assert build_exporters(service(), extra, {}) == []


@pytest.mark.parametrize(("extra", "message"), [
    ({"prometheus": {"listen": "9108"}}, "HOST:PORT"),
    ({"prometheus": {"port": 1}}, "unknown key 'port'"),
    ({"mqtt": "mqtt://b"}, "[mqtt] must be a table"),
    ({"mqtt": {"url": "mqtt://b", "keepalive": "30"}}, "'keepalive' must be an integer"),
    ({"influx": {"url": "http://i"}}, "'database' is required"),
])
def test_config_errors(extra: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_exporters(service(), extra, {})
    assert message in str(info.value)
