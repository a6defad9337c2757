"""``/api/alerts``, ``/api/plugs/{plug}/cycles`` and ``/api/report``: the insight read side.

Read-only and unauthenticated like the rest of the dashboard's reads; every query parameter
is bounded (``limit`` 1..1000, times through the API's one ``times`` parser).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from ..insight.report import build_report
from ..insight.store import InsightStore

if TYPE_CHECKING:
    from .api import Api


class AlertsOut(BaseModel):
    """Recent alert events (newest first), each in the one alert schema plus deliveries."""

    alerts: list[dict[str, Any]]


class CycleOut(BaseModel):
    start: str
    end: str
    duration_s: float
    kwh: float
    cost: float
    peak_w: float


class CyclesOut(BaseModel):
    plug: str
    name: str
    currency: str
    cycles: list[CycleOut]


class ReportOut(BaseModel):
    """The cost report (see README "Report"): per plug sorted by cost, and the total."""

    since: float
    until: float
    currency: str
    average_price: float
    plugs: list[dict[str, Any]]
    total: dict[str, Any]


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: such numbers (never expected) go out as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def insight_router(api: Api) -> APIRouter:
    service = api.service
    router = APIRouter(prefix="/api", responses={400: {"model": dict[str, str]}})
    insight = InsightStore(service.store)

    @router.get("/alerts", response_model=AlertsOut)
    async def alerts(limit: int = Query(50, ge=1, le=1000),
                     since: str | None = None) -> AlertsOut:
        start = api.times(since, None, "3650d")[0] if since else 0.0
        return AlertsOut(alerts=await insight.recent(limit, start))

    @router.get("/plugs/{plug}/cycles", response_model=CyclesOut,
                responses={404: {"model": dict[str, str]}})
    async def cycles(plug: str, since: str | None = None, until: str | None = None,
                     limit: int = Query(1000, ge=1, le=10_000)) -> CyclesOut:
        device_id = api.resolve(plug)
        start, end = api.times(since, until, "30d")
        found = await insight.cycles(device_id, start, end, limit)
        return CyclesOut(plug=device_id, name=api.name_of(device_id), currency=api.currency,
                         cycles=[CycleOut(**c.to_json()) for c in found])  # type: ignore[arg-type]

    @router.get("/report", response_model=ReportOut)
    async def report(since: str | None = None) -> ReportOut:
        start, end = api.times(since, None, "30d")
        if end - start > 3660 * 86400:
            raise HTTPException(400, "the report covers at most 10 years")
        data = await build_report(service.store, service.tariff, start, min(end, time.time()),
                                  service.names())
        return ReportOut(**_finite(data))

    return router
