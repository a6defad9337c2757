"""``powermonitor demo``: a simulated household, watched live, with nothing to set up.

First form (step 1 of the project): simulated plugs with realistic appliances, polled over
persistent connections by the real client, shown as a live table. Later steps grow this into
the full service with storage and the web dashboard.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from ..client.plug import Plug
from ..errors import PowermonitorError
from ..models import Reading
from ..simulator.plug import PlugSpec, make_identity
from ..simulator.server import Fleet
from . import runtime


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


@click.command("demo")
@click.option("--interval", type=click.FloatRange(1.0), default=2.0, show_default=True,
              help="Seconds between polls of each plug.")
@click.option("--rounds", type=click.IntRange(0), default=0, show_default=True,
              help="Stop after N rounds (0: run until Ctrl-C).")
@click.option("--once", is_flag=True, help="Poll every plug once and exit (same as --rounds 1).")
@click.option("--time-scale", type=click.FloatRange(0.001), default=60.0, show_default=True,
              help="Simulated seconds per real second (60: a fridge cycle takes under a minute).")
def demo_command(interval: float, rounds: int, once: bool, time_scale: float) -> None:
    """Start a simulated household and watch what every appliance draws, live."""
    console = Console()
    console.print("Starting a simulated household of six plugs on 127.0.0.1 (Ctrl-C to stop)...")

    async def main() -> int:
        task = asyncio.ensure_future(run_demo(interval, 1 if once else rounds, console, time_scale))
        stop = asyncio.ensure_future(runtime.wait_for_stop_signal())
        finished, _ = await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        if task not in finished:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            return 0
        stop.cancel()
        return task.result()

    code = runtime.guarded(lambda: runtime.run(main()))
    raise SystemExit(code)
