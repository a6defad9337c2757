"""``powermonitor wizard``: fetch local keys (and DP mappings) from Tuya's cloud into the config.

Two routes, one ending: ``openapi`` (a Tuya IoT Platform project's Access ID/Secret) and ``qr``
(scan a code with the Smart Life app; needs the ``cloud`` extra). Both produce CloudDevices,
optionally placed on the LAN by ``--scan``, then merged into the config (never removing a
plug) and optionally written as a tinytuya devices.json. Secrets are read from options, the
environment, or a prompt that does not echo, and only ever printed masked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from .. import config as cfg
from ..cloud.apply import apply_to_config, fill_from_beacons, write_devices_json
from ..cloud.devices import CloudDevice
from ..cloud.errors import CloudError
from ..cloud.openapi import REGIONS, FetchResult, OpenApi, fetch_devices, region_url
from ..cloud.qr import (
    DEFAULT_CLIENT_ID,
    DEFAULT_SCHEMA,
    LOGIN_URL,
    QrLogin,
    SharingApi,
    fetch_shared_devices,
    qr_text,
    render_qr,
    require_extra,
    wait_for_confirmation,
)
from ..discovery import SCAN_TIME, discover
from ..models import mask_key
from ..protocol.discovery import DISCOVERY_PORTS
from . import runtime
from .options import JSON_ENV, config_option
from .render import dumps

__all__ = ["wizard_group"]

URL_ENV = "POWERMONITOR_CLOUD_URL"
REGION_ENV = "POWERMONITOR_CLOUD_REGION"
ID_ENV = "POWERMONITOR_CLOUD_ID"
SECRET_ENV = "POWERMONITOR_CLOUD_SECRET"
USER_CODE_ENV = "POWERMONITOR_CLOUD_USER_CODE"

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options both routes share (what to do with the devices once fetched)."""
    decorators: list[Decorator] = [
        config_option(must_exist=False),
        click.option("--dry-run", is_flag=True,
                     help="Show what would change; write nothing."),
        click.option("--devices-json", type=click.Path(dir_okay=False, path_type=Path),
                     default=None, help="Also write a tinytuya-compatible devices.json here."),
        click.option("--scan", is_flag=True,
                     help="Listen for LAN broadcasts to fill in IP addresses and versions."),
        click.option("--scan-duration", type=click.FloatRange(0.1, 600), default=SCAN_TIME,
                     show_default=True, help="Seconds --scan listens."),
        click.option("--scan-listen-host", default="0.0.0.0", show_default=True,
                     help="Address --scan listens on."),
        click.option("--scan-port", "scan_ports", type=click.IntRange(1, 65535), multiple=True,
                     help="UDP port(s) --scan listens on [default: 6666, 6667, 7000]."),
        click.option("--base-url", default=None, envvar=URL_ENV,
                     help=f"Talk to this server instead of Tuya's [env: {URL_ENV}]."),
        click.option("--timeout", type=click.FloatRange(1, 300), default=15.0,
                     show_default=True, help="Seconds to wait for each cloud reply."),
        click.option("--no-specs", is_flag=True,
                     help="Do not fetch DP specifications (mappings)."),
        click.option("--json", "as_json", is_flag=True, envvar=JSON_ENV,
                     help="Print the changes as a JSON list (kind, name, detail; keys masked) "
                          f"[env: {JSON_ENV}]."),
    ]
    for decorate in reversed(decorators):
        fn = decorate(fn)
    return fn


@click.group("wizard")
def wizard_group() -> None:
    """Get your plugs' local keys from Tuya's cloud into the config.

    \b
    openapi: a Tuya IoT Platform cloud project (Access ID and Secret)
    qr:      scan a QR code with the Smart Life app (pip install 'tuya-powermonitor[cloud]')
    """


def _finish(result: FetchResult, *, config_path: Path | None, dry_run: bool, as_json: bool,
            devices_json: Path | None, scan: bool, scan_duration: float,
            scan_listen_host: str, scan_ports: Sequence[int]) -> None:
    devices: Sequence[CloudDevice] = result.devices
    if not devices:
        raise CloudError("the cloud lists no devices for this account: check that the app "
                         "account is linked to the project and that the region is the one "
                         "where the app account lives")
    click.echo(f"{len(devices)} device(s) from the cloud", err=True)
    if scan:
        ports = tuple(scan_ports) or DISCOVERY_PORTS
        click.echo(f"Listening for LAN broadcasts for {scan_duration:g} s...", err=True)
        beacons = runtime.run(discover(scan_duration, listen_host=scan_listen_host,
                                       ports=ports))
        devices = fill_from_beacons(devices, beacons)
        heard = sum(1 for d in devices if d.ip)
        click.echo(f"{heard} of them heard on the LAN", err=True)
    old, new, changes, written = cfg.edit_config(
        config_path, lambda config: apply_to_config(config, devices), save=not dry_run)
    if as_json:
        click.echo(dumps([{"kind": c.kind, "name": c.name, "detail": c.detail}
                          for c in changes]))
    else:
        for change in changes:
            click.echo(change.line())
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    counts = {kind: sum(1 for c in changes if c.kind == kind)
              for kind in ("add", "key", "update", "same", "skip")}
    click.echo(f"{counts['add']} added, {counts['key']} key(s) changed, {counts['update']} "
               f"updated, {counts['same']} unchanged, {counts['skip']} skipped", err=True)
    if dry_run:
        where = f" and {devices_json}" if devices_json else ""
        click.echo(f"dry run: {written}{where} left unchanged", err=True)
        return
    if new is not old:
        click.echo(f"config written: {written}", err=True)
    if devices_json is not None:
        written = write_devices_json(devices_json, devices)
        click.echo(f"devices.json written: {written}", err=True)


@wizard_group.command("openapi")
@click.option("--region", envvar=REGION_ENV, default=None,
              help=f"Data center of your cloud project: {', '.join(REGIONS)} [env: {REGION_ENV}].")
@click.option("--access-id", envvar=ID_ENV, default=None,
              help=f"The project's Access ID / Client ID [env: {ID_ENV}].")
@click.option("--access-secret", envvar=SECRET_ENV, default=None,
              help=f"The project's Access Secret [env: {SECRET_ENV}; prompted, hidden, if not "
                   "given].")
@click.option("--device-id", default=None,
              help="Any one of your device ids: lists that app user's devices (else every "
                   "device linked to the project).")
@click.option("--old-signing", is_flag=True,
              help="Sign requests the pre-2021-06-30 way (old cloud projects).")
@_common
def openapi_command(region: str | None, access_id: str | None, access_secret: str | None,
                    device_id: str | None, old_signing: bool, base_url: str | None,
                    timeout: float, no_specs: bool, **finish: Any) -> None:
    """Through a Tuya IoT Platform cloud project (iot.tuya.com, a developer account)."""
    if base_url is None:
        if region is None:
            region = click.prompt(f"Region ({', '.join(REGIONS)})")
        base_url = region_url(region)
    if not access_id:
        access_id = click.prompt("Access ID")
    if not access_secret:
        access_secret = click.prompt("Access Secret", hide_input=True)
    click.echo(f"Asking {base_url} as {mask_key(access_id)}...", err=True)
    with OpenApi(base_url, access_id, access_secret, old_signing=old_signing,
                 timeout=timeout) as api:
        result = fetch_devices(api, device_id, specifications=not no_specs)
    _finish(result, **finish)


@wizard_group.command("qr")
@click.option("--user-code", envvar=USER_CODE_ENV, default=None,
              help="Your User Code (Smart Life app: Me → ⚙ → Account and Security → User "
                   f"Code) [env: {USER_CODE_ENV}].")
@click.option("--client-id", default=DEFAULT_CLIENT_ID, show_default=True,
              help="Client id for the login (the default is Home Assistant's; Tuya may "
                   "refuse it).")
@click.option("--schema", default=DEFAULT_SCHEMA, show_default=True,
              help="Schema that goes with --client-id.")
@click.option("--poll-interval", type=click.FloatRange(0.01, 60), default=3.0,
              show_default=True, help="Seconds between checks for your confirmation.")
@click.option("--light-terminal", is_flag=True,
              help="Draw the QR code for dark text on a light background.")
@click.option("--login-timeout", type=click.FloatRange(1, 3600), default=240.0,
              show_default=True, help="Seconds to wait for you to scan and confirm.")
@_common
def qr_command(user_code: str | None, client_id: str, schema: str, poll_interval: float,
               light_terminal: bool, login_timeout: float, base_url: str | None, timeout: float, no_specs: bool,
               **finish: Any) -> None:
    """Through the Smart Life app: scan a QR code, no developer account (best effort)."""
    require_extra()
    if not user_code:
        user_code = click.prompt("User Code (Smart Life: Me → ⚙ → Account and Security)")
    user_code = user_code.strip()
    login = QrLogin(base_url or LOGIN_URL, client_id=client_id, schema=schema, timeout=timeout)
    try:
        token = login.request_token(user_code)
        click.echo(render_qr(qr_text(token), dark_terminal=not light_terminal))
        click.echo("Scan this with the Smart Life (or Tuya Smart) app: Me → scan icon, then "
                   "confirm the login. Waiting...", err=True)
        info = wait_for_confirmation(login, token, user_code, interval=poll_interval,
                                     timeout=login_timeout)
    finally:
        login.close()
    who = f" as {info.username}" if info.username else ""
    click.echo(f"Logged in{who}", err=True)
    api = SharingApi(info, client_id=client_id, user_code=user_code, endpoint=base_url)
    result = fetch_shared_devices(api, specifications=not no_specs)
    _finish(result, **finish)
