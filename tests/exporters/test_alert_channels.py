"""The alert channels that need a broker: ``mqtt:TOPIC`` through the [mqtt] broker (mosquitto)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from powermonitor.alerts.events import AlertEvent
from powermonitor.alerts.notify import DeliveryError, build_notifier
from powermonitor.config.alerts import NotifyTarget
from powermonitor.config.model import MqttSettings

from .conftest import Mosquitto, Watcher, until


async def test_mqtt_channel_publishes_the_event_json(mosquitto: Mosquitto) -> None:
    settings = MqttSettings(host="127.0.0.1", port=mosquitto.port)
    notifier = build_notifier(NotifyTarget("broker", "mqtt:home/power/alerts"), settings)
    event = AlertEvent("heater too high", "Heater", "bf01", "overload", 1_700_000_000.0,
                       {"power_w": 2500.0})
    async with Watcher(mosquitto.port, ["home/power/alerts"]) as watcher:
        await notifier.send(event)
        await until(lambda: watcher.last("home/power/alerts") is not None)
        body: dict[str, Any] = json.loads(watcher.last("home/power/alerts") or b"")
    assert body == event.to_json()


async def test_mqtt_channel_down_or_unconfigured_is_a_delivery_error(
        mosquitto: Mosquitto) -> None:
    event = AlertEvent("a", "P", "p", "offline", 0.0)
    with pytest.raises(DeliveryError, match=r"needs an \[mqtt\] section"):
        await build_notifier(NotifyTarget("b", "mqtt:t"), None).send(event)
    mosquitto.stop()
    settings = MqttSettings(host="127.0.0.1", port=mosquitto.port)
    with pytest.raises(DeliveryError, match="MQTT"):
        await build_notifier(NotifyTarget("b", "mqtt:t"), settings).send(event)
