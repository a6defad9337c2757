"""``powermonitor config``: ``check`` validates the configuration and says what ``run`` would
do with it; ``show`` prints the effective configuration (defaults filled in, environment
applied) as TOML with every secret masked.

Both read the file the same way ``run`` does (:func:`powermonitor.config.load_config`), and
``check`` refuses what ``run`` refuses (no plugs: :meth:`Config.require_plugs`), so a file that
passes ``check`` starts; an invalid one gives the config-error exit code (2) and one
``file:line: message`` line.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..config import Config, load_config, show_config
from ..config.fields import format_listen
from ..models import mask_key, redact_url
from .options import config_option

__all__ = ["check_lines", "config_group"]


def _days(value: float | None) -> str:
    return "forever" if value is None else f"{value:g} d"


def check_lines(config: Config) -> list[str]:
    """What ``run`` would do with ``config``, one fact per line (keys and passwords masked)."""
    from ..storage import default_db_path

    count = len(config.plugs)
    lines = [f"config: {config.path} ({count} plug{'s' if count != 1 else ''})"]
    for plug in config.plugs:
        extra = f", product {plug.product_id}" if plug.product_id else ""
        mapping = plug.mapping.name if plug.mapping is not None else "auto"
        lines.append(f"  plug {plug.name}: id {plug.device_id}, {plug.host}:{plug.port}, "
                     f"version {plug.version}, key {mask_key(plug.local_key)}, every "
                     f"{config.interval_for(plug):g} s, DPs {mapping}{extra}")
    db = config.storage.db or f"{default_db_path()} (default)"
    r = config.storage.retention
    lines.append(f"storage: {redact_url(db)}; keep raw {_days(r.raw_days)}, minutes "
                 f"{_days(r.minute_days)}, hours {_days(r.hour_days)}, days {_days(r.day_days)}")
    tariff = config.tariff
    if tariff is None:
        lines.append("tariff: none (energy costs nothing)")
    else:
        price = "" if tariff.flat_price is None else f"{tariff.flat_price:g} {tariff.currency}/kWh"
        windows = f", {len(tariff.windows)} time-of-use window(s)" if tariff.windows else ""
        lines.append(f"tariff: {price or tariff.currency}{windows}, days in {tariff.timezone}")
    gap = config.energy.max_gap_s
    lines.append(f"energy: {config.energy.method} integration, gaps over "
                 f"{'3 poll intervals (at least 60 s)' if gap is None else f'{gap:g} s'} are "
                 "offline")
    hosts = config.web.allowed_hosts
    lines.append(f"web: {format_listen(config.web.listen)}"
                 + (f" (also answers to: {', '.join(hosts)})" if hosts else ""))
    prom = config.prometheus
    places = (("the web server", prom.web and config.web.listen is not None),
              (format_listen(prom.listen), prom.listen is not None))
    where = [place for place, on in places if on]
    lines.append(f"prometheus: /metrics on {' and '.join(where)}" if where else "prometheus: off")
    lines.append(f"mqtt: {config.mqtt.url}, topics {config.mqtt.topic_prefix}/…"
                 if config.mqtt is not None else "mqtt: off")
    lines.append(f"influx: {redact_url(config.influx.target)}" if config.influx is not None
                 else "influx: off")
    return lines


@click.group("config")
def config_group() -> None:
    """Check the configuration file, or show the configuration in effect."""


@config_group.command("check")
@config_option()
def check_command(config_path: Path | None) -> None:
    """Validate the configuration and print what `powermonitor run` would do with it."""

    config = load_config(config_path)
    config.require_plugs()  # as `run` does: a file that passes starts
    for line in check_lines(config):
        click.echo(line)
    click.echo("ok")


@config_group.command("show")
@config_option()
def show_command(config_path: Path | None) -> None:
    """Print the effective configuration as TOML: defaults filled in, environment overrides
    applied, local keys, passwords and tokens masked."""

    click.echo(show_config(load_config(config_path)), nl=False)
