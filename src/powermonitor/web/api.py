"""The JSON API under /api/: plugs, history, energy, switching, live events, health.

Design rules:

* **Reads never touch a plug.** Live values come from the Hub's latest-state cache, history
  and energy from the store's rollups, running totals from the recorder's memory.
* **Bad input is a clear 4xx.** Types and enums are checked by FastAPI (422); a time that does
  not parse, an empty or reversed range, or a range too long for the resolution is a 400
  naming the parameter and what to write instead.
* **Switching needs the token** (checked with the body's type and size before the body is
  read, by :mod:`powermonitor.web.guard`). Live events need the token or a same-origin page.
* **Bad input is never a 500**: a time outside the years 1970-9999 is a 422 naming it.
* **No local key in any response**: the response models have no field that could hold one.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Final
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from .. import __version__
from ..energy import max_gap_for
from ..errors import DeviceTimeoutError, PowermonitorError, UnreachableError, UsageError
from ..limits import MAX_QUERY_DEVICES
from ..monitor.directory import PlugDirectory, UnknownPlugError
from ..monitor.hub import PlugState
from ..storage.base import EnergyRow, Period, Resolution, pick_resolution
from ..timeparse import EARLIEST, LATEST, OutOfRangeError, iso_utc, parse_time
from .guard import cross_origin, has_token
from .history import HistoryCache, columns, encode
from .live import Client as LiveClient
from .live import Live, LiveFull, reading_dict
from .ports import PlugEntry, WebService
from .schemas import (
    EnergyOut,
    EnergyRowOut,
    EnergyTotalOut,
    ErrorOut,
    HealthOut,
    HistoryOut,
    PlugList,
    PlugOut,
    ReadingOut,
    SwitchIn,
    SwitchOut,
)

if TYPE_CHECKING:
    from ..recorder import Totals

log = logging.getLogger(__name__)

HOUR: Final = 3600.0
DAY: Final = 86400.0
BUCKET_S: Final[dict[str, float]] = {"1m": 60.0, "1h": HOUR, "1d": DAY}
PERIOD_S: Final[dict[str, float]] = {"hour": HOUR, "day": DAY, "week": 7 * DAY, "month": 31 * DAY}
MAX_POINTS: Final = 50_000
"""A history request that would return more points than this must pick a coarser resolution."""
MAX_PERIODS: Final = 10_000
_YEAR: Final = re.compile(r"\s*[+-]?(\d{4,})-")
"""A date's year: one outside the range :mod:`~powermonitor.timeparse` accepts is a 422 even
where Python cannot parse the date (year 0, year 10000)."""
DEFAULT_SPAN: Final[dict[str, str]] = {"hour": "24h", "day": "30d", "week": "182d", "month": "365d"}


def zone_of(timezone: object) -> ZoneInfo:
    """The tariff's time zone as a ZoneInfo (it may be given as a name)."""
    if isinstance(timezone, ZoneInfo):
        return timezone
    if isinstance(timezone, str) and timezone:
        return ZoneInfo(timezone)
    return ZoneInfo("UTC")


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _iso(ts: float) -> str:
    return iso_utc(ts)


class _EventStream(StreamingResponse):
    """An SSE response that gives its live slot back however it ends (even unstarted)."""

    def __init__(self, client: LiveClient) -> None:
        super().__init__(client, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.client.release()


def _parse(name: str, text: str, now: float, zone: ZoneInfo) -> float:
    """One query time: 422 when out of range, 400 when not a time, naming the parameter."""
    year = _YEAR.match(text)
    if year is not None and not _utc(EARLIEST).year <= int(year[1]) < _utc(LATEST).year:
        raise HTTPException(422, f"{name}: {text!r} is out of range: times must lie between "
                                 f"{_utc(EARLIEST).year} and {_utc(LATEST).year}")
    try:
        return parse_time(text, now, zone)
    except OutOfRangeError as exc:
        raise HTTPException(422, f"{name}: {exc}") from None
    except UsageError as exc:
        raise _bad(f"{name}: {exc}") from None


def _bad(message: str) -> HTTPException:
    return HTTPException(status_code=400, detail=message)


class Api:
    """The /api routes, bound to one running service."""

    def __init__(self, service: WebService, live: Live, plugs: PlugDirectory[PlugEntry],
                 cache: HistoryCache | None = None) -> None:
        self.service = service
        self.plugs = plugs
        self.live = live
        self.cache = cache or HistoryCache()
        self.router = APIRouter(prefix="/api", responses={400: {"model": ErrorOut}})
        self._routes()

    # ------------------------------------------------------------------ lookups

    @property
    def zone(self) -> ZoneInfo:
        return zone_of(self.service.tariff.timezone)

    @property
    def currency(self) -> str:
        return str(self.service.tariff.currency)

    def resolve(self, name_or_id: str) -> str:
        """A configured plug's device id from its id or name (404 if none; the one lookup rule
        of monitor/directory.py)."""
        try:
            return self.plugs.id_of(name_or_id)
        except UnknownPlugError as exc:
            raise HTTPException(404, str(exc)) from None

    def name_of(self, device_id: str) -> str:
        return self.plugs.name_of(device_id)

    def resolve_all(self, names: Sequence[str] | None) -> list[str] | None:
        """Several plugs (``device=`` repeated): None for all plugs."""
        if not names:
            return None
        if len(names) > MAX_QUERY_DEVICES:
            raise HTTPException(422, f"too many plugs named (at most {MAX_QUERY_DEVICES})")
        return [self.resolve(d) for d in names]

    def times(self, since: str | None, until: str | None, default_span: str
              ) -> tuple[float, float]:
        """(since, until) in Unix seconds from the query: ISO-8601 (local to the tariff's zone
        when it has no offset), ``today``, ``now`` or relative to now like 24h or 7d. Without
        ``since`` the range is ``default_span`` back from ``until``."""
        now = time.time()
        zone = self.zone
        end = now if until is None else _parse("until", until, now, zone)
        # relative times count back from now, as on the command line
        start = (_parse("since", since, now, zone) if since is not None else
                 _parse("since", default_span, end, zone))
        if not (math.isfinite(start) and math.isfinite(end)):
            raise _bad("since and until must be real times")
        if start > end:
            raise _bad(f"since ({iso_utc(start)}) is after until ({iso_utc(end)})")
        if start == end:
            raise _bad("since and until are the same moment: the range is empty")
        return start, end

    # ------------------------------------------------------------------ energy helpers

    async def energy_rows(self, by: Period, since: float, until: float,
                          device_ids: Sequence[str] | None) -> list[EnergyRow]:
        return await self.service.store.energy(by, since, until, device_ids)

    async def today(self, device_ids: Sequence[str] | None
                    ) -> dict[str, tuple[float, float]] | None:
        """device id → (kWh, cost) since local midnight; None when the store cannot say."""
        now = time.time()
        zone = self.zone
        midnight = datetime.combine(datetime.fromtimestamp(now, zone).date(),
                                    datetime.min.time(), zone).timestamp()
        try:
            rows = await self.energy_rows("day", midnight, now, device_ids)
        except Exception:  # the live cards must not break because the database does
            log.exception("could not read today's energy from the store")
            return None
        out: dict[str, tuple[float, float]] = {}
        for row in rows:
            kwh, cost = out.get(row.device_id, (0.0, 0.0))
            out[row.device_id] = (kwh + row.wh / 1000.0, cost + row.cost)
        return out

    def plug_out(self, device_id: str, today: dict[str, tuple[float, float]] | None,
                 all_totals: Mapping[str, Totals]) -> PlugOut:
        service = self.service
        entry = self.plugs.find(device_id)  # every caller passes a resolved id
        state = service.hub.states.get(device_id) or PlugState(device_id, entry.name)
        totals = all_totals.get(device_id)
        reading = state.reading
        day = None if today is None else today.get(device_id, (0.0, 0.0))
        return PlugOut(
            id=device_id,
            name=entry.name,
            host=entry.host,
            port=entry.port,
            protocol=state.protocol or entry.version,
            online=state.online,
            since=state.since,
            reason=state.reason,
            kind=state.kind,
            reading=None if reading is None else ReadingOut(**reading_dict(reading)),
            today_kwh=None if day is None else day[0],
            today_cost=None if day is None else day[1],
            total_kwh=None if totals is None else totals.total_wh / 1000.0,
            total_cost=None if totals is None else totals.total_cost,
            currency=self.currency,
        )

    # ------------------------------------------------------------------ routes

    def _routes(self) -> None:
        router = self.router
        service = self.service

        @router.get("/health", response_model=HealthOut,
                    responses={503: {"model": HealthOut, "description": "not recording"}})
        async def health(response: Response) -> HealthOut:
            states = service.hub.states
            writer = service.writer
            recording = writer.recording
            stats = writer.stats
            if not recording:  # a monitor or orchestrator must not see this as healthy
                response.status_code = 503
            return HealthOut(
                status="ok" if recording else "failing", version=__version__,
                uptime_s=round(time.time() - service.started_at, 3),
                plugs=len(self.plugs),
                online=sum(1 for s in states.values() if s.online),
                live_clients=self.live.clients,
                recording=recording,
                store_error=None if recording else stats.last_error or "the store writer stopped",
                pending_samples=stats.pending,
            )

        @router.get("/plugs", response_model=PlugList)
        async def plugs() -> PlugList:
            today = await self.today(None)
            totals = service.recorder.totals()
            items = [self.plug_out(d, today, totals) for d in self.plugs]
            power = sum(p.reading.power_w or 0.0 for p in items if p.online and p.reading)
            return PlugList(
                plugs=items, currency=self.currency, timezone=self.zone.key,
                today_kwh=sum(p.today_kwh or 0.0 for p in items),
                today_cost=sum(p.today_cost or 0.0 for p in items),
                power_w=power,
            )

        @router.get("/plugs/{plug}", response_model=PlugOut,
                    responses={404: {"model": ErrorOut}})
        async def plug(plug: str) -> PlugOut:
            device_id = self.resolve(plug)
            return self.plug_out(device_id, await self.today([device_id]),
                                 service.recorder.totals())

        @router.get("/plugs/{plug}/history", response_model=HistoryOut,
                    responses={404: {"model": ErrorOut}})
        async def history(
            plug: str,
            since: Annotated[str | None, Query(description="ISO-8601 or relative: 24h, 7d")] = None,
            until: Annotated[str | None, Query(description="ISO-8601, relative or now")] = None,
            resolution: Annotated[Resolution | None, Query(
                description="raw, 1m, 1h or 1d; picked from the range when absent")] = None,
        ) -> Response:
            device_id = self.resolve(plug)
            start, end = self.times(since, until, "24h")
            span = end - start
            chosen: Resolution = resolution or pick_resolution(span)
            entry = self.plugs.find(device_id)
            interval = entry.interval_s
            step = interval if chosen == "raw" else BUCKET_S[chosen]
            if span / step > MAX_POINTS:
                raise _bad(
                    f"{span / DAY:.1f} days at resolution {chosen} is about "
                    f"{span / step:,.0f} points (at most {MAX_POINTS:,}): " + (
                        "use a shorter range" if chosen == "1d" else
                        f"use a coarser resolution ({pick_resolution(span)}) or a shorter range")
                )
            gap = max_gap_for(interval) if chosen == "raw" else 1.5 * step

            async def compute() -> bytes:
                points = await service.store.history(device_id, start, end, chosen)
                head = {"id": device_id, "name": entry.name,
                        "since": _iso(start), "until": _iso(end), "since_ts": start,
                        "until_ts": end, "resolution": chosen, "gap_s": gap}
                return encode(head, columns(points, chosen == "raw", gap, step))

            rolling = until is None or until.strip().lower() == "now"
            key = self.cache.key(device_id, chosen, start, end, step, rolling=rolling)
            body = await self.cache.get(key, compute)
            return Response(body, media_type="application/json")

        @router.get("/energy", response_model=EnergyOut, responses={404: {"model": ErrorOut}})
        async def energy(
            by: Period = "day",
            since: Annotated[str | None, Query(
                description="ISO-8601 or relative (30d); rounded down to its period start")] = None,
            until: Annotated[str | None, Query()] = None,
            device: Annotated[list[str] | None, Query(
                description="plug id or name; repeat for several; all plugs when absent")] = None,
        ) -> EnergyOut:
            ids = self.resolve_all(device)
            start, end = self.times(since, until, DEFAULT_SPAN[by])
            start = self.period_start(by, start)  # whole local periods: no partial first bar
            if (end - start) / PERIOD_S[by] > MAX_PERIODS:
                raise _bad(f"too many {by}s in that range (at most {MAX_PERIODS:,}): "
                           "use a longer period or a shorter range")
            rows = await self.energy_rows(by, start, end, ids)
            totals: dict[float, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
            out_rows = []
            for r in rows:
                out_rows.append(EnergyRowOut(
                    id=r.device_id, name=self.name_of(r.device_id), start=_utc(r.start),
                    end=_utc(r.end), start_ts=r.start, end_ts=r.end, kwh=r.wh / 1000.0,
                    cost=r.cost, covered_s=r.covered_s, uncovered_s=r.uncovered_s,
                ))
                acc = totals[r.start]
                acc[0] = max(acc[0], r.end)
                acc[1] += r.wh / 1000.0
                acc[2] += r.cost
            return EnergyOut(
                by=by, since=_utc(start), until=_utc(end), currency=self.currency,
                timezone=self.zone.key, rows=out_rows,
                totals=[
                    EnergyTotalOut(start=_utc(s), end=_utc(a[0]), start_ts=s, end_ts=a[0],
                                   kwh=a[1], cost=a[2])
                    for s, a in sorted(totals.items())
                ],
            )

        @router.post(
            "/plugs/{plug}/switch", response_model=SwitchOut,
            responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut},
                       404: {"model": ErrorOut}, 413: {"model": ErrorOut},
                       415: {"model": ErrorOut}, 503: {"model": ErrorOut}},
            description="Needs the token (Authorization: Bearer, or X-Powermonitor-Token) and "
                        "a JSON body (Content-Type: application/json) of at most 16 KiB.",
        )
        async def switch(plug: str, body: SwitchIn) -> SwitchOut:
            device_id = self.resolve(plug)
            name = self.name_of(device_id)
            state = service.hub.states.get(device_id)
            if state is None or not state.online:
                why = f": {state.reason}" if state is not None and state.reason else ""
                raise HTTPException(503, f"{name} is offline{why}", headers={"Retry-After": "10"})
            outlets = state.reading.switches if state.reading is not None else {}
            if outlets and str(body.outlet) not in outlets:
                raise HTTPException(422, f"{name} has no outlet {body.outlet} "
                                         f"(it has {', '.join(sorted(outlets, key=int))})")
            try:
                reading = await service.set_switch(device_id, body.on, body.outlet)
            except (UnreachableError, DeviceTimeoutError) as exc:
                raise HTTPException(503, f"{name} did not take the command: {exc}",
                                    headers={"Retry-After": "10"}) from None
            except PowermonitorError as exc:
                raise HTTPException(502, f"{name} refused the command: {exc}") from None
            return SwitchOut(id=device_id, name=name, outlet=body.outlet, on=body.on,
                             reading=ReadingOut(**reading_dict(reading)))

        @router.get("/events", response_class=StreamingResponse,
                    responses={200: {"content": {"text/event-stream": {}},
                                     "description": "reading and availability events"},
                               403: {"model": ErrorOut}, 503: {"model": ErrorOut}},
                    description="Needs the token, unless asked by a page of this server "
                                "(same origin). At most a few clients at once (503 beyond).")
        async def events(
            request: Request,
            device: Annotated[list[str] | None, Query(
                description="only these plugs (id or name); all when absent")] = None,
        ) -> StreamingResponse:
            foreign = cross_origin(request.scope)
            if foreign is not None and not has_token(request.scope, service.token):
                raise HTTPException(403, f"live events are for pages of this server ({foreign}) "
                                         "or clients with the token")
            ids = self.resolve_all(device) or []
            try:
                client = self.live.open(ids)
            except LiveFull as exc:
                raise HTTPException(503, str(exc), headers={"Retry-After": "10"}) from None
            return _EventStream(client)

    def period_start(self, by: Period, ts: float) -> float:
        """The start of the local calendar period holding ``ts`` (so bars are whole periods)."""
        zone = self.zone
        moment = datetime.fromtimestamp(ts, zone)
        if by == "hour":
            moment = moment.replace(minute=0, second=0, microsecond=0)
        else:
            day = moment.date()
            if by == "week":
                day -= timedelta(days=day.weekday())
            elif by == "month":
                day = day.replace(day=1)
            moment = datetime.combine(day, datetime.min.time(), zone)
        return moment.timestamp()
