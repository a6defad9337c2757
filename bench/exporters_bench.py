"""Exporter costs with 1000 plugs: a Prometheus scrape, InfluxDB lines, MQTT state messages.

Target (issue "Integrations"): a scrape of 1000 plugs in at most 20 ms. Everything runs in
memory: a Hub filled with one reading per plug, the real Recorder (no store) for the energy
totals, no network.

    python3 bench/exporters_bench.py [--plugs 1000] [--repeat 200] [--json FILE]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from prometheus_client import generate_latest

from powermonitor.config import Config, PlugConfig
from powermonitor.exporters.influx import InfluxWriter, influx_settings
from powermonitor.exporters.mqtt import MqttBridge, mqtt_settings
from powermonitor.exporters.prometheus import registry_for, render_metrics
from powermonitor.models import Reading
from powermonitor.monitor.hub import Availability, Hub
from powermonitor.recorder import Recorder
from powermonitor.tariff import Tariff


@dataclass
class BenchService:
    config: Config
    hub: Hub
    recorder: Recorder

    def names(self) -> dict[str, str]:
        return {p.device_id: p.name for p in self.config.plugs}

    async def set_switch(self, name_or_id: str, on: bool, outlet: int | str = 1) -> Reading:
        raise KeyError(name_or_id)


def build(count: int) -> tuple[BenchService, list[Reading]]:
    plugs = tuple(
        PlugConfig(name=f"plug-{i:04d}", device_id=f"bf{i:018x}", host=f"10.0.{i // 250}.{i % 250}",
                   local_key="0123456789abcdef", version="3.3")
        for i in range(count)
    )
    hub = Hub()
    recorder = Recorder(hub, None, Tariff(flat_price=0.30))
    now = datetime.now(UTC)
    latest = []
    for i, plug in enumerate(plugs):
        hub.register(plug.device_id, plug.name)
        for step in (10, 0):  # two readings so the recorder integrates some energy
            reading = Reading(
                plug.device_id, now - timedelta(seconds=step), True, {"1": True},
                50.0 + i % 100, 229.5, (50.0 + i % 100) / 229.5 / 0.95, power_factor=0.95,
                dps={"1": True, "17": 0, "18": 230, "19": 500, "20": 2295}, protocol="3.3",
            )
            hub.publish(reading, plug.name)
            recorder.record(reading)
        latest.append(reading)
        online = i % 50 != 0  # every 50th plug offline: exercises the absent-sample path
        hub.set_availability(Availability(plug.device_id, plug.name, online, now))
    return BenchService(Config(plugs=plugs), hub, recorder), latest


def timed(fn: Callable[[], object], repeat: int) -> dict[str, float]:
    fn()  # warm caches (label strings, layouts)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000.0)
    samples.sort()
    return {
        "min_ms": round(samples[0], 3),
        "median_ms": round(statistics.median(samples), 3),
        "p90_ms": round(samples[int(len(samples) * 0.9) - 1], 3),
        "max_ms": round(samples[-1], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()

    service, latest = build(args.plugs)
    body = render_metrics(service)
    registry = registry_for(service)
    influx = InfluxWriter(service, influx_settings({"url": "http://127.0.0.1:1",
                                                    "database": "bench"}, {}))  # type: ignore[arg-type]
    mqtt = MqttBridge(service, mqtt_settings({"url": "mqtt://127.0.0.1:1"}, {}))  # type: ignore[arg-type]
    ids = list(service.names())

    def influx_lines() -> None:
        influx.buffer.clear()
        influx.add(latest)

    def mqtt_states() -> None:
        from powermonitor.exporters.base import totals_wh

        mqtt._state_items(ids, totals_wh(service))

    results = {
        "plugs": args.plugs,
        "samples_per_scrape": sum(1 for line in body.splitlines() if not line.startswith(b"#")),
        "scrape_bytes": len(body),
        "render_metrics (text 0.0.4, our writer)": timed(lambda: render_metrics(service),
                                                         args.repeat),
        "render_metrics, gc disabled": None,
        "prometheus_client generate_latest (same collector)": timed(
            lambda: generate_latest(registry), max(10, args.repeat // 10)),
        "recorder.totals() alone": timed(service.recorder.totals, args.repeat),
        f"influx: {args.plugs} readings -> lines": timed(influx_lines, args.repeat),
        f"mqtt: {args.plugs} state messages (JSON)": timed(mqtt_states, args.repeat),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    gc.disable()
    try:
        results["render_metrics, gc disabled"] = timed(lambda: render_metrics(service),
                                                       args.repeat)
    finally:
        gc.enable()
    target = results["render_metrics (text 0.0.4, our writer)"]
    assert isinstance(target, dict)
    results["target_20ms_met (median)"] = target["median_ms"] <= 20.0
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
