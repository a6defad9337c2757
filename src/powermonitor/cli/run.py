"""``powermonitor run``: the long-running service (watch, store, integrate energy, serve).

Runs until SIGINT/SIGTERM, then stops polling, accounts what is queued, flushes the store and
exits 0. Configuration from ``--config``/``POWERMONITOR_CONFIG``; database from
``--db``/``POWERMONITOR_DB`` (an SQLite path or a ``postgresql://`` URL).
"""

from __future__ import annotations

import click

from ..config import Config, fields, load_config
from ..config.fields import OFF
from ..errors import UsageError
from ..service import Service, ServiceOptions, open_service, run_service
from . import runtime


def parse_listen(value: str | None, option: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (``[::1]:8000`` for IPv6; ``:8000`` is 127.0.0.1); ``off`` disables."""
    if value is None or value.strip().lower() in ("", *OFF):
        return None
    try:
        return fields.parse_listen(value, option, default_host="127.0.0.1")
    except fields.FieldError:
        raise UsageError(f"{option} takes HOST:PORT (e.g. 127.0.0.1:8000), not {value!r}") from None


def announce(service: Service, options: ServiceOptions) -> None:
    plugs = len(service.config.plugs)
    click.echo(f"powermonitor: watching {plugs} plug{'s' if plugs != 1 else ''}; "
               f"database {service.db}", err=True)
    if options.listen:
        host, port = options.listen
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"dashboard: http://{shown}:{port}/", err=True)
        click.echo(f"API token (needed to switch plugs from the page or API): {service.token}",
                   err=True)


def resolve_options(config: Config, db: str | None, listen: str | None,
                    metrics_listen: str | None) -> ServiceOptions:
    """Flags win over the config (which holds the environment's overrides), the config over
    the defaults."""
    return ServiceOptions(
        db=db,
        listen=parse_listen(listen, "--listen") if listen is not None else config.web.listen,
        metrics_listen=parse_listen(metrics_listen, "--metrics-listen"),
    )


async def main(config_path: str | None, db: str | None, listen: str | None,
               metrics_listen: str | None) -> None:
    config = load_config(config_path)
    options = resolve_options(config, db, listen, metrics_listen)
    service = await open_service(config, options)
    await runtime.until_stopped(run_service(service, options, lambda s: announce(s, options)))
    stats = service.writer.stats
    click.echo(f"powermonitor: stopped; {stats.written} samples stored", err=True)


@click.command("run")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              envvar="POWERMONITOR_CONFIG", help="Configuration file.")
@click.option("--db", default=None,
              help="SQLite file or postgresql:// URL [env: POWERMONITOR_DB; default: [storage] "
                   "db, else the user's data dir].")
@click.option("--listen", default=None,
              help="Dashboard and API address, HOST:PORT or 'off' [env: POWERMONITOR_LISTEN; "
                   "default: [web] listen, else 127.0.0.1:8000].")
@click.option("--metrics-listen", default=None,
              help="Serve /metrics on a separate HOST:PORT as well [env: "
                   "POWERMONITOR_METRICS_LISTEN; default: [prometheus] listen].")
def run_command(config_path: str | None, db: str | None, listen: str | None,
                metrics_listen: str | None) -> None:
    """Run the service: watch every plug, store readings, integrate kWh and cost, serve the
    dashboard. Stops cleanly on Ctrl-C or SIGTERM."""

    def body() -> None:
        runtime.run(main(config_path, db, listen, metrics_listen))

    runtime.guarded(body)
