"""Made-up history for the demo: what a simulated plug would have drawn over past days.

The demo back-fills a week so its charts mean something at once. The made-up readings go
through the service's own :class:`~powermonitor.recorder.Recorder` (energy integration, the
gap rule, the tariff), so the stored kWh and cost are exactly what the service would have
recorded live: there is no second copy of that accounting to drift.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from ..models import Reading
from ..monitor.hub import Hub
from ..recorder import Recorder
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
    recorder = Recorder(Hub(), None, tariff, max_gap_s=max(60.0, 3 * step_s))
    ts = since
    while ts < until:
        t = ts - since
        measured = mains.measure(t, on=True, power_w=profile.power_w(t),
                                 power_factor=profile.power_factor(t))
        reading = Reading(
            spec.device_id, datetime.fromtimestamp(ts, UTC), switch=True,
            switches={"1": True}, power_w=round(measured.power_w, 1),
            voltage_v=round(measured.voltage_v, 1), current_a=round(measured.current_a, 3),
        )
        yield recorder.record(reading)
        ts += step_s
