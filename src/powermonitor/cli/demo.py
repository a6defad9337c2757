"""``powermonitor demo``: a simulated household, watched live, with nothing to set up.

First form (step 1 of the project): simulated plugs with realistic appliances, polled over
persistent connections by the real client, shown as a live table. Later steps grow this into
the full service with storage and the web dashboard.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from ..client.plug import Plug
from ..config import Config, Defaults, PlugConfig
from ..errors import PowermonitorError
from ..models import Reading
from ..service import Service, ServiceOptions, open_service, run_service, tariff_from
from ..simulator.backfill import history_samples
from ..simulator.plug import PlugSpec, make_identity
from ..simulator.server import Fleet
from ..storage import default_db_path
from ..storage.base import Sample
from ..storage.sqlite import SqliteStore
from ..tariff import Tariff, local_timezone_name
from . import runtime
from .run import parse_listen


@dataclass(frozen=True, slots=True)
class Appliance:
    name: str
    profile: str
    version: str
    layout: str


HOUSEHOLD: tuple[Appliance, ...] = (
    Appliance("Fridge", "fridge", "3.3", "cz"),
    Appliance("TV", "tv", "3.1", "legacy"),
    Appliance("Washing machine", "washer:3", "3.4", "cz"),
    Appliance("Kettle", "kettle", "3.5", "switch20"),
    Appliance("PC", "pc", "3.4", "cz"),
    Appliance("Lamp", "lamp", "3.3", "cz"),
)


def household_specs(seed: int = 7) -> list[PlugSpec]:
    specs = []
    for i, appliance in enumerate(HOUSEHOLD):
        device_id, key = make_identity(i, seed)
        specs.append(PlugSpec(device_id=device_id, local_key=key, version=appliance.version,
                              layout=appliance.layout, profile=appliance.profile,
                              name=appliance.name, seed=seed * 1000 + i))
    return specs


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render_table(names: list[str], readings: dict[str, Reading | str], versions: dict[str, str]) -> Table:
    table = Table(title=f"powermonitor demo — {datetime.now(UTC):%H:%M:%S} UTC")
    for col, justify in (("plug", "left"), ("protocol", "left"), ("switch", "left"),
                         ("W", "right"), ("V", "right"), ("mA", "right"), ("PF", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    total = 0.0
    for name in names:
        r = readings.get(name)
        if isinstance(r, Reading):
            total += r.power_w or 0.0
            table.add_row(name, versions.get(name, ""), "on" if r.switch else "off",
                          _fmt(r.power_w), _fmt(r.voltage_v), _fmt(r.current_ma, 0),
                          _fmt(r.power_factor, 2))
        else:
            table.add_row(name, versions.get(name, ""), f"[red]{r or 'waiting'}[/red]", "", "", "", "")
    table.caption = f"total {total:.1f} W"
    return table


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

        done = 0
        with Live(render_table(names, readings, versions), console=console,
                  auto_refresh=False, transient=False) as live:
            while True:
                await asyncio.gather(*(poll(n, p) for n, p in plugs.items()))
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
                  tariff=Tariff.from_config({**DEMO_TARIFF, "timezone": tz}))


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
        for spec in specs:
            batch: list[Sample] = []
            for sample in history_samples(spec, now - BACKFILL_DAYS * 86400, now - 60, tariff):
                batch.append(sample)
                if len(batch) >= 20_000:
                    await store.write(batch, names)
                    batch = []
            await store.write(batch, names)
    finally:
        await store.close()


async def run_service_demo(listen: tuple[str, int] | None, data_dir: Path, time_scale: float,
                           console: Console) -> None:
    specs = household_specs()
    fleet = Fleet(specs, time_scale=time_scale)
    await fleet.start()
    try:
        tz = local_timezone_name()
        config = demo_config(fleet, tz)
        db = data_dir / "demo.db"
        data_dir.mkdir(parents=True, exist_ok=True)
        await backfill(db, specs, tariff_from(config), time.time(), console)
        options = ServiceOptions(db=str(db), listen=listen, data_dir=data_dir, start_spread=0.2)
        service = await open_service(config, options)

        def started(svc: Service) -> None:
            console.print(f"Simulated household of {len(specs)} plugs on 127.0.0.1; "
                          f"database {db}")
            if listen:
                host, port = listen
                console.print(f"[bold]Dashboard: http://{host}:{port}/[/bold]")
                console.print(f"API token (to switch plugs from the page): {svc.token}")
            console.print("Press Ctrl-C to stop.")

        await runtime.until_stopped(run_service(service, options, started))
    finally:
        await fleet.stop()


@click.command("demo")
@click.option("--listen", default="127.0.0.1:8000", envvar="POWERMONITOR_LISTEN",
              show_default=True, help="Dashboard address (HOST:PORT).")
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
        console.print("Starting a simulated household of six plugs on 127.0.0.1...")

        async def table() -> int:
            return await run_demo(interval, 1 if once else rounds, console, time_scale)

        code = runtime.guarded(lambda: runtime.run(table()))
        raise SystemExit(code)
    directory = Path(data_dir) if data_dir else default_db_path().parent / "demo"

    def body() -> None:
        address = parse_listen(listen, "--listen")
        runtime.run(run_service_demo(address, directory, time_scale, console))

    runtime.guarded(body)
