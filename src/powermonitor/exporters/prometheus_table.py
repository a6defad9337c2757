"""What a scrape exports: the metric table, read once per scrape from the Hub's latest-state
cache and the recorder's totals (never from a plug). Rendering it is exporters/prometheus.py.

Names follow the Prometheus naming guide (base units, ``_total`` on counters, an ``_info``
metric); every plug's series has ``device_id`` (stable) and ``name`` (human) labels; two unlabelled
series say whether the service is storing what it reads. Offline plugs keep
``powermonitor_device_up 0``, their energy counter and last reading time, and export no power,
voltage, current, power factor or switch samples: absent, never a made-up 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import ServiceLike, device_metas, plug_ids, totals_wh

__all__ = ["METRIC_NAMES", "SPECS", "Spec", "Table", "collect_table"]

NS = "powermonitor"
_CACHED = " (latest poll cached by the monitor; a scrape never contacts a plug)"

_BASE = ("device_id", "name")
_INFO_LABELS = ("device_id", "name", "host", "protocol", "layout", "model")


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    kind: str  # "gauge" or "counter" (a counter's name ends in _total)
    help: str
    labels: tuple[str, ...] = _BASE


UP = Spec(f"{NS}_device_up", "gauge",
           "1 if the plug answers its polls, 0 if it is offline or not reached yet")
POWER = Spec(f"{NS}_power_watts", "gauge", "Active power drawn through the plug" + _CACHED)
VOLTAGE = Spec(f"{NS}_voltage_volts", "gauge", "Mains voltage measured by the plug" + _CACHED)
CURRENT = Spec(f"{NS}_current_amperes", "gauge", "Current through the plug" + _CACHED)
PF = Spec(f"{NS}_power_factor", "gauge",
           "Power factor P/(V*I), 0 to 1, derived from the latest poll" + _CACHED)
SWITCH = Spec(f"{NS}_switch_on", "gauge", "1 if the outlet's relay is on, 0 if off" + _CACHED,
               ("device_id", "name", "outlet"))
ENERGY = Spec(f"{NS}_energy_joules_total", "counter",
               "Energy drawn through the plug, integrated from its power readings and persisted "
               "(never decreases; 1 kWh = 3.6e6 J)")
LAST = Spec(f"{NS}_last_reading_timestamp_seconds", "gauge",
             "Unix time of the plug's latest reading")
READINGS = Spec(f"{NS}_readings_total", "counter",
                 "Readings received from the plug since this process started")
INFO = Spec(f"{NS}_device_info", "gauge",
             "Plug metadata (host, protocol version, DP layout, model); always 1", _INFO_LABELS)

RECORDING = Spec(f"{NS}_recording", "gauge",
                  "1 while readings are being stored; 0 while the store refuses writes or the "
                  "writer has stopped (the service is not healthy then, whatever the plugs do)", ())
PENDING = Spec(f"{NS}_store_pending_samples", "gauge",
               "Readings waiting to be committed to the store (grows while it refuses writes)", ())

SPECS: tuple[Spec, ...] = (UP, POWER, VOLTAGE, CURRENT, PF, SWITCH, ENERGY, LAST, READINGS, INFO,
                           RECORDING, PENDING)
METRIC_NAMES: frozenset[str] = frozenset(s.name for s in SPECS)
"""Every metric name this module exports (the dashboard test checks its queries against it)."""


@dataclass(slots=True)
class Rows:
    """One metric's samples as two parallel lists (no tuple per sample: fewer GC pauses)."""

    keys: list[tuple[str, ...]] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def add(self, key: tuple[str, ...], value: float) -> None:
        self.keys.append(key)
        self.values.append(value)


@dataclass(slots=True)
class Table:
    """One scrape: per metric, its label values and sample values."""

    rows: dict[Spec, Rows] = field(default_factory=lambda: {s: Rows() for s in SPECS})


class _Keys:
    """Label-value tuples reused from scrape to scrape (allocating ~10 000 per scrape of 1000
    plugs is what triggers the garbage collector mid-scrape)."""

    def __init__(self, limit: int = 100_000) -> None:
        self.base: dict[str, tuple[str, str]] = {}
        self.outlets: dict[tuple[str, str], dict[str, tuple[str, str, str]]] = {}
        self.limit = limit

    def of(self, device_id: str, name: str) -> tuple[str, str]:
        key = self.base.get(device_id)
        if key is None or key[1] != name:
            if len(self.base) >= self.limit:
                self.base.clear()
                self.outlets.clear()
            key = self.base[device_id] = (device_id, name)
        return key

    def outlet(self, base: tuple[str, str], outlet: str) -> tuple[str, str, str]:
        per = self.outlets.get(base)
        if per is None:
            per = self.outlets[base] = {}
        key = per.get(outlet)
        if key is None:
            key = per[outlet] = (base[0], base[1], outlet)
        return key


_KEYS = _Keys()


def collect_table(service: ServiceLike) -> Table:
    """Read the Hub's cache and the recorder's totals once; never touches a plug."""
    table = Table()
    rows = table.rows
    up, power, voltage, current, pf = rows[UP], rows[POWER], rows[VOLTAGE], rows[CURRENT], rows[PF]
    switch, energy, last, readings, info = (
        rows[SWITCH], rows[ENERGY], rows[LAST], rows[READINGS], rows[INFO]
    )
    states = service.hub.states
    names = service.names()
    totals = totals_wh(service)
    ids = plug_ids(service)
    metas = device_metas(service, ids)
    keys = _KEYS
    for device_id in ids:
        state = states.get(device_id)
        name = names.get(device_id) or (state.name if state else "") or device_id
        base = keys.of(device_id, name)
        online = bool(state and state.online)
        up.add(base, 1.0 if online else 0.0)
        reading = state.reading if state else None
        if reading is not None:
            last.add(base, reading.timestamp.timestamp())
            if online:
                if reading.power_w is not None:
                    power.add(base, reading.power_w)
                if reading.voltage_v is not None:
                    voltage.add(base, reading.voltage_v)
                if reading.current_a is not None:
                    current.add(base, reading.current_a)
                if reading.power_factor is not None:
                    pf.add(base, reading.power_factor)
                if reading.switches:
                    for outlet, on in reading.switches.items():
                        switch.add(keys.outlet(base, str(outlet)), 1.0 if on else 0.0)
                elif reading.switch is not None:
                    switch.add(keys.outlet(base, "1"), 1.0 if reading.switch else 0.0)
        if state is not None:
            readings.add(base, float(state.readings))
        wh = totals.get(device_id)
        if wh is not None:
            energy.add(base, wh * 3600.0)
        meta = metas[device_id]
        info.add((device_id, name, meta.host, meta.protocol, meta.layout, meta.model), 1.0)
    writer = service.writer
    if writer is not None:
        rows[RECORDING].add((), 1.0 if writer.recording else 0.0)
        rows[PENDING].add((), float(writer.stats.pending))
    return table


# --------------------------------------------------------------------------- text exposition
