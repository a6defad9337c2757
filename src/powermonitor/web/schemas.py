"""The JSON shapes of the HTTP API (pydantic models: they also write /openapi.json).

Conventions: SI units with the unit in the name (``power_w``, ``energy_kwh``), times as
ISO-8601 UTC (``...Z``) plus Unix seconds (``*_ts``) where a chart needs numbers, costs in
``currency``. Measured quantities are rounded to what a plug measures by the CLI's rule
(:mod:`powermonitor.precision`): no float noise such as ``0.30000000000000004``. No model here
has a field for a local key: the API cannot leak one by accident.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from ..precision import Quantity, measured
from ..storage.base import Period, Resolution  # the API's enums are the store's


def _rounded(kind: Quantity) -> AfterValidator:
    return AfterValidator(partial(measured, kind=kind))


Watts = Annotated[float, _rounded("power")]
Volts = Annotated[float, _rounded("voltage")]
Amps = Annotated[float, _rounded("current_a")]
PowerFactor = Annotated[float, _rounded("pf")]
Wh = Annotated[float, _rounded("wh")]
Kwh = Annotated[float, _rounded("kwh")]
Cost = Annotated[float, _rounded("cost")]
Seconds = Annotated[float, _rounded("seconds")]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ReadingOut(_Out):
    """A plug's latest measurement. Missing quantities are null, never 0."""

    timestamp: datetime
    ts: float = Field(description="the same moment in Unix seconds")
    switch: bool | None
    switches: dict[str, bool] = Field(description="outlet number → on")
    power_w: Watts | None
    voltage_v: Volts | None
    current_a: Amps | None
    power_factor: PowerFactor | None
    apparent_power_va: Watts | None
    source: str = Field("", description="how the DPs were read: 'mapping NAME', 'profile ID', "
                                        "'guess LAYOUT' or 'none'")
    notes: list[str] = Field(default_factory=list,
                             description="values rejected or left unknown, naming the DP")


class PlugOut(_Out):
    id: str
    name: str
    host: str
    port: int
    protocol: str
    online: bool
    since: datetime | None = Field(description="when `online` last changed")
    reason: str = Field(description="why the plug is offline (empty when online)")
    kind: str = Field(description="key, unreachable, busy, timeout, protocol or device")
    reading: ReadingOut | None
    today_kwh: Kwh | None = Field(description="energy since local midnight (tariff zone)")
    today_cost: Cost | None
    total_kwh: Kwh | None = Field(description="running total, never decreases")
    total_cost: Cost | None
    currency: str


class PlugList(_Out):
    plugs: list[PlugOut]
    currency: str
    timezone: str
    today_kwh: Kwh
    today_cost: Cost
    power_w: Watts = Field(description="sum of the online plugs' latest power")


class SeriesOut(_Out):
    """History as columns (ready for a chart): index ``i`` of every list is one point.

    A point whose ``power_w`` is null marks a gap: the plug was offline or not measured there.
    """

    ts: list[float] = Field(description="Unix seconds: bucket start, or the sample time for raw")
    power_w: list[Watts | None] = Field(description="mean power over the bucket")
    power_min_w: list[Watts | None]
    power_max_w: list[Watts | None]
    voltage_v: list[Volts | None]
    current_a: list[Amps | None]
    wh: list[Wh] = Field(description="energy of the bucket")
    covered_s: list[float] = Field(description="seconds of the bucket counted as measured")
    uncovered_s: list[float] = Field(description="seconds of the bucket lost to a gap")
    readings: list[int] = Field(description="readings in the bucket (1 for raw)")


class HistoryOut(_Out):
    id: str
    name: str
    since: datetime
    until: datetime
    since_ts: float
    until_ts: float
    resolution: Resolution
    gap_s: float = Field(description="points further apart than this have a null point between")
    points: int
    series: SeriesOut


class EnergyRowOut(_Out):
    id: str
    name: str
    start: datetime
    end: datetime
    start_ts: float
    end_ts: float
    kwh: Kwh
    cost: Cost
    covered_s: Seconds = Field(description="seconds of the period measured")
    uncovered_s: Seconds = Field(description="seconds of the period lost to gaps (plug offline)")


class EnergyTotalOut(_Out):
    """All the selected plugs together, for one period."""

    start: datetime
    end: datetime
    start_ts: float
    end_ts: float
    kwh: Kwh
    cost: Cost


class EnergyOut(_Out):
    by: Period
    since: datetime
    until: datetime
    currency: str
    timezone: str
    rows: list[EnergyRowOut]
    totals: list[EnergyTotalOut]


class SwitchIn(BaseModel):
    """Body of POST /api/plugs/{id}/switch."""

    model_config = ConfigDict(extra="forbid")

    on: StrictBool
    outlet: int = Field(default=1, ge=1, le=255, strict=True)


class SwitchOut(_Out):
    id: str
    name: str
    outlet: int
    on: bool
    reading: ReadingOut


class HealthOut(_Out):
    status: Literal["ok", "failing"]  # failing (HTTP 503): readings are not being stored
    version: str
    uptime_s: float
    plugs: int
    online: int
    live_clients: int
    recording: bool
    store_error: str | None  # the latest failed write's reason, while failing
    pending_samples: int  # readings waiting to be committed


class ErrorOut(_Out):
    detail: str
