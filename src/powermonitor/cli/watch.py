"""``powermonitor watch``: every configured plug, live (a table, or JSON lines for pipes)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from ..config import load_config
from ..models import DeviceInfo, Reading
from ..monitor.hub import Availability, Hub
from ..monitor.supervisor import Monitor
from ..report import poll_json
from . import runtime


def _fmt(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _age(ts: datetime | None) -> str:
    if ts is None:
        return ""
    seconds = max(0.0, time.time() - ts.timestamp())
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def render(hub: Hub, names: dict[str, str]) -> Table:
    table = Table(title=f"powermonitor watch — {datetime.now(UTC):%H:%M:%S} UTC", expand=False)
    for col, justify in (("plug", "left"), ("state", "left"), ("W", "right"), ("V", "right"),
                         ("mA", "right"), ("PF", "right"), ("updated", "right"),
                         ("status", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    total = 0.0
    for device_id, name in names.items():
        state = hub.states.get(device_id)
        r = state.reading if state else None
        online = bool(state and state.online)
        status = "[green]online[/green]" if online else (
            f"[red]offline[/red] {state.reason[:60]}" if state and state.since else "connecting"
        )
        if r is not None and online:
            total += r.power_w or 0.0
        switch = "" if r is None else ("on" if r.switch else "off")
        table.add_row(
            name, switch,
            _fmt(r.power_w) if r and online else "", _fmt(r.voltage_v) if r and online else "",
            _fmt(r.current_ma, 0) if r and online else "",
            _fmt(r.power_factor, 2) if r and online else "",
            _age(r.timestamp if r else None), status,
        )
    table.caption = f"total {total:.1f} W from {sum(1 for s in hub.states.values() if s.online)}" \
        f"/{len(names)} plugs online"
    return table


def reading_line(reading: Reading, name: str) -> str:
    info = DeviceInfo(device_id=reading.device_id, host="", name=name)
    return json.dumps(poll_json(reading, info), separators=(",", ":"), allow_nan=False)


async def watch(config_path: str | None, as_json: bool, refresh_rate: float) -> None:
    config = load_config(config_path)
    monitor = Monitor(config)
    names = {c.plug.device_id: c.name for c in monitor.coordinators.values()}
    hub = monitor.hub
    sub = hub.subscribe(maxsize=100_000)
    run_task = asyncio.create_task(monitor.run())
    stop_task = asyncio.create_task(runtime.wait_for_stop_signal())
    try:
        if as_json:
            out = sys.stdout
            while not run_task.done() and not stop_task.done():
                get = asyncio.create_task(sub.get())
                done, _ = await asyncio.wait({get, run_task, stop_task},
                                             return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    break
                event = get.result()
                if isinstance(event, Reading):
                    out.write(reading_line(event, names.get(event.device_id, "")) + "\n")
                    out.flush()
                elif isinstance(event, Availability) and not event.online:
                    print(f"{event.name}: offline: {event.reason}", file=sys.stderr, flush=True)
        else:
            with Live(render(hub, names), console=Console(), auto_refresh=False) as live:
                while not run_task.done() and not stop_task.done():
                    await asyncio.wait({run_task, stop_task}, timeout=1.0 / refresh_rate)
                    live.update(render(hub, names), refresh=True)
    finally:
        sub.close()
        for task in (run_task, stop_task):
            task.cancel()
        await asyncio.gather(run_task, stop_task, return_exceptions=True)
    if run_task.done() and not run_task.cancelled() and run_task.exception():
        exc = run_task.exception()
        if isinstance(exc, BaseExceptionGroup):
            raise exc.exceptions[0]
        raise exc  # type: ignore[misc]


@click.command("watch")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              envvar="POWERMONITOR_CONFIG", help="Configuration file.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON line per reading (JSONL) instead of a table.")
@click.option("--refresh-rate", type=click.FloatRange(0.1, 10), default=2.0, show_default=True,
              help="Table redraws per second.")
def watch_command(config_path: str | None, as_json: bool, refresh_rate: float) -> None:
    """Watch every configured plug live until Ctrl-C (exit 0)."""
    runtime.guarded(lambda: runtime.run(watch(config_path, as_json, refresh_rate)))
