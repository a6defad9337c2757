"""Made-up history for the demo: what a simulated plug would have drawn over past days.

The demo back-fills a week so its charts mean something at once. Samples go through the same
energy integrator and tariff as live readings, so the stored kWh and cost are consistent with
what the service would have recorded.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..energy import EnergyIntegrator
from ..storage.base import Sample
from ..tariff import Tariff
from .electrical import Mains
from .plug import PlugSpec
from .profiles import make_profile


def history_samples(
    spec: PlugSpec, since: float, until: float, tariff: Tariff, *, step_s: float = 60.0
) -> Iterator[Sample]:
    """One sample every ``step_s`` seconds over [since, until) for the plug's load profile."""
    profile = make_profile(spec.profile, spec.seed, epoch=since)
    mains = Mains(spec.nominal_v, seed=spec.seed)
    integrator = EnergyIntegrator(spec.device_id, max_gap_s=max(60.0, 3 * step_s))
    ts = since
    while ts < until:
        t = ts - since
        reading = mains.measure(t, on=True, power_w=profile.power_w(t),
                                power_factor=profile.power_factor(t))
        power = round(reading.power_w, 1)
        inc = integrator.add(ts, power, True)
        yield Sample(
            device_id=spec.device_id, ts=ts, power_w=power, voltage_v=round(reading.voltage_v, 1),
            current_a=round(reading.current_a, 3), switch=True, interval_wh=inc.wh,
            covered_s=inc.covered_s, uncovered_s=inc.uncovered_s,
            cost=tariff.cost(inc.start_ts, inc.end_ts, inc.wh) if inc.wh else 0.0,
            total_wh=integrator.total_wh,
        )
        ts += step_s
