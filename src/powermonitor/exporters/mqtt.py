"""MQTT bridge with Home Assistant discovery: plug states out, switch commands in.

Topics (``{p}`` = ``topic_prefix``, default ``powermonitor``; ``{d}`` = discovery prefix,
default ``homeassistant``):

* ``{p}/{id}/state`` — retained JSON: ``power`` (W), ``voltage`` (V), ``current`` (A),
  ``power_factor``, ``switch`` (``ON``/``OFF``), ``switches`` (outlet DP → ON/OFF),
  ``energy_kwh`` (the recorder's persisted total; never decreases) and ``timestamp``
  (ISO-8601 UTC of the reading). At most once per ``state_interval`` (default 5 s) per plug,
  the newest reading; a switch or availability change at once (exporters/mqtt_gate.py).
* ``{p}/{id}/availability`` — retained ``online``/``offline`` as the plug answers or not.
* ``{p}/bridge/availability`` — retained ``online`` while we are connected; the broker
  publishes our last will ``offline`` if we vanish, and we publish it ourselves on shutdown.
* ``{p}/{id}/set`` — ``ON``/``OFF`` switches the plug (outlet 1) through
  ``service.set_switch``, i.e. over the plug's one existing connection. Strips also get
  ``{p}/{id}/outlet_{dp}/set`` per outlet. Retained commands are ignored (a retained ``ON``
  would re-switch the plug on every reconnect).
* ``{p}/bridge/devices`` — retained list of the plugs (and outlets) whose discovery configs we
  published, so a plug removed from the config loses its Home Assistant entities, even across
  restarts: its config topics get empty retained payloads, its state and availability too.
* ``{d}/{component}/{unique_id}/config`` — retained per-entity discovery configs (the form
  every Home Assistant version understands): sensors power, voltage, current, power factor,
  energy (kWh, ``total_increasing``) and a switch per outlet, each with a ``device`` block and
  availability on both the bridge and the plug topic (``availability_mode: all``). They are
  published again when Home Assistant announces itself on ``{d}/status`` = ``online``.

While the broker is away only the latest state of each plug is kept (one entry per plug, so
memory is bounded whatever the outage); on reconnect everything is published again, latest
state first, so retained topics are right as soon as we are back. A bad URL, refused login or
TLS failure is logged once with what to check, then retried quietly with capped backoff;
polling and storage never wait for the broker.

The payloads and discovery configs are built by exporters/ha_discovery.py (pure, tested alone),
bursts are written by exporters/mqtt_publish.py (QoS-0 runs packed into few writes) and the
state rate limit is exporters/mqtt_gate.py; this module is the bridge: the broker session,
what to publish when, and commands. (A little over 500 lines: those three share the bridge's
state — dirty sets, the outlets in discovery, the list found at connect — and split apart they
would only pass it around.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from ..client.reconnect import Backoff, QuietLog
from ..config import ENV, MqttSettings
from ..errors import PowermonitorError
from ..limits import BURST_S
from ..models import Reading
from ..monitor.consumer import HubConsumer, raise_if_cancelling, retry_forever
from ..monitor.hub import Availability, HubEvent
from .base import ServiceLike, device_metas, energy_lookup, totals_wh
from .ha_discovery import Topics, discovery_configs, discovery_topics, parse_command, state_payload
from .mqtt_gate import StateGate
from .mqtt_publish import Item as _Item
from .mqtt_publish import publish_items

__all__ = [
    "ENV_PASSWORD",
    "ENV_URL",
    "MqttBridge",
    "MqttSettings",
]

log = logging.getLogger(__name__)

ENV_URL = ENV["mqtt_url"]
ENV_PASSWORD = ENV["mqtt_password"]

_AUTH_CODES = {4, 5, 134, 135}  # 3.1.1: bad user name or password / not authorised; 5.0 same
_SYNC_TIMEOUT = 3.0
_COMMAND_TIMEOUT = 15.0


# --------------------------------------------------------------------------- the bridge


ClientFactory = Callable[..., aiomqtt.Client]


class MqttBridge(HubConsumer):
    """Publishes the Hub to MQTT (with Home Assistant discovery) and takes switch commands.

    ``run()`` runs until cancelled and never raises for broker trouble.
    """

    name = "mqtt"

    def __init__(
        self,
        service: ServiceLike,
        settings: MqttSettings,
        *,
        backoff: Backoff | None = None,
        client_factory: ClientFactory = aiomqtt.Client,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(service.hub)
        self.service = service
        self.settings = settings
        self.topics = Topics(settings.topic_prefix, settings.discovery_prefix)
        self.backoff = backoff or Backoff(initial=1.0, cap=60.0, key_error_delay=300.0)
        self._client_factory = client_factory
        self._quiet = QuietLog(log, "mqtt")
        self.gate = StateGate(settings.state_interval, clock)
        self._dirty_state: set[str] = set()
        self._dirty_avail: set[str] = set()
        self._wake = asyncio.Event()
        self._rediscover = asyncio.Event()
        self._published: dict[str, tuple[str, ...]] = {}  # device id → outlets in discovery
        self._previous: dict[str, Any] | None = None  # the retained devices list we found
        self._sync: tuple[str, asyncio.Future[None]] | None = None
        self._commands: set[asyncio.Task[None]] = set()
        self._tls: ssl.SSLContext | None = None
        self.connected = False
        self.connects = 0
        self.published = 0
        self.commands = 0

    # ------------------------------------------------------------------ lifecycle

    def take(self, events: list[HubEvent]) -> None:
        """Keep only which plugs changed; the values are read from the Hub when published."""
        for event in events:
            if isinstance(event, Reading):
                self._dirty_state.add(event.device_id)
            elif isinstance(event, Availability):
                self._dirty_avail.add(event.device_id)
                if self.gate.release(event.device_id):  # its next state goes out at once
                    self._dirty_state.add(event.device_id)  # and a waiting one now
        self._wake.set()

    async def serve(self) -> None:
        await retry_forever(self._attempt, self.backoff, self._failed)

    async def closed(self) -> None:
        for task in self._commands:
            task.cancel()
        if self._commands:
            await asyncio.gather(*self._commands, return_exceptions=True)

    async def _attempt(self) -> None:
        try:
            await self._session()
        finally:
            self.connected = False

    def _failed(self, exc: Exception) -> bool:
        """Log a lost or refused session (loud once); True for a refused login."""
        s = self.settings
        if isinstance(exc, MqttConnectError) and getattr(exc.rc, "value", exc.rc) in _AUTH_CODES:
            self._quiet.problem(
                "auth", "MQTT: the broker at %s refused the login (%s): check the user "
                "name and password in [mqtt] (url, username, password) or %s/%s. "
                "Retrying every %.0f s; plugs are still polled and recorded",
                s.url, exc, ENV_URL, ENV_PASSWORD, self.backoff.key_error_delay,
            )
            return True
        if isinstance(exc, (aiomqtt.MqttError, OSError)):
            self._lost(exc)
        else:  # a bug must not stop polling either: log it, go on
            self._quiet.problem("bug", "MQTT: unexpected error, reconnecting: %r", exc)
            log.debug("MQTT: unexpected error", exc_info=exc)
        return False

    def _lost(self, exc: BaseException) -> None:
        s = self.settings
        if self.connects:
            self._quiet.problem(
                "down", "MQTT: lost the broker at %s (%s); reconnecting with backoff, the "
                "latest state of every plug is kept and published on reconnect",
                s.url, exc, level=logging.WARNING,
            )
        else:
            self._quiet.problem(
                "down", "MQTT: cannot connect to the broker at %s (%s): check [mqtt] url (or "
                "%s) and that the broker is running; retrying with backoff, plugs are still "
                "polled and recorded", s.url, exc, ENV_URL,
            )

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        if s.tls and self._tls is None:
            context = ssl.create_default_context(cafile=s.ca_file)
            if s.cert_file:
                context.load_cert_chain(s.cert_file, s.key_file)
            if s.tls_insecure:
                context.check_hostname = False
            self._tls = context
        return self._client_factory(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=s.client_id or f"powermonitor-{socket.gethostname()}-{uuid.uuid4().hex[:8]}",
            will=aiomqtt.Will(self.topics.bridge, b"offline", qos=1, retain=True),
            keepalive=s.keepalive,
            timeout=10.0,
            tls_context=self._tls,
            max_inflight_messages=100,
        )

    async def _session(self) -> None:
        client = self._client()
        async with client:
            client.pending_calls_threshold = 10_000  # we publish in batches on purpose
            self.connected = True
            self.connects += 1
            self.backoff.reset()
            self._quiet.recovered("MQTT: connected to %s again", self.settings.url)
            log.info("MQTT: connected to %s (topics under %s/)", self.settings.url,
                     self.topics.prefix)
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._receive(client), name="mqtt:receive")
                    await self._on_connect(client)
                    await self._publish_loop(client)
            except BaseExceptionGroup as group_error:
                # surface the first broker error so the connection loop can classify it
                raise _leaves(group_error)[0] from None
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2.0):  # a clean goodbye; the will covers a crash
                        await client.publish(self.topics.bridge, b"offline", qos=1, retain=True)
                raise

    # ------------------------------------------------------------------ receiving

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = message.topic.value
            payload = message.payload if isinstance(message.payload, bytes) else (
                str(message.payload or "").encode()
            )
            try:
                self._dispatch(topic, payload, message.retain)
            except Exception:
                log.exception("MQTT: could not handle a message on %s", topic)

    def _dispatch(self, topic: str, payload: bytes, retained: bool) -> None:
        t = self.topics
        if topic == t.devices:
            if self._sync is not None:  # only the retained list found at connect matters
                try:
                    data = json.loads(payload) if payload else None
                except ValueError:
                    data = None
                self._previous = data if isinstance(data, dict) else None
            return
        if self._sync is not None and topic == self._sync[0]:
            if not self._sync[1].done():
                self._sync[1].set_result(None)
            return
        if topic == t.birth:
            if payload.strip().lower() == b"online" and not retained:
                log.info("MQTT: Home Assistant came online; publishing discovery again")
                self._rediscover.set()
                self._wake.set()
            return
        if topic.endswith("/set"):
            self._command(topic, payload, retained)

    def _command(self, topic: str, payload: bytes, retained: bool) -> None:
        parts = topic[len(self.topics.prefix) + 1:].split("/")
        device_id = parts[0]
        outlet: str | int = 1
        if len(parts) == 3 and parts[1].startswith("outlet_"):
            outlet = parts[1][len("outlet_"):]
        elif len(parts) != 2:
            return
        if not payload:
            return  # an empty message clears a retained one: not a command
        if retained:
            log.warning("MQTT: ignoring a retained command on %s: publish commands without the "
                        "retain flag (a retained one would switch the plug on every reconnect)",
                        topic)
            return
        try:
            device_id = self.service.resolve(device_id)
        except KeyError:
            log.warning("MQTT: command for an unknown plug on %s", topic)
            return
        on = parse_command(payload)
        if on is None:
            log.warning("MQTT: command on %s must be ON or OFF (got %r)", topic, payload[:40])
            return
        if outlet == 1:
            reading = self.service.hub.states.get(device_id)
            switches = reading.reading.switches if reading and reading.reading else {}
            outlet = next(iter(switches), "1")
        task = asyncio.create_task(self._switch(device_id, on, outlet), name="mqtt:command")
        self._commands.add(task)
        task.add_done_callback(self._commands.discard)

    async def _switch(self, device_id: str, on: bool, outlet: int | str) -> None:
        self.commands += 1
        try:
            async with asyncio.timeout(_COMMAND_TIMEOUT):
                await self.service.set_switch(device_id, on, outlet)
            log.info("MQTT: switched %s outlet %s %s", device_id, outlet, "on" if on else "off")
        except (PowermonitorError, TimeoutError, KeyError) as exc:
            log.warning("MQTT: could not switch %s %s: %s", device_id, "on" if on else "off",
                        exc or type(exc).__name__)
        finally:
            self._dirty_state.add(device_id)  # publish the real state either way, at once
            self.gate.release(device_id)
            self._wake.set()

    # ------------------------------------------------------------------ publishing

    async def _publish(self, client: aiomqtt.Client, items: list[_Item]) -> None:
        """Publish (topic, payload, retain, qos) items in order. State goes at ``state_qos``
        (0 by default: a lost one is replaced by the next), everything else at ``qos``."""
        await publish_items(client, items)
        self.published += len(items)

    async def _on_connect(self, client: aiomqtt.Client) -> None:
        t = self.topics
        loop = asyncio.get_running_loop()
        sync_topic = f"{t.prefix}/bridge/sync/{uuid.uuid4().hex}"
        self._sync = (sync_topic, loop.create_future())
        await client.subscribe([(t.devices, 1), (sync_topic, 1)])
        # The broker sends retained messages for a subscription before anything published
        # after it, so once our own sync message comes back, the devices list (if any) is in.
        await client.publish(sync_topic, b"sync", qos=1)
        try:
            async with asyncio.timeout(_SYNC_TIMEOUT):
                await self._sync[1]
        except TimeoutError:
            log.debug("MQTT: no echo of the sync message; assuming no retained devices list")
        finally:
            self._sync = None
        with contextlib.suppress(aiomqtt.MqttError):
            await client.unsubscribe([t.devices, sync_topic])
        await client.subscribe([(f"{t.prefix}/+/set", 1), (f"{t.prefix}/+/+/set", 1),
                                (t.birth, 1)])
        await client.publish(t.bridge, b"online", qos=1, retain=True)
        await self._publish_all(client)

    def _outlets(self, device_id: str) -> tuple[str, ...]:
        state = self.service.hub.states.get(device_id)
        if state is not None and state.reading is not None and state.reading.switches:
            return tuple(str(k) for k in state.reading.switches)
        if device_id in self._published:
            return self._published[device_id]
        previous = (self._previous or {}).get("devices", {})
        known = previous.get(device_id) if isinstance(previous, dict) else None
        outlets = known.get("outlets") if isinstance(known, dict) else None
        if isinstance(outlets, list) and all(isinstance(o, str) for o in outlets) and outlets:
            return tuple(outlets)
        return ("1",)

    def _discovery_items(self, ids: list[str]) -> list[_Item]:
        items: list[_Item] = []
        if not self.settings.discovery:
            return items
        metas = device_metas(self.service, ids)
        qos = self.settings.qos
        for device_id in ids:
            meta = metas[device_id]
            outlets = self._outlets(device_id)
            configs = discovery_configs(self.topics, device_id, meta.name, meta.model_text,
                                        outlets)
            old = self._published.get(device_id)
            if old is not None and old != outlets:  # a strip showed more outlets: drop stale
                stale = set(discovery_topics(self.topics.discovery_prefix, device_id, old))
                items += [(topic, b"", True, qos) for topic in sorted(stale - set(configs))]
            items += [(topic, json.dumps(cfg).encode(), True, qos)
                      for topic, cfg in configs.items()]
            self._published[device_id] = outlets
        return items

    def _removal_items(self, current: set[str]) -> list[_Item]:
        """Empty retained payloads for what the previous run published and we no longer do."""
        previous = self._previous or {}
        devices = previous.get("devices")
        if not isinstance(devices, dict):
            return []
        old_prefix = previous.get("discovery_prefix")
        if not isinstance(old_prefix, str) or not old_prefix:
            old_prefix = self.topics.discovery_prefix
        items: list[_Item] = []
        qos = self.settings.qos
        for device_id, info in devices.items():
            if not isinstance(device_id, str):
                continue
            outlets = info.get("outlets") if isinstance(info, dict) else None
            old = tuple(str(o) for o in outlets) if isinstance(outlets, list) else ("1",)
            keep = device_id in current and self.settings.discovery
            now = (set(discovery_topics(self.topics.discovery_prefix, device_id,
                                        self._published.get(device_id, old)))
                   if keep else set())
            stale = sorted(set(discovery_topics(old_prefix, device_id, old)) - now)
            items += [(topic, b"", True, qos) for topic in stale]
            if device_id not in current:
                log.info("MQTT: removing plug %s (no longer configured) from Home Assistant",
                         device_id)
                items += [(self.topics.state(device_id), b"", True, qos),
                          (self.topics.availability(device_id), b"", True, qos)]
        return items

    def _devices_item(self) -> _Item:
        names = self.service.names()
        data = {
            "discovery_prefix": self.topics.discovery_prefix if self.settings.discovery else "",
            "devices": {
                device_id: {"name": names.get(device_id, device_id), "outlets": list(outlets)}
                for device_id, outlets in self._published.items()
            },
        }
        return (self.topics.devices, json.dumps(data).encode(), True, self.settings.qos)

    def _state_items(self, ids: list[str] | set[str], energy_of: Callable[[str], float | None]
                     ) -> list[_Item]:
        states = self.service.hub.states
        items: list[_Item] = []
        qos = self.settings.state_qos
        for device_id in ids:
            state = states.get(device_id)
            reading = state.reading if state else None
            energy = energy_of(device_id)
            if reading is None and energy is None:
                continue
            payload = state_payload(reading, energy)
            items.append((self.topics.state(device_id), json.dumps(payload).encode(), True, qos))
        return items

    def _availability_items(self, ids: list[str] | set[str]) -> list[_Item]:
        states = self.service.hub.states
        qos = self.settings.qos
        return [
            (self.topics.availability(device_id),
             b"online" if (s := states.get(device_id)) is not None and s.online else b"offline",
             True, qos)
            for device_id in ids
        ]

    async def _publish_all(self, client: aiomqtt.Client) -> None:
        """Everything, as after a (re)connect: removals, discovery, availability, state."""
        ids = list(self.service.names())
        self._dirty_state.clear()
        self._dirty_avail.clear()
        self._rediscover.clear()
        totals = totals_wh(self.service)
        items = self._state_items(ids, totals.get) + self._availability_items(ids)
        self.gate.reset(ids, self._switch_key)
        items += self._discovery_items(ids)
        items += self._removal_items(set(ids))
        if self._previous is not None or self._published:
            items.append(self._devices_item())
        self._previous = None
        await self._publish(client, items)

    def _switch_key(self, device_id: str) -> object:
        """What a change of goes out at once, whatever ``state_interval``."""
        state = self.service.hub.states.get(device_id)
        reading = state.reading if state is not None else None
        return None if reading is None else (reading.switch, reading.switches)

    async def _wait(self) -> None:
        """Until something changed, or a plug's waiting state is due."""
        delay = self.gate.wake_in()
        if delay is None or self._wake.is_set():
            await self._wake.wait()
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()

    async def _publish_loop(self, client: aiomqtt.Client) -> None:
        while True:
            raise_if_cancelling()  # see there: the awaits below cannot all be trusted
            await self._wait()
            await asyncio.sleep(BURST_S)  # what changes meanwhile goes out with it
            self._wake.clear()
            if self._rediscover.is_set():
                delay = self.settings.birth_delay
                await asyncio.sleep(random.uniform(delay / 2, delay) if delay else 0)
                await self._publish_all(client)
                continue
            states, self._dirty_state = self._dirty_state, set()
            avail, self._dirty_avail = self._dirty_avail, set()
            known = self.service.names()
            states = set(self.gate.due([d for d in states if d in known], self._switch_key))
            avail = {d for d in avail if d in known}
            try:
                items = self._availability_items(avail)
                if states:
                    changed = [d for d in states if self._outlets(d) != self._published.get(d)]
                    if changed and self.settings.discovery:
                        items += self._discovery_items(changed)
                        items.append(self._devices_item())
                    items += self._state_items(states, energy_lookup(self.service))
                await self._publish(client, items)
            except BaseException:
                self._dirty_state |= states  # not sent: publish them after the reconnect
                self._dirty_avail |= avail
                raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out += _leaves(exc)
        else:
            out.append(exc)
    return out
