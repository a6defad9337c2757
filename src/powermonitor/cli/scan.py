"""``powermonitor scan``: list the Tuya plugs announcing themselves on the LAN.

Listens for UDP beacons (3.1 on 6666, 3.2-3.5 on 6667, 3.5 answers on 7000) for ``--duration``
seconds, like tinytuya's scan. With ``--probe`` it also asks 3.5 plugs to answer (REQ_DEVINFO
sent to ``--probe-address``, the LAN broadcast address by default: the only thing powermonitor
ever broadcasts, and only when asked). Plugs already in the config are marked known and, when
their key is there, polled once for their live power. ``--add`` puts the new ones into the
config without a key: the user adds it.

The command gathers rows (data); one renderer prints a table, another JSON.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import config as cfg
from ..client.plug import Plug
from ..client.reconnect import error_kind
from ..discovery import BROADCAST, SCAN_TIME, discover
from ..errors import (
    PowermonitorError,
)
from ..protocol.discovery import PORT_APP, PORT_ENCRYPTED, PORT_PLAIN, Beacon
from ..protocol.versions import normalize_version
from . import runtime

DEFAULT_PLUG_PORT = 6668
POLL_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class ScanRow:
    """One plug heard during a scan, with what the config knows of it."""

    beacon: Beacon
    known: bool = False
    name: str | None = None  # the config's name for it
    power_w: float | None = None
    error: str | None = None  # why the live power could not be read (full message)
    problem: str | None = None  # the same in a few words, for the table
    added: bool = False  # put into the config by --add

    def as_json(self) -> dict[str, Any]:
        b = self.beacon
        return {
            "id": b.device_id,
            "ip": b.ip,
            "version": b.version,
            "product_key": b.product_key,
            "encrypted": b.encrypted,
            "active": b.active,
            "form": b.form,
            "mac": b.mac,
            "port": b.port,
            "known": self.known,
            "name": self.name,
            "power_w": self.power_w,
            "error": self.error,
            "added": self.added,
        }


_SHORT = {"timeout": "no answer (timeout)", "key": "wrong key or version",
          "unreachable": "unreachable"}


def short_error(exc: Exception) -> str:
    """A few words for the table; the JSON output carries the full message."""
    short = _SHORT.get(error_kind(exc))
    return short or (str(exc) or exc.__class__.__name__)[:60]


async def read_power(beacon: Beacon, plug: cfg.PlugConfig, timeout: float) -> ScanRow:
    """Poll one known plug once at the address it announced; never raises (but cancellation).

    The config's version wins; with "auto" the version the plug announced is used.
    """
    row = ScanRow(beacon, True, plug.name)
    version = plug.version
    if version == "auto":
        try:
            version = normalize_version(beacon.version)
        except PowermonitorError:
            version = "auto"
    port = beacon.port if beacon.port is not None else plug.port
    try:
        async with Plug(
            beacon.device_id, beacon.ip or plug.host, plug.local_key, version, port=port,
            timeout=timeout, retries=0, mapping=plug.mapping,
        ) as device:
            reading = await device.status()
    except (PowermonitorError, OSError, ValueError) as exc:  # keep the scan alive
        return replace(row, error=str(exc) or exc.__class__.__name__, problem=short_error(exc))
    if reading.power_w is None:
        return replace(row, error="the plug reports no power", problem="no power data")
    return replace(row, power_w=reading.power_w)


async def scan_rows(
    beacons: Sequence[Beacon], config: cfg.Config | None, timeout: float, poll: bool = True
) -> list[ScanRow]:
    """Mark known plugs and read the live power of those whose key the config holds."""
    by_id = {p.device_id: p for p in config.plugs} if config is not None else {}
    limit = asyncio.Semaphore(POLL_CONCURRENCY)

    async def row(beacon: Beacon) -> ScanRow:
        plug = by_id.get(beacon.device_id)
        if plug is None:
            return ScanRow(beacon)
        if not poll or not plug.local_key:
            return ScanRow(beacon, True, plug.name)
        async with limit:
            return await read_power(beacon, plug, timeout)

    return list(await asyncio.gather(*(row(b) for b in beacons)))


def new_plug(beacon: Beacon, taken: set[str]) -> cfg.PlugConfig:
    """A config entry for a plug heard but not configured; its key is left for the user.

    The config refuses a keyless plug on a version that needs a key, so such plugs are saved
    with version "auto" (the scan output tells the user the version to set with the key).
    """
    base = f"plug-{beacon.device_id[-6:]}"
    name, n = base, 2
    while name.casefold() in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name.casefold())
    try:
        version = normalize_version(beacon.version)
    except PowermonitorError:
        version = "auto"
    if version != "3.1":
        version = "auto"
    return cfg.PlugConfig(
        name=name, device_id=beacon.device_id, host=beacon.ip, local_key="", version=version,
        port=beacon.port if beacon.port is not None else DEFAULT_PLUG_PORT,
    )


def add_new(config: cfg.Config, rows: list[ScanRow]) -> tuple[cfg.Config, list[ScanRow]]:
    taken = {p.name.casefold() for p in config.plugs}
    out: list[ScanRow] = []
    for r in rows:
        if r.known:
            out.append(r)
            continue
        plug = new_plug(r.beacon, taken)
        config = cfg.add_plug(config, plug)
        out.append(replace(r, name=plug.name, added=True))
    return config, out


def _power_cell(r: ScanRow) -> str:
    if r.power_w is not None:
        return f"{r.power_w:.1f} W"
    if r.error:
        return f"[red]{escape(r.problem or r.error)}[/red]"
    if r.known:
        return "[dim]no key[/dim]"
    return ""


def render_table(rows: list[ScanRow], duration: float) -> Table:
    table = Table(title=f"{len(rows)} plugs heard in {duration:g} s")
    table.add_column("id", overflow="fold")  # ids are copied from here: never cut them
    table.add_column("IP", overflow="fold")
    table.add_column("version")
    table.add_column("product key", overflow="fold")
    table.add_column("known")
    table.add_column("power", justify="right")
    for r in rows:
        b = r.beacon
        address = b.ip if b.port is None else f"{b.ip}:{b.port}"
        if r.known:
            known = f"yes ({escape(r.name or '')})"
        elif r.added:
            known = f"[yellow]added[/yellow] ({escape(r.name or '')})"
        else:
            known = "no"
        table.add_row(escape(b.device_id), escape(address), escape(b.version),
                      escape(b.product_key), known, _power_cell(r))
    return table


def render_json(rows: list[ScanRow]) -> str:
    return json.dumps([r.as_json() for r in rows], separators=(",", ":"), allow_nan=False)


async def run_scan(
    *, duration: float, listen_host: str, ports: Sequence[int], probe: bool,
    probe_address: str, probe_port: int, client_ip: str | None, config: cfg.Config | None,
    timeout: float, poll: bool,
) -> list[ScanRow]:
    beacons = await discover(
        duration, listen_host=listen_host, ports=ports, probe=probe,
        probe_address=probe_address, probe_port=probe_port, client_ip=client_ip,
    )
    return await scan_rows(beacons, config, timeout, poll)


@click.command("scan")
@click.option("--duration", type=click.FloatRange(0.1, 3600), default=SCAN_TIME,
              show_default=True, help="Seconds to listen (plugs beacon every 5-10 s).")
@click.option("--listen-host", default="0.0.0.0", show_default=True,
              help="Address to listen on.")
@click.option("--port-31", type=click.IntRange(0, 65535), default=PORT_PLAIN, show_default=True,
              help="UDP port of 3.1 beacons (plaintext).")
@click.option("--port-33", type=click.IntRange(0, 65535), default=PORT_ENCRYPTED,
              show_default=True, help="UDP port of 3.2-3.5 beacons (encrypted).")
@click.option("--port-35", type=click.IntRange(0, 65535), default=PORT_APP, show_default=True,
              help="UDP port where 3.5 plugs answer a --probe.")
@click.option("--probe/--no-probe", default=False, show_default=True,
              help="Also ask 3.5 plugs to answer (sends a discovery request).")
@click.option("--probe-address", default=BROADCAST, show_default=True,
              help="Where --probe sends its request (a broadcast or one plug's address).")
@click.option("--probe-port", type=click.IntRange(1, 65535), default=PORT_APP,
              show_default=True, help="UDP port --probe sends to.")
@click.option("--client-ip", default=None,
              help="IP the plugs answer a --probe to [default: this host's address].")
@click.option("--timeout", type=click.FloatRange(0.1, 60), default=2.0, show_default=True,
              help="Seconds to wait for each known plug's live power.")
@click.option("--no-poll", is_flag=True, help="Do not read the live power of known plugs.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.option("--add", "add", is_flag=True,
              help="Put the plugs not in the config into it (you then add their keys).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              envvar="POWERMONITOR_CONFIG", help="Configuration file.")
@click.pass_context
def scan_command(
    ctx: click.Context, duration: float, listen_host: str, port_31: int, port_33: int,
    port_35: int, probe: bool, probe_address: str, probe_port: int, client_ip: str | None,
    timeout: float, no_poll: bool, as_json: bool, add: bool, config_path: str | None,
) -> None:
    """Find Tuya plugs on the LAN from their UDP broadcasts (default: listen 18 s)."""
    debug = bool(ctx.obj and ctx.obj.get("debug"))
    ports = list(dict.fromkeys(p for p in (port_31, port_33, port_35)))
    err = Console(stderr=True)

    def body() -> None:
        path = Path(config_path) if config_path else None
        config = cfg.load_config(path)  # before listening: a bad file fails at once
        if not as_json:
            what = ", ".join(str(p) for p in ports)
            err.print(f"Listening for Tuya broadcasts on UDP {what} for {duration:g} s...")
        rows = runtime.run(run_scan(
            duration=duration, listen_host=listen_host, ports=ports, probe=probe,
            probe_address=probe_address, probe_port=probe_port, client_ip=client_ip,
            config=config, timeout=timeout, poll=not no_poll,
        ))
        saved: Path | None = None
        if add and any(not r.known for r in rows):
            config, rows = add_new(config, rows)
            saved = cfg.save_config(config, path)
        if as_json:
            click.echo(render_json(rows))
        else:
            Console().print(render_table(rows, duration))
        if saved is not None:
            added = [r for r in rows if r.added]
            msg = (f"added {len(added)} plug(s) to {saved}. They have no local key yet: set "
                   f"key (and version) for each before polling it:")
            click.echo(msg, err=True)
            for r in added:
                click.echo(f"  {r.name}: id {r.beacon.device_id}, host {r.beacon.ip}, "
                           f"version {r.beacon.version}", err=True)
        elif add:
            click.echo("no new plugs to add", err=True)

    runtime.guarded(body, debug)


__all__ = ["ScanRow", "add_new", "new_plug", "render_json", "render_table", "scan_command",
           "scan_rows"]
