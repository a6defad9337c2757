"""``powermonitor doctor NAME`` (or ``doctor ID IP [KEY] [VERSION]``): one verdict per finding.

The checks live in :mod:`powermonitor.doctor`; this module resolves the plug, runs them and
prints one line per finding (or ``--json``). The exit code is the main fault's, as ``poll``
would give it (8 busy, 5 wrong key, 4 silent, 3 unreachable, 7 not Tuya); 0 when the plug reads.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..doctor import Finding, Target, diagnose, exit_code
from ..models import mask_key
from . import runtime
from .options import config_option, output_options
from .plugref import resolve_plug
from .render import dumps
from .via_service import find_service

_MARK = {"ok": "ok  ", "info": "info", "warn": "WARN", "fail": "FAIL"}


def _target(config_path: Path | None, first: str, ip: str | None, key: str | None,
            version: str | None, port: int) -> tuple[Target, list[Finding]]:
    plug = resolve_plug(first, ip, key, version, port, config_path)
    info = plug.info
    target = Target(info.device_id, info.host, info.local_key, info.version, info.port,
                    info.name, plug.product_id, plug.mapping)
    link = None if plug.service_dir is None else find_service(plug.service_dir, info.device_id)
    if link is None:
        return target, []
    return target, [Finding("service", "info",
                            f"a running `powermonitor run` ({link.url}) watches this plug and "
                            "holds its only connection, so the checks below may find it busy: "
                            f"read it through the service with `powermonitor poll "
                            f"{info.name or info.device_id}`")]


def render_text(target: Target, findings: list[Finding]) -> str:
    name = f"{target.name} ({target.device_id})" if target.name else target.device_id
    header = (f"doctor: {name} at {target.host}:{target.port}, key "
              f"{mask_key(target.local_key)}, version {target.version}")
    lines = [header]
    lines += [f"[{_MARK[f.status]}] {f.check}: {f.message}" for f in findings]
    return "\n".join(lines)


@click.command("doctor")
@click.argument("plug")
@click.argument("ip", required=False)
@click.argument("local_key", required=False)
@click.argument("version", required=False)
@config_option(must_exist=False)
@click.option("--port", type=click.IntRange(1, 65535), default=6668, show_default=True,
              help="TCP port of the plug (direct form).")
@click.option("--timeout", type=click.FloatRange(0.1, 60), default=3.0, show_default=True,
              help="Seconds to wait per connection and per answer.")
@click.option("--listen", "listen_s", type=click.FloatRange(0, 60), default=6.0,
              show_default=True, help="Seconds to listen for the plug's broadcasts (0: skip).")
@click.option("--listen-host", default="0.0.0.0", show_default=True,
              help="Address to listen on for broadcasts.")
@click.option("--beacon-port", "beacon_ports", type=click.IntRange(1, 65535), multiple=True,
              default=(6666, 6667), show_default=True, help="UDP ports of the broadcasts.")
@output_options(csv=False, json_help="Print the findings as JSON.")
def doctor_command(
    plug: str, ip: str | None, local_key: str | None, version: str | None,
    config_path: Path | None, port: int, timeout: float, listen_s: float, listen_host: str,
    beacon_ports: tuple[int, ...], fmt: str,
) -> None:
    """Diagnose one plug: TCP, protocol versions, key, busy, broadcasts, profile, physics.

    PLUG is a configured plug's name or id, or a device id followed by IP [KEY] [VERSION].
    """
    target, findings = _target(config_path, plug, ip, local_key, version, port)
    findings += runtime.run(diagnose(target, timeout=timeout, listen_s=listen_s,
                                     listen_host=listen_host, beacon_ports=beacon_ports))
    code = exit_code(findings)
    if fmt == "json":
        click.echo(dumps({"id": target.device_id, "name": target.name or None,
                          "host": target.host, "port": target.port, "exit_code": code,
                          "findings": [f.as_dict() for f in findings]}))
    else:
        click.echo(render_text(target, findings))
    sys.exit(code)
