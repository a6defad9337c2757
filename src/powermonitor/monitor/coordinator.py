"""One coordinator per plug: a persistent connection, polled on a schedule, never overlapping.

The coordinator owns the plug's only connection. It polls at the configured interval (never
faster than once a second), sends heartbeats in between so the plug keeps the link open,
publishes pushes as they come, and reconnects with capped exponential backoff and jitter after
a failure (a much longer wait after a wrong key: hammering a plug with a bad key helps no one).
Polls and heartbeats start on a fleet-wide grid (``POLL_SLOT_S``) so that many plugs' round
trips share the event loop's wake-ups.
Availability is logged once when a plug goes offline and once when it returns; an offline plug
produces no readings at all, so consumers see a gap, never a made-up 0 W.

UPDATEDPS: some plugs only re-measure when asked. With ``refresh=None`` the coordinator learns
it: for the first polls it sends UPDATEDPS (for the power DPs of the plug's layout) before each
query; if the plug ever answers with a push of measurements, it keeps doing so, otherwise it
stops. ``refresh=True``/``False`` in the config forces the choice.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..client.device import TuyaDevice
from ..client.plug import open_detecting
from ..client.reconnect import Backoff, error_kind
from ..config import Defaults, PlugConfig, missing_key_message, needs_key
from ..dps import DpMapping, interpret, merge_dps, resolve_mapping
from ..errors import (
    KeyOrVersionError,
    MissingKeyError,
    PowermonitorError,
    UnreachableError,
)
from ..limits import MAX_DPS_PER_PLUG, POLL_SLOT_S
from ..models import Reading
from .hub import Availability, Hub

log = logging.getLogger(__name__)

LEARN_POLLS = 5
"""Polls with UPDATEDPS while learning whether a plug needs it."""


def on_grid(when: float) -> float:
    """``when`` moved up to the next step of the fleet's shared poll grid (:data:`POLL_SLOT_S`)."""
    return math.ceil(when / POLL_SLOT_S) * POLL_SLOT_S


class PlugCoordinator:
    """Keeps one plug polled for as long as :meth:`run` runs."""

    # one per plug, a thousand in a fleet: slots keep each to its fields (no __dict__)
    __slots__ = (
        "_clock", "_id_strs", "_ids", "_ids_keys", "_learn_left", "_polling", "_product_id",
        "_refresh_answered", "backoff", "connects", "device", "dps", "heartbeat_interval", "hub",
        "interval", "name", "plug", "polls", "refresh_active", "refresh_setting", "start_spread",
        "timeout", "version",
    )

    def __init__(
        self,
        plug: PlugConfig,
        hub: Hub,
        defaults: Defaults | None = None,
        *,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
        start_spread: float = 1.0,
    ) -> None:
        self.plug = plug
        self.hub = hub
        defaults = defaults or Defaults()
        self.interval = defaults.interval_for(plug)
        self.timeout = defaults.timeout
        self.heartbeat_interval = defaults.heartbeat_interval
        self.refresh_setting = defaults.refresh_for(plug)
        self.refresh_active = self.refresh_setting is not False
        self.backoff = backoff or Backoff()
        self.start_spread = start_spread
        self._clock = clock
        self.version = plug.version  # "auto" until detected
        self.device: TuyaDevice | None = None
        self.dps: dict[str, Any] = {}  # the last known raw dps (every poll and push merged)
        # _refresh_ids(), worked out again when the plug's set of DPs changes (not its values:
        # the layout, a mapping or a product profile say which DPs measure, not what they read)
        self._ids_keys: tuple[str, ...] | None = None  # a tuple: smaller than a frozenset
        self._ids: list[int] = []
        self._id_strs: tuple[str, ...] = ()
        self.polls = 0
        self.connects = 0
        self._learn_left = LEARN_POLLS if self.refresh_setting is None else 0
        self._refresh_answered = False
        self._polling = False
        self.name = plug.name or plug.device_id
        self._product_id = plug.product_id or None
        hub.register(plug.device_id, self.name)

    # ------------------------------------------------------------------ public

    @property
    def online(self) -> bool:
        return self.device is not None and self.device.connected

    async def run(self) -> None:
        """Poll until cancelled; never raises for plug errors (they are availability events)."""
        if needs_key(self.plug.local_key, self.plug.version):
            # Nothing to try until the user sets the key: say so once, never connect.
            self._offline(MissingKeyError(missing_key_message(self.name, self.plug.version)), 0)
            await asyncio.Future()  # until cancelled
        if self.start_spread > 0:  # spread a fleet's first connects over a moment
            await asyncio.sleep(random.uniform(0, min(self.start_spread, self.interval)))
        try:
            while True:
                try:
                    await self._connect()
                    await self._session()
                except PowermonitorError as exc:
                    delay = self.backoff.next_delay(isinstance(exc, KeyOrVersionError))
                    self._offline(exc, delay)
                    await self._close()
                    await asyncio.sleep(delay)
        finally:
            await self._close()

    async def control(self, dps: dict[str, Any]) -> Reading:
        """Switch / set DPs over the plug's existing connection (no second connection, ever)."""
        device = self.device
        if device is None or not device.connected:
            raise UnreachableError(f"{self.name} is offline")
        merged = await device.set_dps(dps)
        self.dps = merge_dps(self.dps, merged)
        reading = self._reading()
        self.hub.publish(reading, self.name)
        return reading

    # ------------------------------------------------------------------ internals

    async def _connect(self) -> None:
        plug = self.plug
        self.connects += 1
        if self.version == "auto":
            self.device = await open_detecting(
                plug.device_id, plug.host, plug.local_key, port=plug.port, timeout=self.timeout,
                on_push=self._on_push, clock=self._clock,
            )
            self.version = self.device.version
            self.dps = dict(self.device.dps)
        else:
            device = TuyaDevice(
                plug.device_id, plug.host, plug.local_key, self.version, port=plug.port,
                timeout=self.timeout, on_push=self._on_push, clock=self._clock,
            )
            self.device = device
            await device.connect()

    async def _close(self) -> None:
        device, self.device = self.device, None
        if device is not None:
            await device.close()

    async def _session(self) -> None:
        device = self.device
        assert device is not None
        loop = asyncio.get_running_loop()
        next_poll = loop.time()
        last_traffic = loop.time()
        while True:
            now = loop.time()
            if now >= next_poll:
                await self._poll(device)
                last_traffic = loop.time()
                next_poll += self.interval
                if next_poll <= last_traffic:
                    next_poll = last_traffic + self.interval  # we fell behind: skip, do not burst
            elif now - last_traffic >= self.heartbeat_interval:
                await device.heartbeat()
                last_traffic = loop.time()
            wake = on_grid(min(next_poll, last_traffic + self.heartbeat_interval))
            await asyncio.sleep(max(0.0, wake - loop.time()))

    async def _poll(self, device: TuyaDevice) -> None:
        self._polling = True
        try:
            ids = self._refresh_ids() if self.refresh_active else None
            dps = await device.status(refresh=ids or None)  # UPDATEDPS first, same write
        finally:
            self._polling = False
        # merge_dps(self.dps, dps) without its key normalisation: both already have str keys
        # (self.dps comes from merge_dps, the device's dps from JSON)
        merged = {**self.dps, **dps}
        if len(merged) > MAX_DPS_PER_PLUG:  # ids kept from earlier connections: start over
            merged = dict(dps)
        self.dps = merged
        self.polls += 1
        if self._learn_left:
            self._learn_left -= 1
            if not self._learn_left:
                self.refresh_active = self._refresh_answered
                log.debug("%s: UPDATEDPS %s", self.name,
                          "helps, keeping it" if self.refresh_active else "ignored, stopping")
        reading = self._reading()
        # the reading's dps are the merged dps again (interpret copies them): keep that one
        # copy rather than two per plug, as both views; none is ever changed in place
        if type(reading.dps) is dict:
            self.dps = reading.dps
        self._online(reading)
        self.hub.publish(reading, self.name)

    def _refresh_ids(self) -> list[int]:
        """The power DPs to refresh (by layout); worked out again only when the DP ids change."""
        dps = self.dps
        keys = tuple(dps)  # in merge order, which stays put while no DP is added
        if keys != self._ids_keys:
            mapping, _ = resolve_mapping(dps, self.plug.mapping, self._product_id)
            fields = (mapping.current, mapping.power, mapping.voltage)
            self._ids = sorted({int(f.dp) for f in fields if f})
            self._id_strs = tuple(sys.intern(str(i)) for i in self._ids)  # a fleet shares "19"
            self._ids_keys = keys
        return self._ids

    def _on_push(self, dps: dict[str, Any]) -> None:
        if self._polling:
            self._refresh_ids()
            if any(dp in dps for dp in self._id_strs):
                self._refresh_answered = True
            return  # the poll in progress publishes the merged state
        merged = merge_dps(self.dps, dps)
        self.dps = merged if len(merged) <= MAX_DPS_PER_PLUG else merge_dps({}, dps)
        if self.hub.states.get(self.plug.device_id) and self.hub.states[self.plug.device_id].online:
            self.hub.publish(self._reading(), self.name)

    def _reading(self) -> Reading:
        mapping: DpMapping | None = self.plug.mapping
        label = self.version
        if self.device is not None and self.device.device22 and self.version != "3.2":
            label = f"{self.version} (device22)"
        return interpret(
            self.dps, device_id=self.plug.device_id, timestamp=datetime.fromtimestamp(self._clock(), UTC),
            protocol=label, mapping=mapping, product_id=self._product_id,
        )

    def _online(self, reading: Reading) -> None:
        state = self.hub.states.get(self.plug.device_id)
        if state is None or not state.online or state.since is None or state.reason or state.kind:
            # a change (or a stale reason) to record; otherwise the Hub has it already
            event = Availability(self.plug.device_id, self.name, True, reading.timestamp)
            if self.hub.set_availability(event):
                log.info("%s (%s) is online (protocol %s)", self.name, self.plug.host,
                         reading.protocol)
        self.backoff.reset()

    def _offline(self, exc: PowermonitorError, delay: float) -> None:
        now = datetime.fromtimestamp(self._clock(), UTC)
        kind = error_kind(exc)
        event = Availability(self.plug.device_id, self.name, False, now, str(exc), kind)
        if self.hub.set_availability(event):
            if isinstance(exc, MissingKeyError):
                log.warning("%s is not watched: %s", self.name, exc)
            else:
                log.warning("%s (%s) is offline: %s; retrying in %.0f s", self.name,
                            self.plug.host, exc, delay)
        else:
            log.debug("%s still offline: %s; retrying in %.1f s", self.name, exc, delay)
