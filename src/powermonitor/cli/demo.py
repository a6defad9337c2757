"""``powermonitor demo``: a simulated household, watched live, with nothing to set up.

First form (step 1 of the project): simulated plugs with realistic appliances, polled over
persistent connections by the real client, shown as a live table. Later steps grow this into
the full service with storage and the web dashboard.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..client.plug import Plug
from ..config import Config, Defaults, PlugConfig
from ..config.alerts import parse_sections
from ..errors import PowermonitorError
from ..insight.cycles import CycleDetector
from ..insight.report import build_report
from ..insight.store import InsightStore
from ..models import Reading
from ..service import (
    TOKEN_FILE,
    Service,
    ServiceOptions,
    open_service,
    run_service,
    tariff_from,
)
from ..simulator.backfill import history_samples
from ..simulator.plug import PlugSpec, make_identity
from ..simulator.server import Fleet
from ..storage import default_db_path
from ..storage.base import Sample
from ..storage.sqlite import SqliteStore
from ..tariff import Tariff, local_timezone_name
from . import runtime
from .render import Column, clean, table
from .run import check_listen, parse_listen, show_address


@dataclass(frozen=True, slots=True)
class Appliance:
    name: str
    profile: str
    version: str
    layout: str
    history: str = ""  # the profile of the back-filled week, when the live one is sped up


HOUSEHOLD: tuple[Appliance, ...] = (
    Appliance("Fridge", "fridge", "3.3", "cz"),
    Appliance("TV", "tv", "3.1", "legacy"),
    Appliance("Washing machine", "washer:3", "3.4", "cz"),
    Appliance("Kettle", "kettle", "3.5", "switch20"),
    Appliance("PC", "pc", "3.4", "cz"),
    Appliance("Lamp", "lamp", "3.3", "cz"),
    # a short programme every 3 minutes (heat, a pause, heat, pump), so an alert fires soon
    # (its back-filled week: one 70-minute programme a day at 19:00)
    Appliance("Dishwasher", "schedule:180:0:2:10:1800:40:3:55:1800:80:150:100:2", "3.3", "cz",
              "schedule:86400:0:2:68400:1800:70800:150:72600:2"),
)

DEMO_ALERTS: tuple[dict[str, object], ...] = (
    {"name": "dishwasher done", "plug": "Dishwasher", "when": "finished", "start_w": 10,
     "start_for": "10s", "stop_w": 5, "stop_for": "30s", "min_wh": 5},
    {"name": "washing machine done", "plug": "Washing machine", "when": "finished",
     "preset": "washer"},
    {"name": "kettle left on", "plug": "Kettle", "when": "overload", "above_w": 1500,
     "for": "5m"},
    {"name": "plug offline", "plug": "*", "when": "offline", "for": "1m"},
    {"name": "always-on waste", "plug": "PC", "when": "standby", "above_w": 20, "over": "10m"},
)
"""The demo's rules (log and dashboard only: no channels)."""


def household_specs(seed: int = 7) -> list[PlugSpec]:
    specs = []
    for i, appliance in enumerate(HOUSEHOLD):
        device_id, key = make_identity(i, seed)
        specs.append(PlugSpec(device_id=device_id, local_key=key, version=appliance.version,
                              layout=appliance.layout, profile=appliance.profile,
                              name=appliance.name, seed=seed * 1000 + i))
    return specs


DEMO_COLUMNS = (
    Column("name", "Plug"), Column("protocol", "Protocol"), Column("switch", "Switch"),
    Column("power_w", "Power (W)", "power"), Column("voltage_v", "Voltage (V)", "voltage"),
    Column("current_ma", "Current (mA)", "current_ma"),
    Column("power_factor", "Power factor", "pf"),
)


def render_table(names: list[str], readings: dict[str, Reading | str], versions: dict[str, str]
                 ) -> Table:
    rows: list[dict[str, object]] = []
    total = 0.0
    for name in names:
        r = readings.get(name)
        row: dict[str, object] = {"name": name, "protocol": versions.get(name, "")}
        if isinstance(r, Reading):
            total += r.power_w or 0.0
            row.update(switch=r.switch, power_w=r.power_w, voltage_v=r.voltage_v,
                       current_ma=r.current_ma, power_factor=r.power_factor)
        else:
            row["switch"] = Text(clean(r or "waiting"), style="red")
        rows.append(row)
    return table(rows, DEMO_COLUMNS, title=f"powermonitor demo — {datetime.now(UTC):%H:%M:%S} UTC",
                 caption=f"total {total:.1f} W")


async def run_demo(interval: float, rounds: int, console: Console, time_scale: float) -> int:
    fleet = Fleet(household_specs(), time_scale=time_scale)
    await fleet.start()
    plugs: dict[str, Plug] = {}
    try:
        for server in fleet.servers:
            e = server.device_entry()
            plugs[e["name"]] = Plug(e["id"], e["ip"], e["key"], "auto", port=e["port"])
        names = list(plugs)
        readings: dict[str, Reading | str] = {}
        versions: dict[str, str] = {}

        async def poll(name: str, plug: Plug) -> None:
            try:
                readings[name] = await plug.status()
                versions[name] = plug.protocol_label
            except PowermonitorError as exc:
                readings[name] = str(exc)

        async def poll_all() -> None:
            await asyncio.gather(*(poll(n, p) for n, p in plugs.items()))

        if not console.is_terminal or rounds == 1:  # a pipe: whole tables, each ending a line
            for done in range(rounds or 1_000_000_000):
                if done:
                    await asyncio.sleep(interval)
                await poll_all()
                console.print(render_table(names, readings, versions))
        else:
            with Live(render_table(names, readings, versions), console=console,
                      auto_refresh=False, transient=False) as live:
                done = 0
                while True:
                    await poll_all()
                    live.update(render_table(names, readings, versions), refresh=True)
                    done += 1
                    if rounds and done >= rounds:
                        break
                    await asyncio.sleep(interval)
        return 0 if all(isinstance(r, Reading) for r in readings.values()) else 1
    finally:
        await asyncio.gather(*(p.close() for p in plugs.values()))
        await fleet.stop()


DEMO_TARIFF = {
    "currency": "EUR",
    "price": 0.32,  # day rate
    "windows": [{"days": "all", "start": "22:00", "end": "06:00", "price": 0.22}],  # night rate
}
BACKFILL_DAYS = 7


def demo_config(fleet: Fleet, tz: str) -> Config:
    plugs = tuple(
        PlugConfig(name=s.plug.spec.name, device_id=s.plug.device_id, host=s.host,
                   local_key=s.plug.spec.local_key, version=s.plug.spec.version, port=s.port)
        for s in fleet.servers
    )
    return Config(defaults=Defaults(poll_interval=2.0, timeout=2.0), plugs=plugs,
                  tariff=Tariff.from_config({**DEMO_TARIFF, "timezone": tz}),
                  alerts=parse_sections(None, list(DEMO_ALERTS)))


async def backfill(db: Path, specs: list[PlugSpec], tariff: Tariff, now: float,
                   console: Console) -> None:
    """A week of history, once per database, so the charts mean something at once."""
    store = SqliteStore(db, timezone=tariff.timezone)
    await store.open()
    try:
        if await store.counters():
            return
        console.print(f"Back-filling {BACKFILL_DAYS} days of history...")
        names = {s.device_id: s.name for s in specs}
        rules = parse_sections(None, list(DEMO_ALERTS)).rules
        insight = InsightStore(store)
        for spec in specs:
            # the cycles of that week too, found by the same detector the service runs
            cycle_rule = next((r for r in rules if r.when == "finished"
                               and r.matches(spec.device_id, spec.name)), None)
            detector = None if cycle_rule is None else CycleDetector(
                spec.device_id, cycle_rule.cycle, tariff.cost)
            batch: list[Sample] = []
            for sample in history_samples(spec, now - BACKFILL_DAYS * 86400, now - 60, tariff):
                batch.append(sample)
                if detector is not None:
                    for event in detector.update(sample.ts, sample.power_w):
                        if event.kind == "finished":
                            await insight.save_cycle(event.cycle)
                if len(batch) >= 20_000:
                    await store.backfill(batch, names, now=now)
                    batch = []
            await store.backfill(batch, names, now=now)
    finally:
        await store.close()


async def print_report(db: Path, tariff: Tariff, now: float, console: Console) -> None:
    """What the week cost, by plug: the same report as `powermonitor report`."""
    store = SqliteStore(db, timezone=tariff.timezone)
    await store.open()
    try:
        report = await build_report(store, tariff, now - BACKFILL_DAYS * 86400, now)
    finally:
        await store.close()
    lines = [f"  {p['name']}: {p['kwh']:.1f} kWh, {p['cost']:.2f} {report['currency']} "
             f"({p['share']:.0f} %), always on {p['always_on']}, {p['cycles']} cycles"
             for p in report["plugs"][:4]]
    if lines:
        console.print(f"What cost most in the last {BACKFILL_DAYS} days:", highlight=False)
        console.print("\n".join(lines), highlight=False)


async def run_service_demo(listen: tuple[str, int] | None, data_dir: Path, time_scale: float,
                           console: Console) -> None:
    check_listen(listen, "--listen")  # one line before anything else is printed
    specs = household_specs()
    fleet = Fleet(specs, time_scale=time_scale)
    await fleet.start()
    try:
        tz = local_timezone_name()
        config = demo_config(fleet, tz)
        db = data_dir / "demo.db"
        data_dir.mkdir(parents=True, exist_ok=True)
        history = [replace(s, profile=a.history) if a.history else s
                   for s, a in zip(specs, HOUSEHOLD, strict=True)]
        await backfill(db, history, tariff_from(config), time.time(), console)
        await print_report(db, tariff_from(config), time.time(), console)
        options = ServiceOptions(db=str(db), listen=listen, data_dir=data_dir, start_spread=0.2)
        service = await open_service(config, options)

        def started(svc: Service) -> None:
            console.print(f"Simulated household of {len(specs)} plugs on 127.0.0.1; "
                          f"database {db}", highlight=False)
            if listen:
                console.print(f"[bold]Dashboard: http://{show_address(*listen)}/[/bold]")
                console.print(f"API token (to switch plugs from the page): in "
                              f"{data_dir / TOKEN_FILE}", highlight=False)
            console.print(f"Alerts: {len(DEMO_ALERTS)} rules (the dishwasher finishes every 3 "
                          "minutes); see the dashboard, `powermonitor alerts recent` and "
                          "`powermonitor cycles Dishwasher` with --db above.", highlight=False)
            console.print("Press Ctrl-C to stop.")

        await runtime.until_stopped(run_service(service, options, started))
    finally:
        await fleet.stop()


@click.command("demo")
@click.option("--listen", default="127.0.0.1:8000", envvar="POWERMONITOR_LISTEN",
              show_default=True, help="Dashboard address (HOST:PORT) [env: POWERMONITOR_LISTEN].")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Where the demo keeps its database [default: the user's data dir]/demo.")
@click.option("--time-scale", type=click.FloatRange(0.001), default=1.0, show_default=True,
              help="Simulated seconds per real second for the appliances' load cycles.")
@click.option("--once", is_flag=True,
              help="Just poll every simulated plug once, print a table and exit.")
@click.option("--rounds", type=click.IntRange(0), default=0, hidden=True)
@click.option("--interval", type=click.FloatRange(1.0), default=2.0, hidden=True)
def demo_command(listen: str, data_dir: str | None, time_scale: float, once: bool, rounds: int,
                 interval: float) -> None:
    """Start a simulated household, the service and its dashboard, with a week of history."""
    console = Console()
    if once or rounds:
        console.print(f"Starting a simulated household of {len(HOUSEHOLD)} plugs on 127.0.0.1...")
        raise SystemExit(runtime.run(run_demo(interval, 1 if once else rounds, console,
                                              time_scale)))
    directory = Path(data_dir) if data_dir else default_db_path().parent / "demo"
    runtime.run(run_service_demo(parse_listen(listen, "--listen"), directory, time_scale, console))
