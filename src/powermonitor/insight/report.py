"""What each plug costs: pure functions over store queries (CLI, API and dashboard share them).

Per plug and in total: measured kWh and cost (each interval priced when it was recorded, so
time-of-use tariffs are honoured), the always-on power (see :mod:`.baseload`), what that standby
costs per year, the active vs standby split, the appliance cycles, and each plug's share.

Projections ("per month at this rate") divide by the time actually COVERED by measurements, not
by calendar days: a first day measured for 6.6 % of its hours is 0.066 of a day, not a whole one
(counting it whole made projections 12 % low).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..storage.base import EnergyRow, Resolution, SeriesPoint, Store
from ..tariff import Tariff
from .baseload import always_on_w, format_watts, standby_kwh_per_year
from .cycles import Cycle
from .store import InsightStore

DAY_S = 86400.0
MONTH_DAYS = 365.25 / 12
MIN_COVERED_S = 60.0  # less than this measured: no rate to project from


@dataclass(frozen=True, slots=True)
class PlugCost:
    id: str
    name: str
    kwh: float
    cost: float
    covered_s: float
    always_on_w: float | None
    always_on: str  # "3.2 W", or "< 0.5 W" below what a plug can measure
    standby_kwh: float  # in the period
    active_kwh: float
    standby_kwh_per_year: float
    standby_cost_per_year: float
    kwh_per_month: float | None  # at the measured rate (covered time)
    cost_per_month: float | None
    cycles: int
    cycle_kwh: float
    cycle_cost: float
    share: float  # of the total cost (of kWh when nothing is priced), in %

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def per_day_rate(rows: Iterable[EnergyRow]) -> tuple[float, float, float]:
    """``(kWh per day, cost per day, covered days)`` from rows of ONE plug, by covered time."""
    wh = cost = covered = 0.0
    for r in rows:
        wh, cost, covered = wh + r.wh, cost + r.cost, covered + r.covered_s
    if covered < MIN_COVERED_S:
        return 0.0, 0.0, covered / DAY_S
    return wh / 1000 * DAY_S / covered, cost * DAY_S / covered, covered / DAY_S


def projection(rows: Sequence[EnergyRow]) -> dict[str, float]:
    """Fleet kWh and cost per day at the measured rate: each plug's rate over ITS covered time,
    summed (a plug measured for an hour and one measured for a week both count fully)."""
    by_plug: dict[str, list[EnergyRow]] = {}
    for r in rows:
        by_plug.setdefault(r.device_id, []).append(r)
    kwh = cost = days = 0.0
    for plug_rows in by_plug.values():
        k, c, d = per_day_rate(plug_rows)
        kwh, cost, days = kwh + k, cost + c, max(days, d)
    return {"days": days, "kwh_per_day": kwh, "kwh_per_month": kwh * MONTH_DAYS,
            "cost_per_day": cost}


def always_on_from(minutes: Sequence[tuple[float, float]], points: Iterable[SeriesPoint]
                   ) -> tuple[float | None, float]:
    """``(always-on W, seconds switched on)``. ``minutes`` are raw-sample minute means taken
    while switched on (see InsightStore.minute_means); older time, where only rollups are kept,
    adds its minute (or hour) means as they are: without the switch state a 0 W stretch there
    counts as a real 0 W (a kettle idles at 0 W too)."""
    first = minutes[0][0] if minutes else math.inf
    older = [p for p in points if p.ts < first and p.power_w is not None]
    base = always_on_w([m for _, m in minutes] + [p.power_w or 0.0 for p in older],
                       include_zero=True)
    return base, 60.0 * len(minutes) + sum(p.covered_s for p in older)


def average_price(tariff: Tariff, since: float, until: float) -> float:
    """Time-averaged price per kWh over the period: what a constant draw pays."""
    return tariff.cost(since, until, 1000.0) if until > since else tariff.price_at(since)


def plug_cost(device_id: str, name: str, rows: Sequence[EnergyRow],
              minutes: Sequence[tuple[float, float]], points: Sequence[SeriesPoint],
              cycles: Sequence[Cycle], price: float) -> PlugCost:
    kwh = sum(r.wh for r in rows) / 1000
    cost = sum(r.cost for r in rows)
    covered = sum(r.covered_s for r in rows)
    base, on_s = always_on_from(minutes, points)
    standby = min(kwh, (base or 0.0) * on_s / 3600 / 1000)
    per_year = standby_kwh_per_year(base or 0.0)
    k_day, c_day, _ = per_day_rate(rows)
    enough = covered >= MIN_COVERED_S
    return PlugCost(
        id=device_id, name=name, kwh=kwh, cost=cost, covered_s=covered, always_on_w=base,
        always_on=format_watts(base), standby_kwh=standby, active_kwh=kwh - standby,
        standby_kwh_per_year=per_year, standby_cost_per_year=per_year * price,
        kwh_per_month=k_day * MONTH_DAYS if enough else None,
        cost_per_month=c_day * MONTH_DAYS if enough else None,
        cycles=len(cycles), cycle_kwh=sum(c.wh for c in cycles) / 1000,
        cycle_cost=sum(c.cost for c in cycles), share=0.0)


def rank(plugs: Sequence[PlugCost]) -> list[PlugCost]:
    """Sorted by cost (then kWh), each with its share of the total."""
    total_cost = sum(p.cost for p in plugs)
    total_kwh = sum(p.kwh for p in plugs)
    out = []
    for p in plugs:
        if total_cost > 0:
            share = 100 * p.cost / total_cost
        else:
            share = 100 * p.kwh / total_kwh if total_kwh > 0 else 0.0
        out.append(PlugCost(**{**asdict(p), "share": share}))
    return sorted(out, key=lambda p: (-p.cost, -p.kwh, p.name))


def total(plugs: Sequence[PlugCost]) -> dict[str, Any]:
    months = [p.kwh_per_month for p in plugs if p.kwh_per_month is not None]
    costs = [p.cost_per_month for p in plugs if p.cost_per_month is not None]
    base = sum(p.always_on_w or 0.0 for p in plugs)
    return {
        "id": "", "name": "total", "kwh": sum(p.kwh for p in plugs),
        "cost": sum(p.cost for p in plugs), "always_on_w": base, "always_on": format_watts(base),
        "standby_kwh": sum(p.standby_kwh for p in plugs),
        "active_kwh": sum(p.active_kwh for p in plugs),
        "standby_kwh_per_year": sum(p.standby_kwh_per_year for p in plugs),
        "standby_cost_per_year": sum(p.standby_cost_per_year for p in plugs),
        "kwh_per_month": sum(months) if months else None,
        "cost_per_month": sum(costs) if costs else None,
        "cycles": sum(p.cycles for p in plugs), "cycle_kwh": sum(p.cycle_kwh for p in plugs),
        "cycle_cost": sum(p.cycle_cost for p in plugs), "share": 100.0 if plugs else 0.0,
    }


def resolution_for(span_s: float) -> Resolution:
    """Minute buckets (kept 90 days by default) make good short averages; hours beyond."""
    return "1m" if span_s <= 60 * DAY_S else "1h"


async def build_report(store: Store, tariff: Tariff, since: float, until: float,
                       names: Mapping[str, str] | None = None,
                       device_ids: Sequence[str] | None = None) -> dict[str, Any]:
    """The cost report for ``[since, until)``: ``{"plugs": [...], "total": {...}, ...}``."""
    known = {d.device_id: d.name for d in await store.devices()}
    known.update(names or {})
    rows = await store.energy("day", since, until, device_ids)
    by_plug: dict[str, list[EnergyRow]] = {}
    for r in rows:
        by_plug.setdefault(r.device_id, []).append(r)
    insight = InsightStore(store)
    price = average_price(tariff, since, until)
    if price <= 0:  # no prices configured here: what the stored costs paid on average
        wh = sum(r.wh for r in rows)
        price = sum(r.cost for r in rows) / wh * 1000 if wh > 0 else 0.0
    plugs = []
    for device_id, plug_rows in by_plug.items():
        minutes = await insight.minute_means(device_id, since, until)
        points = await store.history(device_id, since, until, resolution_for(until - since))
        cycles = await insight.cycles(device_id, since, until)
        plugs.append(plug_cost(device_id, known.get(device_id, device_id), plug_rows, minutes,
                               points, cycles, price))
    ranked = rank(plugs)
    return {"since": since, "until": until, "currency": tariff.currency,
            "average_price": price, "plugs": [p.to_json() for p in ranked],
            "total": total(ranked)}
