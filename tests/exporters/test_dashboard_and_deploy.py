"""The Grafana dashboard and the deployment files: they load, and they point at real things."""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]

from powermonitor.config import parse_config
from powermonitor.exporters import build_exporters
from powermonitor.exporters.prometheus import METRIC_NAMES
from powermonitor.monitor.hub import Hub

from .conftest import StubService

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "grafana" / "powermonitor-dashboard.json"
DEPLOY = ROOT / "deploy"
_METRIC = re.compile(r"\bpowermonitor_[a-z_]+\b")


def all_panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for panel in panels:
        out.append(panel)
        out += all_panels(panel.get("panels", []))  # collapsed rows nest their panels
    return out


def test_dashboard_loads_and_queries_existing_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = all_panels(dashboard["panels"])
    assert len(panels) >= 6
    assert len({p["id"] for p in panels}) == len(panels)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    exprs = [variables["name"]["definition"]]
    for panel in panels:
        if panel.get("type") == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"
            exprs.append(target["expr"])
    used = set()
    for expr in exprs:
        names = set(_METRIC.findall(expr))
        assert names, expr
        assert names <= METRIC_NAMES, (expr, names - METRIC_NAMES)
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), expr
        used |= names
    # the headline quantities are all there
    assert {"powermonitor_power_watts", "powermonitor_energy_joules_total",
            "powermonitor_device_up"} <= used
    titles = {p["title"]: p for p in panels}
    assert titles["Energy today"]["timeFrom"] == "now/d"
    assert titles["Energy this month"]["timeFrom"] == "now/M"
    assert "[$__range]" in titles["Energy today"]["targets"][0]["expr"]
    assert "/ 3.6e6" in titles["Energy today"]["targets"][0]["expr"]
    daily = titles["Daily energy (kWh)"]
    assert "[1d]" in daily["targets"][0]["expr"] and daily["targets"][0]["interval"] == "1d"
    assert daily["fieldConfig"]["defaults"]["custom"]["drawStyle"] == "bars"


def test_compose_parses_and_references_existing_files() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"powermonitor", "mosquitto", "prometheus"} <= set(services)
    pm = services["powermonitor"]
    context = (DEPLOY / pm["build"]["context"]).resolve()
    assert context == ROOT and (context / pm["build"]["dockerfile"]).is_file()
    assert pm["command"][:2] == ["powermonitor", "run"]
    assert "8000:8000" in pm["ports"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                path = DEPLOY / source
                if path.name == "config.toml":  # the user's copy of config.example.toml
                    path = path.with_name("config.example.toml")
                assert path.exists(), (name, volume)
            else:
                assert source in compose["volumes"], (name, volume)
        for dependency in service.get("depends_on", []):
            assert dependency in services
    prometheus = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    job = prometheus["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["powermonitor:8000"]
    datasource = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


def test_example_config_is_valid_and_switches_exporters_on() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    env = compose["services"]["powermonitor"]["environment"]
    config = parse_config((DEPLOY / "config.example.toml").read_text(), "example.toml", env)
    service = StubService(config, Hub())
    names = [e.name for e in build_exporters(service, config)]
    assert names == ["mqtt"]
    assert config.prometheus.web and config.web.listen == ("0.0.0.0", 8000)


def test_systemd_unit() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / "powermonitor.service").read_text())
    assert set(unit.sections()) == {"Unit", "Service", "Install"}
    service = unit["Service"]
    assert service["ExecStart"].startswith("/") and service["ExecStart"].endswith(
        "powermonitor run")
    assert service["Restart"] == "on-failure"
    assert service["DynamicUser"] == "yes"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
