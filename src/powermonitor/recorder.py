"""The Recorder: readings in, energy and cost accounted, samples out to the store's writer.

It subscribes to the Hub, runs one :class:`~powermonitor.energy.EnergyIntegrator` per plug
(resumed from the store's persisted counters, so the kWh total continues across restarts),
prices each interval with the tariff, and hands :class:`~powermonitor.storage.base.Sample`
rows to the single writer. It also keeps the running totals in memory for exporters
(Prometheus' energy counter, MQTT's total_increasing sensor) so they never query the database.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from .energy import EnergyIntegrator, Method, max_gap_for
from .models import Reading
from .monitor.consumer import HubConsumer
from .monitor.hub import Availability, Hub, HubEvent
from .storage.base import Counter, Sample
from .storage.writer import StoreWriter
from .tariff import Tariff

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Totals:
    """A plug's running energy account (what counters and total_increasing sensors expose)."""

    total_wh: float
    total_cost: float
    last_ts: float | None


class Recorder(HubConsumer):
    """Hub subscriber that integrates energy and feeds the store writer."""

    name = "recorder"
    queue_size = 100_000
    drain_on_close = True  # on cancellation, account what is already queued

    def __init__(
        self,
        hub: Hub,
        writer: StoreWriter | None,
        tariff: Tariff,
        *,
        counters: Mapping[str, Counter] | None = None,
        poll_intervals: Mapping[str, float] | None = None,
        names: Mapping[str, str] | None = None,
        method: Method = "trapezoid",
        max_gap_s: float | None = None,
    ) -> None:
        super().__init__(hub)
        self.writer = writer
        self.tariff = tariff
        self.method = method
        self.max_gap_s = max_gap_s
        self._counters = dict(counters or {})
        self._intervals = dict(poll_intervals or {})
        self.names = dict(names or {})
        self._integrators: dict[str, EnergyIntegrator] = {}
        self._cost: dict[str, float] = {c.device_id: c.total_cost for c in self._counters.values()}
        self.samples = 0

    def integrator(self, device_id: str) -> EnergyIntegrator:
        integ = self._integrators.get(device_id)
        if integ is None:
            gap = self.max_gap_s or max_gap_for(self._intervals.get(device_id, 10.0))
            counter = self._counters.get(device_id)
            if counter is not None:
                integ = EnergyIntegrator.from_counter(counter, method=self.method, max_gap_s=gap)
            else:
                integ = EnergyIntegrator(device_id, method=self.method, max_gap_s=gap)
            self._integrators[device_id] = integ
        return integ

    def totals(self) -> dict[str, Totals]:
        """Every plug's total Wh and cost so far (persisted ones included)."""
        out = {
            c.device_id: Totals(c.total_wh, c.total_cost, c.last_ts) for c in self._counters.values()
        }
        for device_id, integ in self._integrators.items():
            total_wh, last_ts, _ = integ.state()
            out[device_id] = Totals(total_wh, self._cost.get(device_id, 0.0), last_ts)
        return out

    def total_wh(self, device_id: str) -> float | None:
        """One plug's total Wh (what :meth:`totals` says for it), None when it has none: the
        exporters ask for the few plugs a burst touched, not for a copy of every plug's."""
        integ = self._integrators.get(device_id)
        if integ is not None:
            return integ.total_wh
        counter = self._counters.get(device_id)
        return None if counter is None else counter.total_wh

    def record(self, reading: Reading) -> Sample:
        """Account one reading; return the sample handed to the writer."""
        # The store keeps milliseconds and one sample per plug and millisecond: integrate on the
        # same grid, so a second reading in one millisecond (a push right behind a poll's
        # reply) adds nothing, rather than energy the counters would keep and the rows not.
        ts = round(reading.timestamp.timestamp() * 1000.0) / 1000.0
        device_id = reading.device_id
        integ = self._integrators.get(device_id) or self.integrator(device_id)
        power_w, switch = reading.power_w, reading.switch
        inc = integ.add(ts, power_w, switch)
        wh = inc.wh
        cost = self.tariff.cost(inc.start_ts, inc.end_ts, wh) if wh > 0 else 0.0
        costs = self._cost
        costs[device_id] = costs.get(device_id, 0.0) + cost
        sample = Sample(
            device_id, ts, 0.0 if switch is False and power_w is None else power_w,
            reading.voltage_v, reading.current_a, switch, wh, inc.covered_s, inc.uncovered_s,
            cost, integ.total_wh,
        )
        self.samples += 1
        if self.writer is not None:
            self.writer.submit(sample, self.names.get(device_id, device_id))
        return sample

    def take(self, events: list[HubEvent]) -> None:
        handle = self._handle
        for event in events:
            handle(event)

    def _handle(self, event: HubEvent) -> None:
        if type(event) is Reading or isinstance(event, Reading):
            try:
                self.record(event)
            except Exception:  # one bad reading must never stop the accounting
                log.exception("could not record a reading of %s", event.device_id)
        elif isinstance(event, Availability) and event.name:
            self.names.setdefault(event.device_id, event.name)
