"""``powermonitor poll`` and the old script names ``plugpower`` / ``plugjson``.

Arguments come positionally as the original scripts took them (ID IP [KEY] [VERSION]) or from
the environment variables the original container used: PLUGID, PLUGIP, PLUGKEY and PLUGINVERS
(PLUGVERS also accepted, as tuyapower's container spelled it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..client.plug import Plug
from ..models import DeviceInfo, Reading
from ..report import poll_json, poll_text
from . import runtime
from .options import config_option, db_option, debug_option, output_options
from .plugref import PlugTarget, resolve_plug
from .render import data_value, dumps
from .via_service import find_service, poll_via


async def poll_target(target: PlugTarget, timeout: float, retries: int) -> Reading:
    """One reading: through a running ``powermonitor run`` that watches the plug (it holds the
    plug's only connection), else straight from the plug."""
    link = None if target.service_dir is None else find_service(target.service_dir,
                                                                 target.info.device_id)
    if link is not None:
        click.echo(f"reading {target.info.name or target.info.device_id} through the running "
                   f"service at {link.url}", err=True)
        return await poll_via(link, target.info.device_id)
    async with Plug.from_info(target.info, timeout=timeout, retries=retries,
                              mapping=target.mapping,
                              product_id=target.product_id or None) as plug:
        return await plug.status()


READING_KINDS = {"power": "power", "current": "current_ma", "voltage": "voltage",
                 "apparent_power": "power", "power_factor": "pf", "energy_increment_wh": "wh"}
"""The measured fields of ``poll --json`` / ``watch --json`` and their precision (render.py)."""


def reading_json(reading: Reading, info: DeviceInfo) -> dict[str, Any]:
    """``poll_json`` with the measurements rounded to what the plug measures."""
    record = poll_json(reading, info)
    for key, kind in READING_KINDS.items():
        if key in record:
            record[key] = data_value(record[key], kind)
    return record


def render(reading: Reading, info: DeviceInfo, as_json: bool) -> str:
    return dumps(reading_json(reading, info)) if as_json else poll_text(reading, info)


def poll_options(fn: click.decorators.FC) -> click.decorators.FC:
    for decorator in reversed(
        [
            click.argument("device_id", required=False),
            click.argument("ip", required=False),
            click.argument("local_key", required=False),
            click.argument("version", required=False),
            click.option("--port", type=click.IntRange(1, 65535), default=6668,
                         envvar="PLUGPORT", show_default=True, help="TCP port of the plug."),
            click.option("--timeout", type=click.FloatRange(0.1, 120), default=5.0,
                         show_default=True, help="Seconds to wait for each answer."),
            click.option("--retries", type=click.IntRange(0, 20), default=2, show_default=True,
                         help="Retries after a timeout or lost connection (never on a wrong key)."),
        ]
    ):
        fn = decorator(fn)
    return fn


def do_poll(
    device_id: str | None, ip: str | None, local_key: str | None, version: str | None,
    port: int, timeout: float, retries: int, as_json: bool, config_path: Path | None = None,
    db: str | None = None,
) -> None:
    target = resolve_plug(device_id, ip, local_key, version, port, config_path, db)
    reading = runtime.run(poll_target(target, timeout, retries))
    click.echo(render(reading, target.info, as_json))


@click.command("poll")
@poll_options
@config_option(must_exist=False)
@db_option()
@output_options(csv=False, json_envvars=("PLUGJSON",),
                json_help="Print one JSON line (typed values, ISO-8601 UTC datetime).")
def poll_command(
    device_id: str | None, ip: str | None, local_key: str | None, version: str | None,
    port: int, timeout: float, retries: int, config_path: Path | None, db: str | None,
    fmt: str,
) -> None:
    """Poll one plug once: switch, power (W), current (mA), voltage (V), projected kWh.

    Give ID IP [KEY] [VERSION], or the NAME (or id) of a configured plug. VERSION is 3.1,
    3.2, 3.3, 3.4, 3.5 or auto (default: try them safely, one at a time). When a running
    `powermonitor run` watches the plug, the reading comes through it (found with the same
    --config and --db as the run).
    """
    do_poll(device_id, ip, local_key, version, port, timeout, retries, fmt == "json",
            config_path, db)


def _old_script(name: str, as_json: bool, doc: str) -> click.Command:
    """``plugpower``/``plugjson``: a root command of its own (own ``--debug``, same errors)."""

    @click.command(name, cls=runtime.ErrorBoundary, help=doc)
    @poll_options
    @debug_option()
    def command(
        device_id: str | None, ip: str | None, local_key: str | None, version: str | None,
        port: int, timeout: float, retries: int, debug: bool,
    ) -> None:
        runtime.setup_logging(debug)
        do_poll(device_id, ip, local_key, version, port, timeout, retries, as_json)

    return command


plugpower_command = _old_script(
    "plugpower", False,
    "Old script name: human-readable report of one plug (same as ``powermonitor poll``).")
plugjson_command = _old_script(
    "plugjson", True, "Old script name: one JSON line (same as ``powermonitor poll --json``).")
