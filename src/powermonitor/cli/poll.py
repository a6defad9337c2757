"""``powermonitor poll`` and the old script names ``plugpower`` / ``plugjson``.

Arguments come positionally as the original scripts took them (ID IP [KEY] [VERSION]) or from
the environment variables the original container used: PLUGID, PLUGIP, PLUGKEY and PLUGINVERS
(PLUGVERS also accepted, as tuyapower's container spelled it).
"""

from __future__ import annotations

import os
from typing import Any

import click

from ..client.plug import Plug
from ..errors import UsageError
from ..models import DeviceInfo, Reading
from ..protocol.versions import normalize_version
from ..report import poll_json, poll_text
from . import runtime
from .options import debug_option, output_options
from .render import data_value, dumps

ENV_ID, ENV_IP, ENV_KEY = "PLUGID", "PLUGIP", "PLUGKEY"
ENV_VERSION = ("PLUGINVERS", "PLUGVERS")


def resolve_target(
    device_id: str | None, ip: str | None, key: str | None, version: str | None, port: int
) -> DeviceInfo:
    """Merge positional arguments with the PLUG* environment variables; validate."""
    device_id = device_id or os.environ.get(ENV_ID, "")
    ip = ip or os.environ.get(ENV_IP, "")
    key = key if key is not None else os.environ.get(ENV_KEY, "")
    if version is None:
        version = next((os.environ[v] for v in ENV_VERSION if os.environ.get(v)), "auto")
    if not device_id or not ip:
        raise UsageError(
            "give the plug's DEVICE_ID and IP (arguments, or PLUGID and PLUGIP in the environment)"
        )
    version = normalize_version(version)
    if key and len(key) != 16:
        raise UsageError(f"the local key must be exactly 16 characters (got {len(key)})")
    if not key and version not in ("3.1", "auto"):
        raise UsageError(f"protocol {version} needs the plug's 16-character local key")
    return DeviceInfo(device_id=device_id, host=ip, local_key=key, version=version, port=port)


async def poll_once(info: DeviceInfo, timeout: float, retries: int) -> tuple[Reading, str]:
    async with Plug.from_info(info, timeout=timeout, retries=retries) as plug:
        reading = await plug.status()
        return reading, plug.protocol_label


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
    port: int, timeout: float, retries: int, as_json: bool,
) -> None:
    info = resolve_target(device_id, ip, local_key, version, port)
    reading, _ = runtime.run(poll_once(info, timeout, retries))
    click.echo(render(reading, info, as_json))


@click.command("poll")
@poll_options
@output_options(csv=False, json_envvars=("PLUGJSON",),
                json_help="Print one JSON line (typed values, ISO-8601 UTC datetime).")
def poll_command(
    device_id: str | None, ip: str | None, local_key: str | None, version: str | None,
    port: int, timeout: float, retries: int, fmt: str,
) -> None:
    """Poll one plug once: switch, power (W), current (mA), voltage (V), projected kWh.

    VERSION is 3.1, 3.2, 3.3, 3.4, 3.5 or auto (default: try them safely, one at a time).
    """
    do_poll(device_id, ip, local_key, version, port, timeout, retries, fmt == "json")


@click.command("plugpower", cls=runtime.ErrorBoundary)
@poll_options
@debug_option()
def plugpower_command(
    device_id: str | None, ip: str | None, local_key: str | None, version: str | None,
    port: int, timeout: float, retries: int, debug: bool,
) -> None:
    """Old script name: human-readable report of one plug (same as ``powermonitor poll``)."""
    runtime.setup_logging(debug)
    do_poll(device_id, ip, local_key, version, port, timeout, retries, False)


@click.command("plugjson", cls=runtime.ErrorBoundary)
@poll_options
@debug_option()
def plugjson_command(
    device_id: str | None, ip: str | None, local_key: str | None, version: str | None,
    port: int, timeout: float, retries: int, debug: bool,
) -> None:
    """Old script name: one JSON line (same as ``powermonitor poll --json``)."""
    runtime.setup_logging(debug)
    do_poll(device_id, ip, local_key, version, port, timeout, retries, True)
