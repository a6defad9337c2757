"""MQTT bridge against a real mosquitto: discovery, states, commands, outages, credentials."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import pytest

from powermonitor.client.reconnect import Backoff
from powermonitor.config.sections import mqtt_settings
from powermonitor.errors import ConfigError
from powermonitor.exporters.ha_discovery import discovery_topics
from powermonitor.exporters.mqtt import MqttBridge

from .conftest import LiveFleet, Mosquitto, StubService, Watcher, live_fleet, until

FAST = {"birth_delay": 0.0}


def settings_for(url: str, **table: Any) -> Any:
    s = mqtt_settings({"url": url, **FAST, **table}, {})
    assert s is not None
    return s


@asynccontextmanager
async def running(service: StubService, url: str, clock: Callable[[], float] = time.monotonic,
                  **table: Any) -> AsyncIterator[MqttBridge]:
    bridge = MqttBridge(service, settings_for(url, **table),
                        backoff=Backoff(initial=0.1, cap=0.5, key_error_delay=0.5), clock=clock)
    task = asyncio.create_task(bridge.run())
    try:
        yield bridge
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# --------------------------------------------------------------------------- settings


def test_settings_from_url_and_env() -> None:
    s = mqtt_settings({"url": "mqtt://user:p%40ss@broker.lan"}, {})
    assert s is not None
    assert (s.host, s.port, s.tls, s.username, s.password) == (
        "broker.lan", 1883, False, "user", "p@ss")
    assert "p@ss" not in repr(s)
    env = mqtt_settings({}, {"POWERMONITOR_MQTT_URL": "mqtts://h", "POWERMONITOR_MQTT_PASSWORD":
                             "x"})
    assert env is not None and (env.port, env.tls, env.password) == (8883, True, "x")
    assert mqtt_settings(None, {}) is None
    assert mqtt_settings({"url": "mqtt://h", "enabled": False}, {}) is None
    s2 = mqtt_settings({"url": "mqtt://h:1999", "topic_prefix": "/home/power/",
                        "discovery": False}, {})
    assert s2 is not None and s2.port == 1999 and s2.topic_prefix == "home/power"


@pytest.mark.parametrize(("table", "message"), [
    ({"url": "http://h"}, "must start with mqtt://"),
    ({"url": "mqtt://h/topic"}, "without a path"),
    ({"url": "mqtt://:1883"}, "no host"),
    ({"url": "mqtt://h:99999"}, "not a valid URL"),
    ({"topic_prefix": "x"}, "'url' is missing"),
    ({"url": "mqtt://h", "qos": 3}, "'qos' must be an integer from 0 to 2"),
    ({"url": "mqtt://h", "state_qos": -1}, "'state_qos' must be an integer from 0 to 2"),
    ({"url": "mqtt://h", "topic_prefix": "a/+/b"}, "without wildcards"),
    ({"url": "mqtt://h", "ca_file": "/nonexistent/ca.pem"}, "does not exist"),
    ({"url": "mqtt://h", "prefix": "x"}, "unknown key 'prefix'"),
    ({"url": "mqtt://u:secret@h/x"}, "***"),
])
def test_settings_errors(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        mqtt_settings(table, {})
    assert message in str(info.value)
    assert "secret" not in str(info.value)


# --------------------------------------------------------------------------- real broker


async def wait_topics(watcher: Watcher, topics: list[str], timeout: float = 10.0) -> None:
    await until(lambda: all(t in watcher.messages for t in topics), timeout)


async def test_discovery_states_and_availability(mosquitto: Mosquitto) -> None:
    async with live_fleet(["cz", "strip4"]) as live, running(live.service, mosquitto.url):
        cz, strip = live.ids()
        await until(lambda: all(s.online and s.reading for s in live.service.hub.states.values()))
        # a watcher connecting later sees everything that matters as retained messages
        await asyncio.sleep(1.5)
        async with Watcher(mosquitto.port, ["homeassistant/#", "powermonitor/#"]) as w:
            strip_switch = "homeassistant/switch/powermonitor_" + strip + "_switch_4/config"
            await wait_topics(w, [
                f"powermonitor/{cz}/state", f"powermonitor/{strip}/state",
                f"powermonitor/{cz}/availability", "powermonitor/bridge/availability",
                f"homeassistant/sensor/powermonitor_{cz}_energy_kwh/config", strip_switch,
            ])
            await asyncio.sleep(0.3)
            configs = {t: m for t, m in w.messages.items() if t.startswith("homeassistant/")}
            assert all(m[0][1] for m in configs.values()), "discovery must be retained"
            assert set(configs) == set(discovery_topics("homeassistant", cz, ("1",))) | set(
                discovery_topics("homeassistant", strip, ("1", "2", "3", "4", "7")))
            energy = json.loads(configs[f"homeassistant/sensor/powermonitor_{cz}_energy_kwh"
                                        "/config"][-1][0])
            assert energy["state_class"] == "total_increasing" and energy["unit_of_measurement"] \
                == "kWh"
            assert energy["device"]["name"] == live.service.names()[cz]
            state = w.json(f"powermonitor/{cz}/state")
            assert state["power"] == pytest.approx(100, 0.2)
            assert state["voltage"] > 200 and state["current"] > 0
            assert state["switch"] == "ON" and state["energy_kwh"] == 1.0
            assert state["timestamp"].endswith("Z")
            assert w.messages[f"powermonitor/{cz}/state"][0][1], "state must be retained"
            assert w.last(f"powermonitor/{cz}/availability") == b"online"
            assert w.last("powermonitor/bridge/availability") == b"online"
            devices = w.json("powermonitor/bridge/devices")
            assert devices["devices"][strip]["outlets"] == ["1", "2", "3", "4", "7"]  # 7: USB
            # live updates keep coming, with the recorder's energy
            live.service.recorder.wh[cz] = 2500.0
            await until(lambda: w.json(f"powermonitor/{cz}/state")["energy_kwh"] == 2.5)
            # a plug going offline is published as such
            await live.fleet.servers[0].stop()
            await until(lambda: w.last(f"powermonitor/{cz}/availability") == b"offline", 15)


@pytest.mark.parametrize("table", [{}, {"state_qos": 1, "qos": 2}])
async def test_state_goes_at_state_qos_the_rest_at_qos(mosquitto: Mosquitto,
                                                        table: dict[str, Any]) -> None:
    """State is re-sent every poll (QoS 0 by default); discovery and availability are not."""
    async with live_fleet(["cz"]) as live, running(live.service, mosquitto.url, **table):
        (cz,) = live.ids()
        state, avail = f"powermonitor/{cz}/state", f"powermonitor/{cz}/availability"
        config = f"homeassistant/sensor/powermonitor_{cz}_power/config"
        async with Watcher(mosquitto.port, ["homeassistant/#", "powermonitor/#"]) as w:
            await until(lambda: len(w.messages.get(state, [])) >= 2)  # retained, then live
            await wait_topics(w, [avail, config])
        # the broker delivers min(published, subscribed) QoS, and the watcher subscribes at 1
        assert w.qos[state] == {table.get("state_qos", 0)}
        assert w.qos[avail] == w.qos[config] == {min(table.get("qos", 1), 1)}


async def test_switch_command_switches_the_simulated_plug(mosquitto: Mosquitto) -> None:
    async with live_fleet(["cz", "strip4"]) as live, running(live.service, mosquitto.url) as b:
        cz, strip = live.ids()
        await until(lambda: all(s.online and s.reading for s in live.service.hub.states.values()))
        sim_cz = live.fleet.server_for(cz).plug
        sim_strip = live.fleet.server_for(strip).plug
        assert sim_cz.switches[1] is True
        async with Watcher(mosquitto.port, ["powermonitor/+/state"]) as w:
            await until(lambda: b.connected and b.published > 0)
            await w.publish(f"powermonitor/{cz}/set", b"OFF")
            await until(lambda: sim_cz.switches[1] is False)
            await until(lambda: w.json(f"powermonitor/{cz}/state")["switch"] == "OFF")
            await w.publish(f"powermonitor/{cz}/set", b"on")
            await until(lambda: sim_cz.switches[1] is True)
            await w.publish(f"powermonitor/{strip}/outlet_3/set", b"OFF")
            await until(lambda: sim_strip.switches[3] is False)
            assert sim_strip.switches[1] is True
            await until(lambda: w.json(f"powermonitor/{strip}/state")["switches"]["3"] == "OFF")
            # garbage and unknown plugs are ignored
            await w.publish(f"powermonitor/{cz}/set", b"toggle")
            await w.publish("powermonitor/nosuchplug/set", b"OFF")
            await asyncio.sleep(0.3)
            assert sim_cz.switches[1] is True


async def test_retained_command_is_not_obeyed(mosquitto: Mosquitto,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """A retained OFF left on the command topic would switch the plug at every reconnect."""
    async with live_fleet(["cz"]) as live:
        (cz,) = live.ids()
        await until(lambda: all(s.online for s in live.service.hub.states.values()))
        async with Watcher(mosquitto.port, []) as w:
            await w.publish(f"powermonitor/{cz}/set", b"OFF", retain=True)
            async with running(live.service, mosquitto.url):
                await until(lambda: any("ignoring a retained command" in r.getMessage()
                                        for r in caplog.records))
                assert live.fleet.server_for(cz).plug.switches[1] is True
            await w.publish(f"powermonitor/{cz}/set", b"", retain=True)  # clear it


async def test_broker_restart_recovers_with_the_latest_state(mosquitto: Mosquitto,
                                                             caplog: pytest.LogCaptureFixture
                                                             ) -> None:
    caplog.set_level(logging.INFO, "powermonitor.exporters.mqtt")
    async with live_fleet(["cz"]) as live, running(live.service, mosquitto.url) as bridge:
        (cz,) = live.ids()
        await until(lambda: bridge.connected and bridge.published > 0)
        mosquitto.stop()  # persistence is off: every retained message is lost with it
        await until(lambda: not bridge.connected)
        before = live.readings()
        live.fleet.server_for(cz).plug.switches[1] = False  # changes while the broker is away
        live.service.recorder.wh[cz] = 4321.0
        await until(lambda: live.readings() >= before + 2, 10)  # polling goes on
        stamp = live.service.hub.states[cz].reading.timestamp  # type: ignore[union-attr]
        mosquitto.start()  # same port
        await until(lambda: bridge.connected, 15)
        async with Watcher(mosquitto.port, ["powermonitor/#", "homeassistant/#"]) as w:
            await wait_topics(w, [f"powermonitor/{cz}/state",
                                  f"homeassistant/sensor/powermonitor_{cz}_power/config"])
            state = w.json(f"powermonitor/{cz}/state")
            assert state["switch"] == "OFF" and state["energy_kwh"] == 4.321
            assert datetime.fromisoformat(state["timestamp"]) >= stamp
            assert w.last("powermonitor/bridge/availability") == b"online"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "lost the broker" in warnings[0].getMessage()
    assert any("connected to" in r.getMessage() and "again" in r.getMessage()
               for r in caplog.records)


async def test_bad_credentials_one_error_and_polling_goes_on(
    mosquitto_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    broker: Mosquitto = mosquitto_factory({"pm": "right"})
    caplog.set_level(logging.DEBUG, "powermonitor.exporters.mqtt")
    async with live_fleet(["cz"]) as live:
        url = f"mqtt://pm:wrong@127.0.0.1:{broker.port}"
        async with running(live.service, url) as bridge:
            await until(lambda: live.readings() >= 1)
            before = live.readings()

            def attempts() -> list[logging.LogRecord]:
                return [r for r in caplog.records if "refused the login" in r.getMessage()]

            # several refused attempts (key_error_delay is 0.5 s) while polling goes on
            await until(lambda: len(attempts()) >= 3 and live.readings() >= before + 1, 15)
            assert not bridge.connected and bridge.connects == 0
        errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(errors) == 1, [r.getMessage() for r in errors]  # retried quietly (DEBUG)
        message = errors[0].getMessage()
        assert "refused the login" in message and "wrong" not in message
        # the right password works
        async with running(live.service, f"mqtt://pm:right@127.0.0.1:{broker.port}") as ok:
            await until(lambda: ok.connected and ok.published > 0)


async def test_broker_down_at_start_is_one_error(caplog: pytest.LogCaptureFixture) -> None:
    from portpick import free_port

    async with live_fleet(["cz"]) as live:
        async with running(live.service, f"mqtt://127.0.0.1:{free_port()}"):
            await asyncio.sleep(1.5)
            before = live.readings()
            await until(lambda: live.readings() > before)
        errors = [r for r in caplog.records if r.levelno >= logging.WARNING
                  and r.name.startswith("powermonitor.exporters")]
        assert len(errors) == 1 and "cannot connect to the broker" in errors[0].getMessage()


async def test_ha_birth_message_republishes_discovery(mosquitto: Mosquitto) -> None:
    async with live_fleet(["cz"]) as live, running(live.service, mosquitto.url) as bridge:
        (cz,) = live.ids()
        await until(lambda: bridge.connected and bridge.published > 0)
        topic = f"homeassistant/sensor/powermonitor_{cz}_power/config"
        async with Watcher(mosquitto.port, ["homeassistant/sensor/#"]) as w:
            await wait_topics(w, [topic])
            assert [retained for _, retained in w.messages[topic]] == [True]
            await w.publish("homeassistant/status", b"online")
            await until(lambda: len(w.messages[topic]) >= 2)
            payload, retained = w.messages[topic][-1]
            assert not retained  # a live re-publish, not the broker's retained copy
            assert json.loads(payload)["unique_id"] == f"powermonitor_{cz}_power"
            # "offline" (HA going down) does not trigger anything
            count = len(w.messages[topic])
            await w.publish("homeassistant/status", b"offline")
            await asyncio.sleep(0.5)
            assert len(w.messages[topic]) == count


async def test_removed_plug_gets_empty_discovery(mosquitto: Mosquitto) -> None:
    async with live_fleet(["cz", "cz"]) as live:
        keep, gone = live.ids()
        async with running(live.service, mosquitto.url) as bridge:
            await until(lambda: all(s.online and s.reading
                                    for s in live.service.hub.states.values()))
            await until(lambda: bridge.published >= 2 * 7)
        # the next run has only one plug configured (a restart with an edited config)
        from dataclasses import replace

        smaller = replace(live.service.config,
                          plugs=tuple(p for p in live.service.config.plugs
                                      if p.device_id == keep))
        service = StubService(smaller, live.service.hub, live.service.recorder)
        async with Watcher(mosquitto.port, ["homeassistant/#", "powermonitor/#"]) as w:
            gone_topics = discovery_topics("homeassistant", gone, ("1",))
            await wait_topics(w, gone_topics)  # retained from the first run
            async with running(service, mosquitto.url):
                await until(lambda: all(w.last(t) == b"" for t in gone_topics))
                await until(lambda: w.last(f"powermonitor/{gone}/state") == b"")
                await until(lambda: gone not in (w.json("powermonitor/bridge/devices") or {})
                            .get("devices", {"x": 1}))
                assert keep in w.json("powermonitor/bridge/devices")["devices"]
        # a fresh subscriber sees no ghost entity of the removed plug
        async with Watcher(mosquitto.port, ["homeassistant/#"]) as fresh:
            await wait_topics(fresh, discovery_topics("homeassistant", keep, ("1",)))
            await asyncio.sleep(0.3)
            assert not any(gone in t for t in fresh.messages)


async def test_clean_shutdown_publishes_offline(mosquitto: Mosquitto) -> None:
    async with live_fleet(["cz"]) as live, Watcher(mosquitto.port,
                                                   ["powermonitor/bridge/availability"]) as w:
        async with running(live.service, mosquitto.url) as bridge:
            await until(lambda: bridge.connected and bridge.published > 0)
            await until(lambda: w.last("powermonitor/bridge/availability") == b"online")
        await until(lambda: w.last("powermonitor/bridge/availability") == b"offline")


async def test_many_plugs_publish_without_blocking_the_hub(mosquitto: Mosquitto) -> None:
    """The bridge subscribes to the Hub with a bounded queue and keeps one state per plug."""
    live: LiveFleet
    async with live_fleet(["cz"] * 12, interval=1.0) as live, running(live.service,
                                                                       mosquitto.url) as b:
        await until(lambda: b.connected and all(s.reading
                                                for s in live.service.hub.states.values()))
        async with Watcher(mosquitto.port, ["powermonitor/+/state"]) as w:
            await until(lambda: len(w.messages) == 12)
        assert live.service.hub.subscribers >= 1


async def test_tls_with_a_private_ca(mosquitto_factory: Any, tmp_path: Any,
                                     caplog: pytest.LogCaptureFixture) -> None:
    from .conftest import make_certificates

    ca, cert, key = make_certificates(tmp_path / "tls")
    other_ca, _, _ = make_certificates(tmp_path / "other", "other")
    broker: Mosquitto = mosquitto_factory(tls=(ca, cert, key))
    assert broker.url.startswith("mqtts://")
    async with live_fleet(["cz"]) as live:
        async with running(live.service, broker.url, ca_file=str(ca)) as bridge:
            await until(lambda: bridge.connected and bridge.published > 0)
        # a certificate from another CA is refused, clearly, once
        caplog.set_level(logging.DEBUG, "powermonitor.exporters.mqtt")  # the quiet retries too
        async with running(live.service, broker.url, ca_file=str(other_ca)) as bad:
            await until(lambda: sum("CERTIFICATE_VERIFY_FAILED" in r.getMessage()
                                    for r in caplog.records) >= 2, 15)  # refused, then retried
            assert not bad.connected
        errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(errors) == 1 and "CERTIFICATE_VERIFY_FAILED" in errors[0].getMessage()
