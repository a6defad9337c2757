"""``powermonitor run``: the long-running service (watch, store, integrate energy, serve).

Runs until SIGINT/SIGTERM, then stops polling, accounts what is queued, flushes the store and
exits 0. Configuration from ``--config``/``POWERMONITOR_CONFIG``; database from
``--db``/``POWERMONITOR_DB`` (an SQLite path or a ``postgresql://`` URL).
"""

from __future__ import annotations

import click

from ..config import load_config
from ..errors import UsageError
from ..service import Service, ServiceOptions, open_service, run_service
from . import runtime


def parse_listen(value: str | None, option: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (``[::1]:8000`` for IPv6); ``off`` disables."""
    if value is None or value.lower() in ("", "off", "none"):
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{option} takes HOST:PORT (e.g. 127.0.0.1:8000), not {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def announce(service: Service, options: ServiceOptions) -> None:
    plugs = len(service.config.plugs)
    click.echo(f"powermonitor: watching {plugs} plug{'s' if plugs != 1 else ''}; "
               f"database {service.extras.get('db', '')}", err=True)
    if options.listen:
        host, port = options.listen
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"dashboard: http://{shown}:{port}/", err=True)
        click.echo(f"API token (needed to switch plugs from the page or API): {service.token}",
                   err=True)


async def main(config_path: str | None, options: ServiceOptions) -> None:
    config = load_config(config_path)
    service = await open_service(config, options)
    await runtime.until_stopped(run_service(service, options, lambda s: announce(s, options)))
    stats = service.writer.stats
    click.echo(f"powermonitor: stopped; {stats.written} samples stored", err=True)


@click.command("run")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              envvar="POWERMONITOR_CONFIG", help="Configuration file.")
@click.option("--db", default=None, envvar="POWERMONITOR_DB",
              help="SQLite file or postgresql:// URL [default: the user's data dir].")
@click.option("--listen", default="127.0.0.1:8000", envvar="POWERMONITOR_LISTEN", show_default=True,
              help="Dashboard and API address (HOST:PORT, or 'off').")
@click.option("--metrics-listen", default=None, envvar="POWERMONITOR_METRICS_LISTEN",
              help="Serve /metrics on a separate HOST:PORT as well.")
def run_command(config_path: str | None, db: str | None, listen: str,
                metrics_listen: str | None) -> None:
    """Run the service: watch every plug, store readings, integrate kWh and cost, serve the
    dashboard. Stops cleanly on Ctrl-C or SIGTERM."""

    def body() -> None:
        options = ServiceOptions(db=db, listen=parse_listen(listen, "--listen"),
                                 metrics_listen=parse_listen(metrics_listen, "--metrics-listen"))
        runtime.run(main(config_path, options))

    runtime.guarded(body)
