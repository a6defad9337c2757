"""Exporters: Prometheus metrics, MQTT with Home Assistant discovery, InfluxDB.

Each is off by default and switched on by its config section or an environment variable
(read, validated and typed by :mod:`powermonitor.config`).
The service builds them once with :func:`build_exporters` and runs each ``run()`` as a task
beside the monitor; ``run()`` only returns when cancelled, and never raises for trouble with
the outside world (it logs once, clearly, then retries quietly), so an exporter can never stop
polling or storage. Configuration mistakes are found when the config file is loaded.

Config example (every key optional except each section's ``url``/``listen``)::

    [prometheus]
    listen = "127.0.0.1:9108"   # own /metrics server; env POWERMONITOR_METRICS_LISTEN
    web = true                  # also serve /metrics on the web app (the web server decides)

    [mqtt]
    url = "mqtt://user:secret@broker.lan:1883"   # or mqtts://…:8883; env POWERMONITOR_MQTT_URL
    topic_prefix = "powermonitor"
    discovery_prefix = "homeassistant"
    state_interval = 5.0                         # s, a plug's state at most this often

    [influx]
    url = "http://influx.lan:8086"              # env POWERMONITOR_INFLUX_URL
    api = "v2"
    org = "home"
    bucket = "power"
    token = "…"                                  # env POWERMONITOR_INFLUX_TOKEN
"""

from __future__ import annotations

from typing import Protocol

from ..config import Config, PrometheusSettings
from .base import ServiceLike

__all__ = [
    "Exporter",
    "PrometheusSettings",
    "build_exporters",
]


class Exporter(Protocol):
    """Something the service runs as a task: ``await exporter.run()`` until cancelled."""

    name: str

    async def run(self) -> None: ...


def build_exporters(
    service: ServiceLike,
    config: Config,
    *,
    metrics_listen: tuple[str, int] | None = None,
) -> list[Exporter]:
    """The exporters ``config`` switches on, ready to ``run()``.

    The settings were validated (and the environment applied) when the config was loaded;
    ``metrics_listen`` is the ``--metrics-listen`` flag, which wins over ``[prometheus]``.
    """
    exporters: list[Exporter] = []
    listen = metrics_listen or config.prometheus.listen
    if listen is not None:
        from .prometheus import MetricsServer

        exporters.append(MetricsServer(service, *listen))
    if config.mqtt is not None:
        from .mqtt import MqttBridge

        exporters.append(MqttBridge(service, config.mqtt))
    if config.influx is not None:
        from .influx import InfluxWriter

        exporters.append(InfluxWriter(service, config.influx))
    return exporters
