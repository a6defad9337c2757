"""``[mqtt] state_interval``: a plug's state at most once per interval, switch and availability
changes at once, the newest reading never lost. The gate alone with a fake clock, then the
bridge against a real mosquitto with readings put on the Hub by the test (and the same fake
clock), so nothing depends on how fast the machine is."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from powermonitor.config import Config, PlugConfig
from powermonitor.config.sections import mqtt_settings
from powermonitor.errors import ConfigError
from powermonitor.exporters.mqtt import MqttBridge
from powermonitor.exporters.mqtt_gate import StateGate
from powermonitor.models import Reading
from powermonitor.monitor.hub import Availability, Hub

from .conftest import Mosquitto, StubService, Watcher, until
from .test_mqtt import running


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- the gate alone


def test_gate_holds_a_plug_back_until_its_interval_then_lets_the_newest_through() -> None:
    clock = FakeClock()
    switches = {"a": (True,), "b": (True,)}
    gate = StateGate(5.0, clock)
    assert gate.due(["a"], switches.get) == ["a"]  # never sent: at once
    clock.now += 1
    assert gate.due(["a", "b"], switches.get) == ["b"]  # a waits, b is new
    assert gate.waiting == 1 and gate.wake_in() == pytest.approx(4.0)
    clock.now += 3.9
    assert gate.due([], switches.get) == []
    clock.now += 0.1  # a's interval has passed: its waiting state goes, without a new reading
    assert gate.due([], switches.get) == ["a"]
    assert gate.waiting == 0 and gate.wake_in() is None
    clock.now += 1  # b's interval has passed (sent at +1) and nothing waited: free again
    assert gate.due(["b"], switches.get) == ["b"]


def test_gate_lets_switch_changes_and_released_plugs_through_at_once() -> None:
    clock = FakeClock()
    switches: dict[str, object] = {"a": (True, {"1": True, "2": True})}
    gate = StateGate(5.0, clock)
    assert gate.due(["a"], switches.get) == ["a"]
    assert gate.due(["a"], switches.get) == []
    switches["a"] = (True, {"1": True, "2": False})  # one outlet of a strip
    assert gate.due(["a"], switches.get) == ["a"] and gate.waiting == 0
    assert gate.due(["a"], switches.get) == [] and gate.waiting == 1
    # availability changed, or a command: the waiting state is the caller's to send now...
    assert gate.release("a") is True and gate.waiting == 0
    assert gate.due(["a"], switches.get) == ["a"]  # ...and the plug is free
    assert gate.release("a") is False  # nothing waited this time
    gate.reset(["a", "b"], switches.get)  # a reconnect sent everything; b had no reading yet
    switches["b"] = (True, {"1": True})  # b's first reading
    assert gate.due(["a", "b"], switches.get) == ["b"]


def test_gate_interval_zero_lets_everything_through() -> None:
    gate = StateGate(0.0, FakeClock())
    for _ in range(3):
        assert gate.due(["a", "b"], lambda d: True) == ["a", "b"]
    assert gate.waiting == 0 and gate.wake_in() is None


@pytest.mark.parametrize(("value", "message"), [
    (-1, "'state_interval' must be at least 0"),
    (float("nan"), "'state_interval' must be a finite number"),
    (float("inf"), "'state_interval' must be a finite number"),
    (3601, "'state_interval' must be at most 3600"),
    ("5", "'state_interval' must be a number"),
    (True, "'state_interval' must be a number"),
])
def test_state_interval_is_validated(value: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        mqtt_settings({"url": "mqtt://h", "state_interval": value}, {})
    assert message in str(info.value)


def test_state_interval_default_and_zero() -> None:
    default = mqtt_settings({"url": "mqtt://h"}, {})
    every = mqtt_settings({"url": "mqtt://h", "state_interval": 0}, {})
    assert default is not None and default.state_interval == 5.0
    assert every is not None and every.state_interval == 0.0


# --------------------------------------------------------------------------- real broker


A, B = "bfa0000000000000000001", "bfb0000000000000000002"


def reading(device_id: str, power: float, *, on: bool = True,
            switches: dict[str, bool] | None = None) -> Reading:
    return Reading(device_id=device_id, timestamp=datetime.now(UTC), switch=on,
                   switches=switches if switches is not None else {"1": on},
                   power_w=power, voltage_v=230.0, current_a=power / 230.0)


@asynccontextmanager
async def bridge_on(mosquitto: Mosquitto, **table: Any
                    ) -> AsyncIterator[tuple[Hub, MqttBridge, Watcher, FakeClock]]:
    """Two configured plugs fed by the test through the Hub, a bridge with a fake clock, and
    a watcher of their state and availability topics."""
    config = Config(plugs=(PlugConfig("plug a", A, "127.0.0.1"),
                           PlugConfig("plug b", B, "127.0.0.1")))
    hub = Hub()
    service = StubService(config, hub)  # no energy totals: no state before a reading
    clock = FakeClock()
    async with Watcher(mosquitto.port, ["powermonitor/+/state", "powermonitor/+/availability"]
                       ) as w, running(service, mosquitto.url, clock=clock, **table) as bridge:
        await until(lambda: bridge.connected and bridge.published > 0)  # the connect pass
        yield hub, bridge, w, clock


def powers(w: Watcher, device_id: str) -> list[float]:
    return [json.loads(p)["power"] for p, _ in w.messages.get(f"powermonitor/{device_id}/state",
                                                              [])]


def states(w: Watcher, device_id: str) -> list[dict[str, Any]]:
    return [json.loads(p) for p, _ in w.messages.get(f"powermonitor/{device_id}/state", [])]


async def marker(hub: Hub, w: Watcher, power: float) -> None:
    """Plug B's state goes out and arrives: what the bridge published before it has arrived too
    (one connection, one subscriber: the broker keeps the order)."""
    hub.publish(reading(B, power))
    await until(lambda: power in powers(w, B))


async def test_state_interval_holds_states_back_and_the_newest_arrives(
        mosquitto: Mosquitto) -> None:
    async with bridge_on(mosquitto) as (hub, bridge, w, clock):  # the default: 5 s
        assert bridge.settings.state_interval == 5.0
        hub.publish(reading(A, 10.0))
        await until(lambda: powers(w, A) == [10.0])  # the first goes out at once
        hub.publish(reading(A, 20.0))
        hub.publish(reading(A, 30.0))
        await until(lambda: bridge.gate.waiting == 1)
        await marker(hub, w, 1.0)
        assert powers(w, A) == [10.0]  # held back: the interval has not passed
        clock.now += 5.0
        await marker(hub, w, 2.0)  # any event wakes the bridge; A's interval has passed
        await until(lambda: len(powers(w, A)) == 2)
        assert powers(w, A) == [10.0, 30.0]  # the newest; 20 never went out


async def test_a_switch_change_goes_out_at_once(mosquitto: Mosquitto) -> None:
    async with bridge_on(mosquitto) as (hub, bridge, w, _clock):
        hub.publish(reading(A, 10.0, on=True))
        await until(lambda: len(powers(w, A)) == 1)
        hub.publish(reading(A, 0.0, on=False))  # the clock has not moved
        await until(lambda: len(powers(w, A)) == 2)
        assert states(w, A)[-1]["switch"] == "OFF" and states(w, A)[-1]["power"] == 0.0
        # one outlet of a strip
        strip = {"1": True, "2": True}
        hub.publish(reading(A, 5.0, switches=strip))
        await until(lambda: len(powers(w, A)) == 3)
        hub.publish(reading(A, 6.0, switches={**strip, "2": False}))
        await until(lambda: len(powers(w, A)) == 4)
        assert states(w, A)[-1]["switches"] == {"1": "ON", "2": "OFF"}
        # the same switches again: held back
        hub.publish(reading(A, 7.0, switches={**strip, "2": False}))
        await until(lambda: bridge.gate.waiting == 1)
        await marker(hub, w, 1.0)
        assert powers(w, A) == [10.0, 0.0, 5.0, 6.0]


async def test_an_availability_change_goes_out_at_once(mosquitto: Mosquitto) -> None:
    avail = f"powermonitor/{A}/availability"
    async with bridge_on(mosquitto) as (hub, bridge, w, _clock):
        now = datetime.now(UTC)
        hub.set_availability(Availability(A, "plug a", True, now))
        hub.publish(reading(A, 10.0))
        await until(lambda: powers(w, A) == [10.0] and w.last(avail) == b"online")
        hub.publish(reading(A, 12.0))  # waits for its interval...
        await until(lambda: bridge.gate.waiting == 1)
        hub.set_availability(Availability(A, "plug a", False, now, "no answer"))
        await until(lambda: w.last(avail) == b"offline")  # ...and goes with the change: an
        await until(lambda: powers(w, A) == [10.0, 12.0])  # offline plug sends no newer one
        hub.set_availability(Availability(A, "plug a", True, now))
        hub.publish(reading(A, 11.0))  # back: its state goes at once, the clock has not moved
        await until(lambda: powers(w, A) == [10.0, 12.0, 11.0] and w.last(avail) == b"online")


async def test_state_interval_zero_sends_every_reading(mosquitto: Mosquitto) -> None:
    async with bridge_on(mosquitto, state_interval=0) as (hub, bridge, w, _clock):
        for n in range(1, 5):
            hub.publish(reading(A, float(n)))
            await until(lambda n=n: len(powers(w, A)) == n)
        assert powers(w, A) == [1.0, 2.0, 3.0, 4.0]
        assert bridge.gate.waiting == 0


async def test_a_waiting_state_goes_first_after_a_reconnect(mosquitto: Mosquitto) -> None:
    """The broker restarts (losing every retained message) while a state waits: the newest
    state is what the reconnect publishes, whatever the interval."""
    state = f"powermonitor/{A}/state"
    async with bridge_on(mosquitto) as (hub, bridge, w, _clock):
        hub.publish(reading(A, 10.0))
        await until(lambda: powers(w, A) == [10.0])
        hub.publish(reading(A, 42.0))
        await until(lambda: bridge.gate.waiting == 1)
        connects = bridge.connects
        mosquitto.stop()
        await until(lambda: not bridge.connected)
        mosquitto.start()  # same port, nothing retained
        await until(lambda: bridge.connects > connects and bridge.connected, 15)
        async with Watcher(mosquitto.port, [state]) as fresh:
            await until(lambda: state in fresh.messages)
            assert fresh.json(state)["power"] == 42.0
