"""``powermonitor devices``: the plugs to watch, kept in the configuration file.

``list`` (a table, or ``--json``), ``add``, ``remove`` and ``import`` (tinytuya's devices.json or
snapshot.json, or the simulator's devices file). Every command takes ``--config PATH``
(``$POWERMONITOR_CONFIG``; default ``~/.config/powermonitor/config.toml``).

Commands compute data (:func:`device_rows`, :class:`~powermonitor.config.MergeReport`) and
print it in one place. Local keys are masked in every output, errors included; edits are
written atomically with mode 0600, under the config lock, so parallel commands never lose
each other's changes (see :mod:`powermonitor.config`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..config import (
    DEFAULT_PORT,
    MAX_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    Config,
    ImportResult,
    MergeReport,
    PlugConfig,
    add_plug,
    edit_config,
    import_devices,
    load_config,
    merge_plugs,
    remove_plug,
)
from ..models import mask_key
from . import runtime
from .options import config_option, output_options
from .render import Column, emit

__all__ = ["device_rows", "devices_group"]


def device_rows(config: Config) -> list[dict[str, Any]]:
    """One dict per plug, keys masked: what ``devices list --json`` prints."""
    return [
        {
            "name": plug.name,
            "id": plug.device_id,
            "host": plug.host,
            "port": plug.port,
            "version": plug.version,
            "key_masked": mask_key(plug.local_key),
            "poll_interval_s": config.interval_for(plug),
            "poll_interval_is_default": plug.poll_interval is None,
            "refresh": config.refresh_for(plug),
            "mapping": plug.mapping.name if plug.mapping is not None else None,
        }
        for plug in config.plugs
    ]


DEVICE_COLUMNS = (
    Column("name", "Name"), Column("id", "Id", "id"), Column("host", "Host", table=False),
    Column("port", "Port", table=False), Column("address", "Address", data=False),
    Column("version", "Version"), Column("key_masked", "Key", table=False),
    Column("key", "Key", data=False),
    Column("poll_interval_s", "Interval (s)", "seconds", table=False),
    Column("poll_interval_is_default", "Default interval", table=False),
    Column("interval", "Interval", data=False), Column("refresh", "Refresh", table=False),
    Column("mapping", "Mapping"),
)


def _table_rows(rows: list[dict[str, Any]], config: Config) -> list[dict[str, Any]]:
    """The list's rows with what only the table shows: address, the interval in words and the
    key masked compactly (``dZ…Up``: the column fits 80 characters)."""
    return [{**row, "address": f"{row['host']}:{row['port']}",
             "key": mask_key(plug.local_key, compact=True),
             "interval": f"{row['poll_interval_s']:g} s"
                         + (" (default)" if row["poll_interval_is_default"] else ""),
             "mapping": row["mapping"] or "auto"} for row, plug in zip(rows, config.plugs)]


@click.group("devices", cls=runtime.ErrorBoundaryGroup)
def devices_group() -> None:
    """List, add, remove and import the plugs to watch (the config file)."""


@devices_group.command("list")
@config_option(must_exist=False)
@output_options(json_help="Print a JSON list (keys masked) instead of a table.")
def list_command(config_path: Path | None, fmt: str) -> None:
    """Show the configured plugs; local keys are masked."""
    config = load_config(config_path)
    rows = device_rows(config)
    if fmt != "table":
        emit(rows, fmt, DEVICE_COLUMNS)
    elif not rows:
        click.echo(f"no plugs in {config.path}: add one with `powermonitor devices add "
                   "NAME ID HOST KEY` or `powermonitor devices import devices.json`")
    else:
        mapped = any(row["mapping"] for row in rows)  # else "auto" everywhere: left out
        emit(_table_rows(rows, config), "table",
             [c for c in DEVICE_COLUMNS if mapped or c.key != "mapping"],
             title=f"{len(rows)} plug{'s' if len(rows) != 1 else ''} in {config.path}")


def _read_key(key: str | None) -> str:
    """KEY "-": read it from standard input (without echo on a terminal)."""
    if key != "-":
        return key or ""
    if sys.stdin.isatty():
        return str(click.prompt("local key", hide_input=True, err=True)).strip()
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@devices_group.command("add")
@click.argument("name")
@click.argument("device_id", metavar="ID")
@click.argument("host")
@click.argument("key", required=False)
@click.option("--version", "version", default="auto", show_default=True,
              help="Protocol version: 3.1, 3.2, 3.3, 3.4, 3.5 or auto.")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True,
              help="TCP port of the plug.")
@click.option("--interval", type=click.FloatRange(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL),
              default=None, help="Seconds between polls [default: the config's defaults].")
@config_option(must_exist=False)
def add_command(
    name: str, device_id: str, host: str, key: str | None, version: str, port: int,
    interval: float | None, config_path: Path | None,
) -> None:
    """Add a plug: NAME, device ID, HOST (IP address) and its 16-character local KEY.

    KEY "-" reads the key from standard input, which keeps it out of the shell history.
    A 3.1 plug (or version auto) can be added without a key: it is then read-only.
    """
    plug = PlugConfig(
        name=name.strip(), device_id=device_id.strip(), host=host.strip(),
        local_key=_read_key(key), version=version, port=port, poll_interval=interval,
    )
    _, updated, _, written = edit_config(config_path, lambda c: (add_plug(c, plug), None))
    added = updated.plugs[-1]
    click.echo(
        f"added {added.name} (id {added.device_id}, {added.host}:{added.port}, "
        f"version {added.version}, key {added.masked_key}) to {written}"
    )


@devices_group.command("remove")
@click.argument("name_or_id")
@config_option(must_exist=False)
def remove_command(name_or_id: str, config_path: Path | None) -> None:
    """Remove the plug called NAME_OR_ID (a name or a device id)."""

    def change(config: Config) -> tuple[Config, PlugConfig]:
        return remove_plug(config, name_or_id), config.plug(name_or_id)

    _, _, gone, written = edit_config(config_path, change)
    click.echo(f"removed {gone.name} (id {gone.device_id}) from {written}")


def _report_lines(result: ImportResult, report: MergeReport) -> list[str]:
    lines: list[str] = []
    for old, new in (*result.renamed, *report.renamed):
        lines.append(f"  renamed    {old} -> {new} (the name was taken)")
    for name in report.added:
        lines.append(f"  added      {name}")
    for name in report.updated:
        lines.append(f"  updated    {name}")
    for name in report.unchanged:
        lines.append(f"  unchanged  {name}")
    for name, reason in (*result.skipped, *report.skipped):
        lines.append(f"  skipped    {name}: {reason}")
    return lines


@devices_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--replace-existing", is_flag=True,
              help="Update host, port, key, version and mapping of plugs already configured "
                   "(matched by id); without it they are skipped.")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@config_option(must_exist=False)
def import_command(
    file: Path, replace_existing: bool, dry_run: bool, config_path: Path | None
) -> None:
    """Import plugs from tinytuya's devices.json or snapshot.json, or a simulator devices file.

    Entries without a LAN IP address and devices with no power data points are skipped, each
    with its reason.
    """
    result = import_devices(file)

    def change(config: Config) -> tuple[Config, MergeReport]:
        updated, report = merge_plugs(config, result.plugs,
                                      replace_existing=replace_existing)
        if dry_run or (not report.added and not report.updated):
            return config, report  # the same object: nothing is written
        return updated, report

    config, _, report, written = edit_config(config_path, change)
    click.echo(f"{file}: {result.source_format}, {len(result.plugs) + len(result.skipped)} "
               "entries")
    for line in _report_lines(result, report):
        click.echo(line)
    skipped = len(result.skipped) + len(report.skipped)
    summary = (f"{len(report.added)} added, {len(report.updated)} updated, "
               f"{len(report.unchanged)} unchanged, {skipped} skipped")
    if dry_run:
        click.echo(f"{summary} (dry run: {config.path} not changed)")
    elif not report.added and not report.updated:
        click.echo(f"{summary}: {config.path} not changed")
    else:
        click.echo(f"{summary}: saved {written}")


# `devices set` lives in its own module (it is imported here, after the group exists)
from .devices_set import set_command

devices_group.add_command(set_command)
