"""``powermonitor alerts list|test|recent``, ``cycles NAME`` and ``report``.

``cycles``, ``report`` and ``alerts recent`` only read the database (like ``energy``), so they
run beside ``powermonitor run``. ``alerts test`` sends a sample event straight through the
configured channels (not through the outbox) and says, per channel, whether it arrived.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from ..alerts.events import AlertEvent
from ..alerts.notify import DeliveryError, build_notifier, send_now
from ..config import Config, load_config
from ..config.alerts import AlertConfig, Rule
from ..errors import UsageError
from ..insight.cycles import Cycle
from ..insight.report import build_report
from ..insight.store import InsightStore
from ..timeparse import parse_time
from . import runtime
from .energy import _device_ids, _open, iso
from .options import config_option, db_option, output_options
from .render import Column, emit


def alert_config(config: Config) -> AlertConfig:
    return config.alerts


def describe(rule: Rule) -> str:
    c = rule.cycle
    if rule.when in ("finished", "running"):
        return (f"start > {c.start_w:g} W for {c.start_for_s:g} s, stop < {c.stop_w:g} W for "
                f"{c.stop_for_s:g} s, min {c.min_wh:g} Wh")
    if rule.when == "overload":
        return f"> {rule.above_w:g} W for {rule.for_s:g} s (hysteresis {rule.hysteresis_w:g} W)"
    if rule.when == "offline":
        return f"unreachable for {rule.for_s:g} s"
    if rule.when == "standby":
        return f"always-on > {rule.standby_w:g} W over {rule.for_s or 86400:g} s"
    return "the plug refuses the local key"


RULE_COLUMNS = [Column("name", "Alert"), Column("when", "When"), Column("plug", "Plug"),
                Column("condition", "Condition"), Column("notify", "Notify")]


@click.group("alerts")
def alerts_group() -> None:
    """Alert rules ([[alerts]]) and channels ([[notify]]) from the config."""


@alerts_group.command("list")
@config_option()
@output_options(json_help="JSON list of rules.")
def alerts_list(config_path: Path | None, fmt: str) -> None:
    """The configured alert rules."""
    cfg = alert_config(load_config(config_path))
    rows = [{"name": r.name, "when": r.when, "plug": r.plug, "condition": describe(r),
             "notify": ", ".join(r.notify) or "(log only)"} for r in cfg.rules]
    emit(rows, fmt, RULE_COLUMNS, title="Alerts")
    if not rows and fmt == "table":
        click.echo("no [[alerts]] in the config (see README: Alerts)", err=True)


@alerts_group.command("test")
@config_option()
@click.argument("name")
def alerts_test(config_path: Path | None, name: str) -> None:
    """Send a sample event of alert NAME through its channels now."""
    config = load_config(config_path)
    cfg = alert_config(config)
    rule = next((r for r in cfg.rules if r.name == name), None)
    if rule is None:
        known = ", ".join(r.name for r in cfg.rules) or "none configured"
        raise UsageError(f"no alert named {name!r} (known: {known})")
    if not rule.notify:
        raise UsageError(f"alert {name!r} has no notify channels")
    now = time.time()
    plug = rule.plug if rule.plug != "*" else "(any plug)"
    cycle = Cycle(plug, now - 3600, now, 850.0, 0.26, 2100.0) \
        if rule.when in ("finished", "running") else None
    event = AlertEvent(rule.name, plug, plug, rule.when, now, {"test": True}, cycle, rule.notify)
    notifiers = {t.name: build_notifier(t, config.mqtt) for t in cfg.targets}
    results = runtime.run(send_now(notifiers, event, rule.notify))
    for channel, result in results.items():
        click.echo(f"{channel}: {result}")
    failed = [c for c, r in results.items() if r != "ok"]
    if failed:
        raise DeliveryError(f"not delivered to {', '.join(failed)}")


EVENT_COLUMNS = [Column("time", "Time"), Column("alert", "Alert"), Column("plug", "Plug"),
                 Column("event", "Event"), Column("message", "Message", table=False),
                 Column("delivered", "Delivered")]


@alerts_group.command("recent")
@config_option()
@db_option(read_only=True)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@output_options(json_help="JSON list of events (the alert schema plus deliveries).")
def alerts_recent(config_path: Path | None, db: str | None, limit: int, fmt: str) -> None:
    """The most recent alert events and their delivery state."""
    config = load_config(config_path)

    async def read() -> list[dict[str, Any]]:
        store, _ = await _open(config, db)
        try:
            return await InsightStore(store).recent(limit)
        finally:
            await store.close()

    events = runtime.run(read())
    if fmt == "json":
        click.echo(json.dumps(events))
        return
    rows = [{**e, "delivered": ", ".join(
        f"{d['channel']} {'ok' if d['delivered'] else 'pending'}" for d in e["deliveries"])
        or "-"} for e in events]
    emit(rows, fmt, EVENT_COLUMNS, title="Recent alerts")


CYCLE_COLUMNS = [
    Column("start_local", "Start", table=True, data=False), Column("start", "Start (UTC)",
                                                                   table=False),
    Column("end", "End (UTC)", table=False), Column("name", "Plug"),
    Column("duration_min", "Duration (min)", "power"), Column("kwh", "Energy (kWh)", "kwh"),
    Column("cost", "Cost", "cost"), Column("peak_w", "Peak (W)", "power"),
]


async def cycle_rows(config: Config, db: str | None, name: str, since: str,
                     now: float) -> list[dict[str, Any]]:
    store, tariff = await _open(config, db)
    try:
        tz = ZoneInfo(tariff.timezone)
        start = parse_time(since, now, tz)
        names = {d.device_id: d.name for d in await store.devices()}
        ids = _device_ids(config, names, [name]) or []
        out = []
        for device_id in ids:
            for c in await InsightStore(store).cycles(device_id, start, now + 1):
                out.append({"id": device_id, "name": names.get(device_id, device_id),
                            "start": iso(c.start), "end": iso(c.end),
                            "start_local": iso(c.start, tz)[:16].replace("T", " "),
                            "duration_min": c.duration_s / 60, "duration_s": c.duration_s,
                            "kwh": c.wh / 1000, "cost": c.cost, "peak_w": c.peak_w,
                            "currency": tariff.currency})
        return out
    finally:
        await store.close()


@click.command("cycles")
@config_option()
@db_option(read_only=True)
@click.argument("name")
@click.option("--since", default="30d", show_default=True, help="Start: 24h, 30d, 2026-11-01...")
@output_options(json_help="JSON list of cycles.")
def cycles_command(config_path: Path | None, db: str | None, name: str, since: str,
                   fmt: str) -> None:
    """Appliance runs of plug NAME: start, duration, kWh, cost, peak power.

    Recorded by the service for plugs with a finished/running alert rule."""
    config = load_config(config_path)
    rows = runtime.run(cycle_rows(config, db, name, since, time.time()))
    columns = [*CYCLE_COLUMNS, Column("duration_s", "Duration (s)", "seconds", table=False),
               Column("currency", "Currency", table=False)]
    emit(rows, fmt, columns, title=f"Cycles of {name}")
    if not rows and fmt == "table":
        click.echo("no cycles yet: cycles are recorded for plugs with a finished/running "
                   "[[alerts]] rule while 'powermonitor run' runs", err=True)


def report_columns(currency: str) -> list[Column]:
    return [
        Column("name", "Plug"), Column("id", "Id", "id", table=False),
        Column("kwh", "Energy (kWh)", "kwh"), Column("cost", f"Cost ({currency})", "cost"),
        Column("share", "Share (%)", "percent"),
        Column("always_on", "Always on"), Column("always_on_w", "Always on (W)", "power",
                                                 table=False),
        Column("standby_cost_per_year", f"Standby/yr ({currency})", "cost"),
        Column("standby_kwh_per_year", "Standby (kWh/yr)", "kwh", table=False),
        Column("active_kwh", "Active (kWh)", "kwh", table=False),
        Column("standby_kwh", "Standby (kWh)", "kwh", table=False),
        Column("cost_per_month", f"Month at this rate ({currency})", "cost"),
        Column("kwh_per_month", "kWh/month at this rate", "kwh", table=False),
        Column("cycles", "Cycles"), Column("cycle_kwh", "Cycle kWh", "kwh", table=False),
        Column("cycle_cost", "Cycle cost", "cost", table=False),
        Column("covered_s", "Covered (s)", "seconds", table=False),
    ]


async def report_data(config: Config, db: str | None, since: str, now: float) -> dict[str, Any]:
    store, tariff = await _open(config, db)
    try:
        start = parse_time(since, now, ZoneInfo(tariff.timezone))
        if start >= now:
            raise UsageError("--since must be in the past")
        names = {p.device_id: p.name for p in config.plugs}
        return await build_report(store, tariff, start, now, names)
    finally:
        await store.close()


@click.command("report")
@config_option()
@db_option(read_only=True)
@click.option("--since", default="30d", show_default=True, help="Start: 7d, 30d, 2026-11-01...")
@output_options(json_help="JSON: plugs, total, currency, period.")
def report_command(config_path: Path | None, db: str | None, since: str, fmt: str) -> None:
    """What each plug costs: kWh, cost, always-on power and its yearly cost, cycles, share."""
    config = load_config(config_path)
    report = runtime.run(report_data(config, db, since, time.time()))
    columns = report_columns(report["currency"])
    if fmt == "json":
        click.echo(json.dumps(report))
        return
    rows = [*report["plugs"], report["total"]] if fmt == "table" else report["plugs"]
    emit(rows, fmt, columns, title=f"What costs most (since {iso(report['since'])})",
         caption="always-on: the 5th percentile of minute averages, switched-off time left "
                 "out; plugs cannot measure below 0.5 W")
    if not report["plugs"] and fmt == "table":
        click.echo("no data for this period yet: is 'powermonitor run' running?", err=True)
