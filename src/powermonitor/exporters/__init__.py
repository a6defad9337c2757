"""Exporters: Prometheus metrics, MQTT with Home Assistant discovery, InfluxDB.

Each is off by default and switched on by its config section or an environment variable.
The service builds them once with :func:`build_exporters` and runs each ``run()`` as a task
beside the monitor; ``run()`` only returns when cancelled, and never raises for trouble with
the outside world (it logs once, clearly, then retries quietly), so an exporter can never stop
polling or storage. Configuration mistakes raise :class:`~powermonitor.errors.ConfigError`
from :func:`build_exporters`, at start-up.

Config example (every key optional except each section's ``url``/``listen``)::

    [prometheus]
    listen = "127.0.0.1:9108"   # own /metrics server; env POWERMONITOR_METRICS_LISTEN
    web = true                  # also serve /metrics on the web app (the web server decides)

    [mqtt]
    url = "mqtt://user:secret@broker.lan:1883"   # or mqtts://…:8883; env POWERMONITOR_MQTT_URL
    topic_prefix = "powermonitor"
    discovery_prefix = "homeassistant"

    [influx]
    url = "http://influx.lan:8086"              # env POWERMONITOR_INFLUX_URL
    api = "v2"
    org = "home"
    bucket = "power"
    token = "…"                                  # env POWERMONITOR_INFLUX_TOKEN
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .base import Section, ServiceLike, parse_listen

__all__ = [
    "ENV_METRICS_LISTEN",
    "Exporter",
    "PrometheusSettings",
    "build_exporters",
    "prometheus_settings",
]

ENV_METRICS_LISTEN = "POWERMONITOR_METRICS_LISTEN"


class Exporter(Protocol):
    """Something the service runs as a task: ``await exporter.run()`` until cancelled."""

    name: str

    async def run(self) -> None: ...


@dataclass(frozen=True, slots=True)
class PrometheusSettings:
    """The ``[prometheus]`` section."""

    listen: tuple[str, int] | None = None  # own HTTP server for /metrics; None: none
    web: bool = True  # the web app may mount /metrics (metrics_asgi_app / render_metrics)


def prometheus_settings(table: object, env: Mapping[str, str],
                        listen: str | None = None) -> PrometheusSettings:
    """``[prometheus]`` plus ``POWERMONITOR_METRICS_LISTEN``; ``listen`` is the CLI flag
    ``--metrics-listen`` (flag > env > file)."""
    section = Section("prometheus", table, ("listen", "web"))
    text = listen or env.get(ENV_METRICS_LISTEN, "").strip() or section.text("listen")
    where = "--metrics-listen" if listen else (
        ENV_METRICS_LISTEN if env.get(ENV_METRICS_LISTEN, "").strip() else "[prometheus] listen"
    )
    return PrometheusSettings(
        listen=parse_listen(text, where) if text else None,
        web=section.flag("web", True),
    )


def build_exporters(
    service: ServiceLike,
    config_extra: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    *,
    metrics_listen: str | None = None,
) -> list[Exporter]:
    """The exporters the configuration switches on, validated and ready to ``run()``.

    ``config_extra`` is ``Config.extra`` (the ``prometheus``, ``mqtt`` and ``influx`` tables);
    ``env`` defaults to ``os.environ``; ``metrics_listen`` is the ``--metrics-listen`` flag.
    Raises :class:`~powermonitor.errors.ConfigError` for a bad setting.
    """
    env = os.environ if env is None else env
    exporters: list[Exporter] = []
    prom = prometheus_settings(config_extra.get("prometheus"), env, metrics_listen)
    if prom.listen is not None:
        from .prometheus import MetricsServer

        exporters.append(MetricsServer(service, *prom.listen))
    from .mqtt import MqttBridge, mqtt_settings

    mqtt = mqtt_settings(config_extra.get("mqtt"), env)
    if mqtt is not None:
        exporters.append(MqttBridge(service, mqtt))
    from .influx import InfluxWriter, influx_settings

    influx = influx_settings(config_extra.get("influx"), env)
    if influx is not None:
        exporters.append(InfluxWriter(service, influx))
    return exporters
