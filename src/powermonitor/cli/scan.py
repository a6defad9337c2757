"""``powermonitor scan``: list the Tuya plugs announcing themselves on the LAN.

Listens for UDP beacons (3.1 on 6666, 3.2-3.5 on 6667, 3.5 answers on 7000) for ``--duration``
seconds, like tinytuya's scan. With ``--probe`` it also asks 3.5 plugs to answer (REQ_DEVINFO
sent to ``--probe-address``, the LAN broadcast address by default: the only thing powermonitor
ever broadcasts, and only when asked). Plugs already in the config are marked known and, when
their key is there, polled once for their live power. ``--add`` puts the new ones into the
config without a key: the user adds it; a plug the config refuses (say, a hostile beacon's
address clashing with a configured plug) is skipped on its own, with its reason.

Beacons arrive cleaned and bounded (:mod:`powermonitor.discovery`); when a cap was hit the scan
says so on stderr. The command gathers rows; :mod:`.render` prints them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import config as cfg
from ..client.plug import Plug
from ..client.reconnect import error_kind
from ..discovery import BROADCAST, MAX_PER_SOURCE, MAX_PLUGS, SCAN_TIME, SOURCE_RATE, Discovery
from ..errors import (
    PowermonitorError,
)
from ..protocol.discovery import PORT_APP, PORT_ENCRYPTED, PORT_PLAIN, Beacon
from ..protocol.versions import normalize_version
from . import runtime
from .options import config_option, output_options, require_config
from .render import Column, clean, data_rows, dumps, table

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
    not_added: str | None = None  # why --add skipped it

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
            "error": self.error or self.not_added,
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

    The version the plug announced is kept; a plug on a version that needs a key is not
    watched until the key is set (``devices set NAME --key -`` or ``wizard``).
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
    product_id = beacon.product_key if cfg.is_product_id(beacon.product_key) else ""
    return cfg.PlugConfig(
        name=name, device_id=beacon.device_id, host=beacon.ip, local_key="", version=version,
        port=beacon.port if beacon.port is not None else DEFAULT_PLUG_PORT,
        product_id=product_id,  # picks the model profile (dps/profiles.py)
    )


def add_new(config: cfg.Config, rows: list[ScanRow]) -> tuple[cfg.Config, list[ScanRow]]:
    """Add every unknown plug the config accepts; a refused one is skipped with its reason."""
    taken = {p.name.casefold() for p in config.plugs}
    out: list[ScanRow] = []
    for r in rows:
        if r.known:
            out.append(r)
            continue
        try:
            plug = new_plug(r.beacon, taken)
            config = cfg.add_plug(config, plug)
        except PowermonitorError as exc:
            out.append(replace(r, not_added=f"not added: {exc}"))
            continue
        out.append(replace(r, name=plug.name, added=True))
    return config, out


def _power_cell(r: ScanRow) -> Text | float | None:
    if r.power_w is not None:
        return r.power_w
    if r.error or r.not_added:
        return Text(clean(r.problem or r.not_added or r.error or ""), style="red")
    if r.known:
        return Text("no key", style="dim")
    return None


def _known_cell(r: ScanRow) -> str:
    if r.known:
        return f"yes ({r.name or ''})"
    if r.added:
        return f"added ({r.name or ''})"
    return "no"


SCAN_COLUMNS = (
    Column("id", "Id", "id"), Column("address", "Address"), Column("version", "Version"),
    Column("product_key", "Product key"), Column("known", "Known"),
    Column("power", "Power (W)", "power"),
)


def render_table(rows: list[ScanRow], duration: float) -> Table:
    cells = []
    for r in rows:
        b = r.beacon
        cells.append({"id": b.device_id, "address": b.ip if b.port is None else f"{b.ip}:{b.port}",
                      "version": b.version, "product_key": b.product_key, "known": _known_cell(r),
                      "power": _power_cell(r)})
    return table(cells, SCAN_COLUMNS, title=f"{len(rows)} plugs heard in {duration:g} s")


JSON_COLUMNS = tuple(Column(k, k, "power" if k == "power_w" else "text") for k in (
    "id", "ip", "version", "product_key", "encrypted", "active", "form", "mac", "port", "known",
    "name", "power_w", "error", "added"))


def render_json(rows: list[ScanRow]) -> str:
    return dumps(data_rows([r.as_json() for r in rows], JSON_COLUMNS))


def cap_notes(discovery: Discovery) -> list[str]:
    """What the scan refused to keep, in words (empty when nothing was)."""
    notes = []
    if discovery.over_cap:
        notes.append(f"{discovery.over_cap} beacons ignored: a scan keeps at most {MAX_PLUGS} "
                     f"plugs, {MAX_PER_SOURCE} per sending address")
    if discovery.rate_limited:
        notes.append(f"{discovery.rate_limited} datagrams ignored: more than {SOURCE_RATE:g} a "
                     "second from one address")
    if discovery.rejected:
        notes.append(f"{discovery.rejected} beacons ignored: their device id is not valid")
    return notes


async def run_scan(
    *, duration: float, listen_host: str, ports: Sequence[int], probe: bool,
    probe_address: str, probe_port: int, client_ip: str | None, config: cfg.Config | None,
    timeout: float, poll: bool,
) -> tuple[list[ScanRow], list[str]]:
    async with Discovery(
        listen_host=listen_host, ports=ports, probe=probe, probe_address=probe_address,
        probe_port=probe_port, client_ip=client_ip,
    ) as discovery:
        await asyncio.sleep(duration)
    rows = await scan_rows(discovery.beacons, config, timeout, poll)
    return rows, cap_notes(discovery)


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
@output_options(csv=False, json_help="Print a JSON list instead of a table.")
@click.option("--add", "add", is_flag=True,
              help="Put the plugs not in the config into it (you then add their keys).")
@config_option(must_exist=False)
def scan_command(
    duration: float, listen_host: str, port_31: int, port_33: int, port_35: int, probe: bool,
    probe_address: str, probe_port: int, client_ip: str | None, timeout: float, no_poll: bool,
    fmt: str, add: bool, config_path: Path | None,
) -> None:
    """Find Tuya plugs on the LAN from their UDP broadcasts (default: listen 18 s)."""
    as_json = fmt == "json"
    ports = list(dict.fromkeys(p for p in (port_31, port_33, port_35)))
    if not add:
        require_config(config_path)  # --add creates it
    config = cfg.load_config(config_path)  # before listening: a bad file fails at once
    if not as_json:
        what = ", ".join(str(p) for p in ports)
        Console(stderr=True).print(
            f"Listening for Tuya broadcasts on UDP {what} for {duration:g} s...")
    rows, notes = runtime.run(run_scan(
        duration=duration, listen_host=listen_host, ports=ports, probe=probe,
        probe_address=probe_address, probe_port=probe_port, client_ip=client_ip,
        config=config, timeout=timeout, poll=not no_poll,
    ))
    saved: Path | None = None
    if add and any(not r.known for r in rows):
        def change(current: cfg.Config) -> tuple[cfg.Config, list[ScanRow]]:
            updated, new_rows = add_new(current, rows)  # re-read under the lock: no lost adds
            return (updated if any(r.added for r in new_rows) else current), new_rows

        _, _, rows, written = cfg.edit_config(config_path, change)
        saved = written if any(r.added for r in rows) else None
    if as_json:
        click.echo(render_json(rows))
    else:
        Console().print(render_table(rows, duration))
    for note in notes:
        click.echo(f"note: {note}", err=True)
    skipped = [r for r in rows if r.not_added]
    for r in skipped:
        click.echo(f"  skipped {clean(r.beacon.device_id)}: {clean(r.not_added or '')}", err=True)
    if saved is not None:
        added = [r for r in rows if r.added]
        click.echo(f"added {len(added)} plug(s) to {saved}. They have no local key yet: set "
                   "key (and version) for each before polling it:", err=True)
        for r in added:
            click.echo(f"  {r.name}: id {r.beacon.device_id}, host {r.beacon.ip}, "
                       f"version {r.beacon.version}", err=True)
    elif add and not skipped:
        click.echo("no new plugs to add", err=True)


__all__ = ["ScanRow", "add_new", "new_plug", "render_json", "render_table", "scan_command",
           "scan_rows"]
