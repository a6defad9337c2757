"""``powermonitor switch NAME|ID [IP KEY VERSION] on|off|toggle [--outlet N]``.

The plug is named as for ``poll`` (a configured name or id, or ID IP [KEY] [VERSION]). When a
running ``powermonitor run`` watches it, the command goes through its API (the plug takes one
client at a time), and says so. Prints the outlet's new state; exit codes as ``poll``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import click

from ..client.plug import Plug
from ..errors import UsageError
from ..models import Reading
from . import runtime
from .options import config_option, db_option, output_options
from .plugref import PlugTarget, resolve_plug
from .render import dumps
from .via_service import find_service, poll_via, switch_via

Action = Literal["on", "off", "toggle"]
_ACTIONS = ("on", "off", "toggle")


def _state(reading: Reading, outlet: int) -> bool | None:
    return reading.switches.get(str(outlet), reading.switch if outlet == 1 else None)


def _wanted(action: str, current: bool | None, outlet: int) -> bool:
    if action != "toggle":
        return action == "on"
    if current is None:
        raise UsageError(f"the plug does not report outlet {outlet}: cannot toggle it")
    return not current


async def switch_plug(target: PlugTarget, action: str, outlet: int, timeout: float,
                      retries: int) -> tuple[bool, Reading]:
    """Switch; return the state the plug reports afterwards and its reading."""
    device_id = target.info.device_id
    link = None if target.service_dir is None else find_service(target.service_dir, device_id)
    if link is not None:
        click.echo(f"switching {target.info.name or device_id} through the running service at "
                   f"{link.url}", err=True)
        current = _state(await poll_via(link, device_id), outlet) if action == "toggle" else None
        reading = await switch_via(link, device_id, _wanted(action, current, outlet), outlet)
    else:
        async with Plug.from_info(target.info, timeout=timeout, retries=retries,
                                  mapping=target.mapping,
                                  product_id=target.product_id or None) as plug:
            current = _state(await plug.status(), outlet) if action == "toggle" else None
            await plug.set_switch(_wanted(action, current, outlet), outlet)
            reading = await plug.status()
    state = _state(reading, outlet)
    if state is None:
        raise UsageError(f"the plug does not report outlet {outlet} after switching it")
    return state, reading


@click.command("switch")
@click.argument("args", nargs=-1, required=True, metavar="NAME|ID [IP KEY VERSION] on|off|toggle")
@click.option("--outlet", type=click.IntRange(1, 255), default=1, show_default=True,
              help="Outlet (switch DP) of a strip.")
@click.option("--port", type=click.IntRange(1, 65535), default=6668, show_default=True,
              help="TCP port of the plug (direct form).")
@click.option("--timeout", type=click.FloatRange(0.1, 120), default=5.0, show_default=True,
              help="Seconds to wait for each answer.")
@click.option("--retries", type=click.IntRange(0, 20), default=2, show_default=True,
              help="Retries after a timeout or lost connection (never on a wrong key).")
@config_option(must_exist=False)
@db_option()
@output_options(csv=False, json_help="Print the new state as JSON.")
def switch_command(args: tuple[str, ...], outlet: int, port: int, timeout: float, retries: int,
                   config_path: Path | None, db: str | None, fmt: str) -> None:
    """Switch a plug (or one outlet of a strip) on, off, or toggle it; print the new state."""
    *plug_args, action = args
    if action not in _ACTIONS or not 1 <= len(plug_args) <= 4:
        raise UsageError("usage: powermonitor switch NAME|ID [IP KEY VERSION] on|off|toggle")
    first, ip, key, version = (*plug_args, None, None, None)[:4]
    target = resolve_plug(first, ip, key, version, port, config_path, db)
    state, _ = runtime.run(switch_plug(target, action, outlet, timeout, retries))
    name = target.info.name or target.info.device_id
    if fmt == "json":
        click.echo(dumps({"id": target.info.device_id, "name": target.info.name or None,
                          "outlet": outlet, "on": state}))
    else:
        click.echo(f"{name}: outlet {outlet} is {'on' if state else 'off'}")
