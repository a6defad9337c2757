"""``powermonitor devices set NAME [--key K] [--version V] [--host H] [--name N] [--interval S]
[--port P] [--product-id P]``: edit one configured plug in place.

The edit goes through the config package's one edit path (:func:`~powermonitor.config.
update_plug` under the config lock, atomic 0600 save), so a changed plug passes exactly the
checks a new one does. ``--key -`` reads the key from standard input, without echo on a
terminal; keys are only ever shown masked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..config import (
    MAX_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    Config,
    PlugConfig,
    edit_config,
    update_plug,
)
from ..errors import UsageError
from ..models import mask_key
from .options import config_option

__all__ = ["set_command"]


def _describe(field: str, value: Any) -> str:
    if field == "local_key":
        return f"key {mask_key(value)}"
    if field == "poll_interval":
        return f"interval {'default' if value is None else f'{value:g} s'}"
    return f"{field.replace('_', ' ')} {value or '(none)'}"


@click.command("set")
@click.argument("name_or_id")
@click.option("--key", help='New local key ("-": read it from standard input, no echo).')
@click.option("--version", help="Protocol version: 3.1, 3.2, 3.3, 3.4, 3.5 or auto.")
@click.option("--host", help="New IP address or host name.")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="New TCP port.")
@click.option("--name", "new_name", help="New name.")
@click.option("--interval", type=click.FloatRange(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL),
              default=None, help="Seconds between polls.")
@click.option("--default-interval", is_flag=True, help="Use the config's default interval.")
@click.option("--product-id", help='Tuya product id (picks a model profile; "" clears it).')
@config_option(must_exist=True)
def set_command(
    name_or_id: str, key: str | None, version: str | None, host: str | None, port: int | None,
    new_name: str | None, interval: float | None, default_interval: bool,
    product_id: str | None, config_path: Path | None,
) -> None:
    """Change one plug (by NAME or id) in place; the other plugs are untouched."""
    from .devices import _read_key  # the one way keys are read from the command line

    changes: dict[str, Any] = {}
    if key is not None:
        changes["local_key"] = _read_key(key)
    for field, value in (("version", version), ("host", host), ("port", port),
                         ("name", new_name), ("product_id", product_id)):
        if value is not None:
            changes[field] = value.strip() if isinstance(value, str) else value
    if interval is not None and default_interval:
        raise UsageError("give --interval or --default-interval, not both")
    if interval is not None or default_interval:
        changes["poll_interval"] = interval
    if not changes:
        raise UsageError("nothing to change: give --key, --version, --host, --port, --name, "
                         "--interval or --product-id")

    def change(config: Config) -> tuple[Config, PlugConfig]:
        updated = update_plug(config, name_or_id, changes)
        return updated, updated.plug(config.plug(name_or_id).device_id)

    _, _, plug, written = edit_config(config_path, change)
    what = ", ".join(_describe(field, getattr(plug, field)) for field in changes)
    click.echo(f"updated {plug.name} (id {plug.device_id}): {what} in {written}")
