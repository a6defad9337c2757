"""What every exporter shares: the service it reads, plug metadata, settings checks, quiet logs.

Design rules for the exporters package:

* **Exporters never touch a plug.** They read the Hub's latest-state cache (scrape-time
  readers: Prometheus) or subscribe to the Hub (MQTT, InfluxDB). The one exception is an MQTT
  switch command, which goes through ``service.set_switch`` and so through the plug's own
  coordinator and its single connection.
* **A broken exporter never stops polling or storage.** ``run()`` only returns when cancelled;
  a bad URL, bad credentials or a broker that is away are logged once, clearly, with what to
  check, then retried quietly with capped backoff.
* **Energy comes from the recorder's persisted totals** (``Recorder.totals()``), which never
  decrease. Tuya's DP 17 ``add_ele`` is an increment that resets, never a meter.
* **Settings are typed and validated when the config file is loaded** (:mod:`powermonitor.config`),
  so a typo in ``[mqtt]`` fails with the file and line before anything starts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..config import Config, PlugConfig
from ..dps import detect_layout
from ..models import Reading
from ..monitor.hub import Hub, PlugState
from ..storage.writer import RecordingState

__all__ = [
    "DeviceMeta",
    "RecorderLike",
    "ServiceLike",
    "TotalsLike",
    "device_meta",
    "device_metas",
    "energy_lookup",
    "plug_ids",
]


class TotalsLike(Protocol):
    """One plug's running energy account (``powermonitor.recorder.Totals``)."""

    @property
    def total_wh(self) -> float: ...


class RecorderLike(Protocol):
    """What exporters need from the recorder: the persisted, never-decreasing energy totals."""

    def totals(self) -> Mapping[str, TotalsLike]: ...

    def total_wh(self, device_id: str) -> float | None:
        """One plug's entry of :meth:`totals` (its ``total_wh``), None when it has none."""
        ...


class ServiceLike(Protocol):
    """The slice of :class:`powermonitor.service.Service` the exporters use."""

    @property
    def hub(self) -> Hub: ...

    @property
    def config(self) -> Config: ...

    @property
    def recorder(self) -> RecorderLike | None: ...

    @property
    def writer(self) -> RecordingState | None:
        """The store writer (None: nothing is stored, e.g. an exporter alone)."""
        ...

    def names(self) -> Mapping[str, str]: ...

    def resolve(self, name_or_id: str) -> str:
        """A configured plug's device id (monitor/directory.py's rule; KeyError if none)."""
        ...

    async def set_switch(self, name_or_id: str, on: bool, outlet: int | str = 1) -> Reading: ...


def totals_wh(service: ServiceLike) -> dict[str, float]:
    """device id → total Wh from the recorder (empty when there is no recorder or it fails)."""
    recorder = service.recorder
    if recorder is None:
        return {}
    try:
        return {k: float(t.total_wh) for k, t in recorder.totals().items()}
    except Exception:  # a scrape or a state message must not fail on the recorder
        logging.getLogger(__name__).exception("could not read the energy totals")
        return {}


def energy_lookup(service: ServiceLike) -> Callable[[str], float | None]:
    """device id → total Wh, one plug at a time (:func:`totals_wh` copies every plug's: right
    for a scrape, wasteful for the few plugs a burst of readings touched)."""
    recorder = service.recorder
    if recorder is None:
        return _no_energy

    def lookup(device_id: str) -> float | None:
        try:
            total = recorder.total_wh(device_id)
        except Exception:  # a state message must not fail on the recorder
            logging.getLogger(__name__).exception("could not read the energy totals")
            return None
        return None if total is None else float(total)

    return lookup


def _no_energy(device_id: str) -> float | None:
    return None


def plug_ids(service: ServiceLike) -> list[str]:
    """Every plug to export: the configured ones, then any the Hub knows about, in order."""
    ids = list(service.names())
    seen = set(ids)
    ids.extend(k for k in service.hub.states if k not in seen)
    return ids


@dataclass(frozen=True, slots=True)
class DeviceMeta:
    """What we know about a plug besides its readings (for info metrics and HA's device block)."""

    device_id: str
    name: str
    host: str = ""
    port: int = 0
    protocol: str = ""
    layout: str = ""
    model: str = ""

    @property
    def model_text(self) -> str:
        """A model string for Home Assistant: the configured model, else the DP layout."""
        if self.model:
            return self.model
        return f"Smart plug ({self.layout} layout)" if self.layout else "Smart plug"


def device_metas(service: ServiceLike, ids: Iterable[str] | None = None) -> dict[str, DeviceMeta]:
    """Name, host, protocol and DP layout of plugs (all exported ones by default), from the
    config and the Hub's state; the config and names are read once for all of them."""
    states = service.hub.states
    names = service.names()
    plugs = {p.device_id: p for p in service.config.plugs}
    out: dict[str, DeviceMeta] = {}
    for device_id in plug_ids(service) if ids is None else ids:
        state = states.get(device_id)
        plug = plugs.get(device_id)
        out[device_id] = _meta(device_id, state, plug, names.get(device_id, ""))
    return out


def device_meta(service: ServiceLike, device_id: str) -> DeviceMeta:
    """:func:`device_metas` for one plug."""
    return device_metas(service, [device_id])[device_id]


def _meta(device_id: str, state: PlugState | None, plug: PlugConfig | None, name: str
          ) -> DeviceMeta:
    name = name or (state.name if state else "") or device_id
    protocol = state.protocol if state and state.protocol else ""
    if not protocol and plug is not None and plug.version != "auto":
        protocol = plug.version
    layout = ""
    if plug is not None and plug.mapping is not None:
        layout = plug.mapping.name
    elif state is not None and state.reading is not None:
        layout = _layout_of(device_id, state.reading.dps)
    return DeviceMeta(
        device_id=device_id,
        name=name,
        host=plug.host if plug else "",
        port=plug.port if plug else 0,
        protocol=protocol,
        layout=layout,
        model=str(getattr(plug, "model", "") or ""),
    )


_LAYOUTS: dict[tuple[str, frozenset[str]], str] = {}


def _layout_of(device_id: str, dps: Mapping[str, Any]) -> str:
    """The plug's DP layout, detected once per (plug, set of DPs) rather than on every scrape."""
    key = (device_id, frozenset(dps))
    layout = _LAYOUTS.get(key)
    if layout is None:
        if len(_LAYOUTS) > 100_000:
            _LAYOUTS.clear()
        layout = _LAYOUTS[key] = detect_layout(dps) or ""
    return layout




def topic_id(text: str) -> str:
    """An MQTT/HA-safe identifier: only ``[A-Za-z0-9_-]`` (HA's rule for discovery ids)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)
