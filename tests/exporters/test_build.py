"""build_exporters: off by default, on by section or environment; config errors at load."""

from __future__ import annotations

import pytest

from powermonitor.config import Config, parse_config
from powermonitor.errors import ConfigError
from powermonitor.exporters import build_exporters
from powermonitor.exporters.influx import InfluxWriter
from powermonitor.exporters.mqtt import MqttBridge
from powermonitor.exporters.prometheus import MetricsServer
from powermonitor.monitor.hub import Hub

from .conftest import StubService


def service() -> StubService:
    return StubService(Config(), Hub())


def config(text: str = "", env: dict[str, str] | None = None) -> Config:
    return parse_config(text, "c.toml", env or {})


def test_everything_is_off_by_default() -> None:
    assert build_exporters(service(), config()) == []
    assert build_exporters(service(), config('[storage]\ndb = "x"\n')) == []


def test_sections_switch_exporters_on() -> None:
    text = ('[prometheus]\nlisten = "127.0.0.1:9108"\n[mqtt]\nurl = "mqtt://broker:1883"\n'
            '[influx]\nurl = "http://influx:8086"\ndatabase = "power"\n')
    exporters = build_exporters(service(), config(text))
    assert [type(e) for e in exporters] == [MetricsServer, MqttBridge, InfluxWriter]
    assert [e.name for e in exporters] == ["prometheus", "mqtt", "influx"]
    server = exporters[0]
    assert isinstance(server, MetricsServer) and (server.host, server.port) == ("127.0.0.1", 9108)


def test_environment_switches_exporters_on() -> None:
    env = {"POWERMONITOR_METRICS_LISTEN": ":9200", "POWERMONITOR_MQTT_URL": "mqtt://b",
           "POWERMONITOR_INFLUX_URL": "http://i:8086"}
    exporters = build_exporters(service(), config('[influx]\ndatabase = "d"\n', env))
    assert [e.name for e in exporters] == ["prometheus", "mqtt", "influx"]
    server = exporters[0]
    assert isinstance(server, MetricsServer) and (server.host, server.port) == ("0.0.0.0", 9200)


def test_flag_beats_env_beats_file() -> None:
    text = '[prometheus]\nlisten = "127.0.0.1:1"\n'
    assert config(text).prometheus.listen == ("127.0.0.1", 1)
    env = {"POWERMONITOR_METRICS_LISTEN": "127.0.0.1:2"}
    assert config(text, env).prometheus.listen == ("127.0.0.1", 2)
    exporters = build_exporters(service(), config(text, env), metrics_listen=("::1", 3))
    server = exporters[0]
    assert isinstance(server, MetricsServer) and (server.host, server.port) == ("::1", 3)
    assert config().prometheus.web is True


def test_section_can_be_disabled() -> None:
    assert build_exporters(service(), config('[mqtt]\nurl = "mqtt://b"\nenabled = false\n')) == []


@pytest.mark.parametrize(("text", "line", "message"), [
    ('[prometheus]\nlisten = "9108"\n', 2, "HOST:PORT"),
    ('[prometheus]\nport = 1\n', 2, "unknown key 'port' in [prometheus] (did you mean 'listen'?)"),
    ('mqtt = "mqtt://b"\n', 1, "[mqtt] must be a table"),
    ('[mqtt]\nurl = "mqtt://b"\nkeepalive = "30"\n', 3, "'keepalive' must be an integer"),
    ('[influx]\nurl = "http://i"\n', 1, "'database' is required"),
])
def test_config_errors_at_load_with_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config(text)
    assert message in str(info.value)
    assert str(info.value).startswith(f"c.toml:{line}:")
