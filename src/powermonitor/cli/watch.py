"""``powermonitor watch``: every configured plug, live (a table, or JSON lines for pipes).

Each plug going offline or coming back is reported once: in the table's status column, or as
one stderr line in ``--json`` mode. The monitor's own log lines for the same transitions are
kept for ``-v``/``--debug``, so they do not say it a second time.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..config import load_config
from ..models import DeviceInfo, Reading
from ..monitor.hub import Availability, Hub
from ..monitor.supervisor import Monitor
from . import runtime
from .options import config_option, output_options
from .poll import reading_json
from .render import Column, clean, dumps, table

MONITOR_LOGGER = "powermonitor.monitor"
COLUMNS = (
    Column("name", "Plug"), Column("switch", "Switch"), Column("power_w", "Power (W)", "power"),
    Column("voltage_v", "Voltage (V)", "voltage"), Column("current_ma", "Current (mA)", "current_ma"),
    Column("power_factor", "PF", "pf"), Column("updated", "Updated"), Column("status", "Status"),
)


def _age(ts: datetime | None) -> str:
    if ts is None:
        return ""
    seconds = max(0.0, time.time() - ts.timestamp())
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def render(hub: Hub, names: dict[str, str]) -> Table:
    rows: list[dict[str, Any]] = []
    total = 0.0
    for device_id, name in names.items():
        state = hub.states.get(device_id)
        r = state.reading if state else None
        online = bool(state and state.online)
        if online:
            status = Text("online", style="green")
        elif state and state.since:
            status = Text("offline ", style="red") + Text(clean(state.reason)[:60])
        else:
            status = Text("connecting")
        row: dict[str, Any] = {"name": name, "switch": None if r is None else r.switch,
                               "updated": _age(r.timestamp if r else None), "status": status}
        if r is not None and online:
            total += r.power_w or 0.0
            row.update(power_w=r.power_w, voltage_v=r.voltage_v, current_ma=r.current_ma,
                       power_factor=r.power_factor)
        rows.append(row)
    online_count = sum(1 for s in hub.states.values() if s.online)
    return table(rows, COLUMNS, title=f"powermonitor watch — {datetime.now(UTC):%H:%M:%S} UTC",
                 caption=f"total {total:.1f} W from {online_count}/{len(names)} plugs online")


def transition_line(event: Availability) -> str:
    name = clean(event.name)
    return f"{name}: offline: {clean(event.reason)}" if not event.online else f"{name}: back online"


async def watch(config_path: Path | None, as_json: bool, refresh_rate: float) -> None:
    config = load_config(config_path)
    monitor = Monitor(config)
    plugs = {c.plug.device_id: c for c in monitor.coordinators.values()}
    names = {device_id: c.name for device_id, c in plugs.items()}
    hosts = {device_id: c.plug.host for device_id, c in plugs.items()}
    monitor_log = logging.getLogger(MONITOR_LOGGER)
    if not monitor_log.isEnabledFor(logging.INFO):  # we report transitions: once, not twice
        monitor_log.setLevel(logging.ERROR)
    hub = monitor.hub
    sub = hub.subscribe(maxsize=100_000)
    stop = runtime.StopSignal()  # before the first line or table is printed
    run_task = asyncio.create_task(monitor.run())
    stop_task = asyncio.create_task(stop.wait())
    try:
        if as_json:
            out = sys.stdout
            offline: set[str] = set()
            while not run_task.done() and not stop_task.done():
                get = asyncio.create_task(sub.get())
                done, _ = await asyncio.wait({get, run_task, stop_task},
                                             return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    break
                event = get.result()
                if isinstance(event, Reading):
                    info = DeviceInfo(device_id=event.device_id,
                                      host=hosts.get(event.device_id, ""),
                                      name=names.get(event.device_id, ""))
                    out.write(dumps(reading_json(event, info)) + "\n")
                    out.flush()
                elif event.online != (event.device_id not in offline):  # a first "online" is quiet
                    offline.symmetric_difference_update({event.device_id})
                    print(transition_line(event), file=sys.stderr, flush=True)
        else:
            with Live(render(hub, names), console=Console(), auto_refresh=False) as live:
                while not run_task.done() and not stop_task.done():
                    await asyncio.wait({run_task, stop_task}, timeout=1.0 / refresh_rate)
                    live.update(render(hub, names), refresh=True)
    finally:
        sub.close()
        stop.close()
        for task in (run_task, stop_task):
            task.cancel()
        await asyncio.gather(run_task, stop_task, return_exceptions=True)
    if run_task.done() and not run_task.cancelled() and run_task.exception():
        exc = run_task.exception()
        if isinstance(exc, BaseExceptionGroup):
            raise exc.exceptions[0]
        raise exc  # type: ignore[misc]


@click.command("watch")
@config_option()
@output_options(csv=False, json_help="Print one JSON line per reading (JSONL) instead of a table.")
@click.option("--refresh-rate", type=click.FloatRange(0.1, 10), default=2.0, show_default=True,
              help="Table redraws per second.")
def watch_command(config_path: Path | None, fmt: str, refresh_rate: float) -> None:
    """Watch every configured plug live until Ctrl-C (exit 0)."""
    runtime.run(watch(config_path, fmt == "json", refresh_rate))
