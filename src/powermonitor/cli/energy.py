"""``powermonitor energy``, ``history`` and ``export``: what the plugs used, from the store.

These commands only read the database (the service writes it), so they can run while
``powermonitor run`` is running.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from ..config import Config, load_config
from ..errors import StorageError, UsageError
from ..insight.report import projection as rate_projection
from ..monitor.directory import resolve_id
from ..service import db_from, tariff_from
from ..storage import open_store
from ..storage.base import Period, Resolution, Store, pick_resolution
from ..storage.sqlite import SqliteStore
from ..tariff import Tariff
from ..timeparse import iso_utc, parse_time
from . import runtime
from .options import config_option, db_option, output_options
from .render import Column, emit

DEFAULT_SINCE = {"hour": "24h", "day": "30d", "week": "12w", "month": "365d"}
PROJECTION_DAYS = 7


def iso(ts: float, tz: ZoneInfo | None = None) -> str:
    """ISO-8601: UTC with Z, or local with its offset (calendar periods read better local)."""
    if tz is None:
        return iso_utc(ts, "seconds")
    return datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


async def _open(config: Config, db: str | None) -> tuple[Store, Tariff]:
    """Open the store to read it: a database file that does not exist is an error (exit 9),
    never a fresh empty database that would answer "no data"."""
    tariff = tariff_from(config)
    target = db_from(config, db)
    store = open_store(target, timezone=tariff.timezone, retention=config.storage.retention)
    if isinstance(store, SqliteStore) and not store.memory and not Path(store.path).exists():
        raise StorageError(f"database {store.path} does not exist: check --db, POWERMONITOR_DB "
                           "or [storage] db; `powermonitor run` creates it")
    await store.open()
    return store, tariff


def _device_ids(config: Config, names: dict[str, str], devices: Sequence[str]) -> list[str] | None:
    if not devices:
        return None
    known = [*names.items(), *((p.device_id, p.name) for p in config.plugs)]
    ids = []
    for wanted in devices:
        try:
            ids.append(resolve_id(wanted, known))  # the one lookup rule (monitor/directory.py)
        except KeyError:
            raise UsageError(f"no plug called {wanted!r} in the database or the config") from None
    return ids


async def energy_rows(
    config: Config, db: str | None, devices: Sequence[str], by: Period, since: str | None,
    until: str, now: float,
) -> tuple[list[dict[str, Any]], Tariff, dict[str, Any]]:
    store, tariff = await _open(config, db)
    try:
        tz = ZoneInfo(tariff.timezone)
        start = parse_time(since or DEFAULT_SINCE[by], now, tz)
        end = parse_time(until, now, tz)
        if start >= end:
            raise UsageError("--since must be before --until")
        names = {d.device_id: d.name for d in await store.devices()}
        ids = _device_ids(config, names, devices)
        rows = await store.energy(by, start, end, ids)
        # projection from real history: the average of the last complete days
        today = parse_time("today", now, tz)
        recent = await store.energy("day", today - PROJECTION_DAYS * 86400, today, ids)
    finally:
        await store.close()
    label = PERIOD_LABEL[by]
    stamps: dict[float, tuple[str, str]] = {}  # every plug has the same periods: format once

    def stamp(ts: float) -> tuple[str, str]:
        found = stamps.get(ts)
        if found is None:
            moment = datetime.fromtimestamp(ts, tz)
            found = stamps[ts] = (moment.isoformat(timespec="seconds"), moment.strftime(label))
        return found

    out = []
    for r in rows:
        begins, period = stamp(r.start)
        out.append({
            "id": r.device_id, "name": names.get(r.device_id, r.device_id),
            "start": begins, "end": stamp(r.end)[0], "period": period,
            "kwh": r.wh / 1000, "cost": r.cost, "currency": tariff.currency,
            "covered_s": r.covered_s,
            "coverage": 100 * r.covered_s / (r.end - r.start) if r.end > r.start else None,
        })
    # per covered time, not per calendar day: a first day covered 6.6 % is not a whole day
    projection: dict[str, Any] = {}
    if recent:
        projection = {**rate_projection(recent), "currency": tariff.currency}
    return out, tariff, projection


PERIOD_LABEL = {"hour": "%Y-%m-%d %H:%M", "day": "%Y-%m-%d", "week": "%Y-%m-%d", "month": "%Y-%m"}


def energy_columns(currency: str) -> list[Column]:
    return [
        Column("period", "Period", table=True, data=False),
        Column("id", "Id", "id"),
        Column("name", "Plug"),
        Column("start", "Start", table=False),
        Column("end", "End", table=False),
        Column("kwh", "Energy (kWh)", "kwh"),
        Column("cost", f"Cost ({currency})", "cost"),
        Column("currency", "Currency", table=False),
        Column("covered_s", "Covered (s)", "seconds", table=False),
        Column("coverage", "Coverage (%)", "percent"),
    ]


def with_totals(rows: list[dict[str, Any]], per_plug_only: bool) -> list[dict[str, Any]]:
    """Rows grouped by period, each group followed by its total (unless one plug was asked)."""
    by_start: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_start[r["start"]].append(r)
    out: list[dict[str, Any]] = []
    for start in sorted(by_start):
        group = by_start[start]
        out.extend(group)
        if len(group) > 1 or not per_plug_only:
            out.append({"period": group[0]["period"], "name": "total",
                        "kwh": sum(r["kwh"] for r in group),
                        "cost": sum(r["cost"] for r in group)})
    return out


@click.command("energy")
@config_option()
@db_option(read_only=True)
@click.option("--device", "devices", multiple=True, help="Plug name or id (repeatable; default: all).")
@click.option("--by", type=click.Choice(["hour", "day", "week", "month"]), default="day",
              show_default=True, help="Period.")
@click.option("--since", default=None, help="Start: 24h, 30d, today, 2026-11-01... [default by period]")
@click.option("--until", default="now", show_default=True, help="End.")
@output_options(json_help="JSON list of rows.")
def energy_command(config_path: Path | None, db: str | None, devices: tuple[str, ...], by: str,
                   since: str | None, until: str, fmt: str) -> None:
    """Measured kWh and cost per period, per plug and in total, with data coverage."""
    config = load_config(config_path)
    rows, tariff, projection = runtime.run(
        energy_rows(config, db, devices, by, since, until, time.time()))  # type: ignore[arg-type]
    columns = energy_columns(tariff.currency)
    if fmt != "table":
        emit(rows, fmt, columns)
        return
    caption = ""
    if projection:
        caption = (f"projection from the last {projection['days']} measured days: "
                   f"{projection['kwh_per_day']:.3f} kWh/day, "
                   f"{projection['kwh_per_month']:.1f} kWh/month, "
                   f"{projection['cost_per_day']:.2f} {tariff.currency}/day")
    if tariff.daily_charge:
        caption += f"; plus a fixed {tariff.daily_charge:.2f} {tariff.currency} per day"
    emit(with_totals(rows, bool(devices)), "table", columns,
         title=f"Energy by {by} ({tariff.timezone})", caption=caption)
    if not rows:
        click.echo("no data for this period yet: is 'powermonitor run' running?", err=True)


async def history_rows(config: Config, db: str | None, device: str, since: str, until: str,
                       resolution: str | None, now: float) -> list[dict[str, Any]]:
    store, tariff = await _open(config, db)
    try:
        tz = ZoneInfo(tariff.timezone)
        start, end = parse_time(since, now, tz), parse_time(until, now, tz)
        if start >= end:
            raise UsageError("--since must be before --until")
        names = {d.device_id: d.name for d in await store.devices()}
        ids = _device_ids(config, names, [device]) or []
        res: Resolution = resolution or pick_resolution(end - start)  # type: ignore[assignment]
        out: list[dict[str, Any]] = []
        for device_id in ids:
            for p in await store.history(device_id, start, end, res):
                out.append({"time": iso(p.ts), "id": device_id,
                            "local": datetime.fromtimestamp(p.ts, tz).strftime("%Y-%m-%d %H:%M:%S"),
                            "name": names.get(device_id, device_id), "power_w": p.power_w,
                            "power_min_w": p.power_min_w, "power_max_w": p.power_max_w,
                            "voltage_v": p.voltage_v, "current_a": p.current_a,
                            "wh": p.wh, "covered_s": p.covered_s})
        return out
    finally:
        await store.close()


HISTORY_COLUMNS = [
    Column("local", "Time", table=True, data=False),
    Column("time", "Time (UTC)", table=False),
    Column("id", "Id", "id", table=False),
    Column("name", "Plug", table=False),  # the table's title names the plug
    Column("power_w", "Power (W)", "power"),
    Column("power_min_w", "Min (W)", "power"),
    Column("power_max_w", "Max (W)", "power"),
    Column("voltage_v", "Voltage (V)", "voltage"),
    Column("current_a", "Current (A)", "current_a"),
    Column("wh", "Energy (Wh)", "wh"),
    Column("covered_s", "Covered (s)", "seconds", table=False),
]


@click.command("history")
@config_option()
@db_option(read_only=True)
@click.option("--device", required=True, help="Plug name or id.")
@click.option("--since", default="24h", show_default=True, help="Start: 24h, 7d, 2026-11-01...")
@click.option("--until", default="now", show_default=True, help="End.")
@click.option("--resolution", type=click.Choice(["raw", "1m", "1h", "1d"]), default=None,
              help="Bucket size [default: from the range].")
@output_options(json_help="JSON list.")
def history_command(config_path: Path | None, db: str | None, device: str, since: str, until: str,
                    resolution: str | None, fmt: str) -> None:
    """Power, voltage and current over time for one plug (gaps stay gaps)."""
    config = load_config(config_path)
    rows = runtime.run(history_rows(config, db, device, since, until, resolution, time.time()))
    emit(rows, fmt, HISTORY_COLUMNS, title=f"History of {device}")


@click.command("export")
@config_option()
@db_option(read_only=True)
@click.option("--device", "devices", multiple=True, help="Plug name or id (repeatable; default: all).")
@click.option("--since", default="24h", show_default=True, help="Start.")
@click.option("--until", default="now", show_default=True, help="End.")
@click.option("--resolution", type=click.Choice(["raw", "1m", "1h", "1d"]), default="raw",
              show_default=True, help="Raw samples or rollups.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv",
              show_default=True, help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default="-",
              help="File to write [default: standard output].")
def export_command(config_path: Path | None, db: str | None, devices: tuple[str, ...], since: str,
                   until: str, resolution: str, fmt: str, output: str) -> None:
    """Export stored samples (or rollups) of every plug to CSV or JSON lines."""

    async def collect(config: Config) -> list[dict[str, Any]]:
        store, _ = await _open(config, db)
        try:
            names = {d.device_id: d.name for d in await store.devices()}
        finally:
            await store.close()
        ids = _device_ids(config, names, devices) or sorted(names)
        rows: list[dict[str, Any]] = []
        for device_id in ids:
            rows.extend(await history_rows(config, db, device_id, since, until, resolution,
                                           time.time()))
        return rows

    config = load_config(config_path)
    rows = runtime.run(collect(config))
    if output == "-":
        emit(rows, fmt, HISTORY_COLUMNS, out=sys.stdout)
        return
    try:
        with open(output, "w", encoding="utf-8", newline="") as fh:
            emit(rows, fmt, HISTORY_COLUMNS, out=fh)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None
    click.echo(f"{len(rows)} rows written to {output}", err=True)


__all__ = ["energy_command", "export_command", "history_command"]
