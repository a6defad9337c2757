"""``powermonitor run``: the long-running service (watch, store, integrate energy, serve).

Runs until SIGINT/SIGTERM, then stops polling, accounts what is queued, flushes the store and
exits 0. Configuration from ``--config``/``POWERMONITOR_CONFIG``; database from
``--db``/``POWERMONITOR_DB`` (an SQLite path or a ``postgresql://`` URL).

Before anything is printed, the listen addresses are checked (a busy port is one line naming
a free one) and the stop signals are installed. The API token is never printed: it would end
up in journald or ``docker logs``; the banner says which file holds it (beside an SQLite
database, else in the data directory).
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import click

from ..config import Config, fields, load_config
from ..config.fields import OFF
from ..errors import UsageError
from ..service import TOKEN_FILE, Service, ServiceOptions, db_from, open_service, run_service
from ..storage import default_db_path, open_store
from ..storage.sqlite import SqliteStore
from . import runtime
from .options import config_option, db_option
from .via_service import remove_record, write_record

PORT_SEARCH = 20  # free ports tried after a busy one, for the suggestion


def parse_listen(value: str | None, option: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (``[::1]:8000`` for IPv6; ``:8000`` is 127.0.0.1); ``off`` disables."""
    if value is None or value.strip().lower() in ("", *OFF):
        return None
    try:
        return fields.parse_listen(value, option, default_host="127.0.0.1")
    except fields.FieldError:
        raise UsageError(f"{option} takes HOST:PORT (e.g. 127.0.0.1:8000), not {value!r}") from None


def listen_address(config: Config, flag: str | None) -> tuple[str, int] | None:
    """``--listen`` wins over ``[web] listen`` (which holds ``$POWERMONITOR_LISTEN``), and that
    over the default 127.0.0.1:8000."""
    return parse_listen(flag, "--listen") if flag is not None else config.web.listen


def show_address(host: str, port: int) -> str:
    return fields.format_listen((host, port))


def _bindable(host: str, port: int) -> OSError | None:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as exc:
        return exc
    return None


def check_listen(address: tuple[str, int] | None, option: str) -> None:
    """Refuse a port we cannot bind, in one line naming a free one (before any banner)."""
    if address is None:
        return
    host, port = address
    problem = _bindable(host, port)
    if problem is None:
        return
    if problem.errno != errno.EADDRINUSE:
        raise UsageError(f"cannot listen on {show_address(host, port)} ({option}): "
                         f"{problem.strerror or problem}")
    free = next((p for p in range(port + 1, min(port + 1 + PORT_SEARCH, 65536))
                 if _bindable(host, p) is None), None)
    hint = f": {option} {show_address(host, free)}" if free else f": choose another {option}"
    raise UsageError(f"port {port} is in use{hint}")


def token_dir(db: str) -> Path:
    """Where the API token file lives: beside an SQLite database, else in the data directory."""
    store = open_store(db)  # unopened: only to read the path the way the store does
    if isinstance(store, SqliteStore) and not store.memory:
        return Path(store.path).expanduser().resolve().parent
    return default_db_path().parent


def announce(service: Service, options: ServiceOptions) -> None:
    plugs = len(service.config.plugs)
    click.echo(f"powermonitor: watching {plugs} plug{'s' if plugs != 1 else ''}; "
               f"database {service.db}", err=True)
    if options.listen:
        click.echo(f"dashboard: http://{show_address(*options.listen)}/", err=True)
        token_file = (options.data_dir or default_db_path().parent) / TOKEN_FILE
        click.echo(f"API token (to switch plugs from the page or API): in {token_file}", err=True)
        host, port = options.listen
        host = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
        try:  # so that `poll NAME` and `switch NAME` go through us, not around us
            write_record(token_file.parent, f"http://{show_address(host, port)}", token_file,
                         (p.device_id for p in service.config.plugs))
        except OSError as exc:
            click.echo(f"warning: cannot write the service record: {exc.strerror or exc}",
                       err=True)


async def main(config_path: Path | None, db: str | None, listen_flag: str | None,
               metrics_listen: tuple[str, int] | None) -> None:
    config = load_config(config_path)
    listen = listen_address(config, listen_flag)
    check_listen(listen, "--listen")
    check_listen(metrics_listen or config.prometheus.listen, "--metrics-listen")
    data_dir = token_dir(db_from(config, db))
    options = ServiceOptions(db=db, listen=listen, metrics_listen=metrics_listen,
                             data_dir=data_dir)
    service = await open_service(config, options)
    try:
        await runtime.until_stopped(run_service(service, options,
                                                lambda s: announce(s, options)))
    finally:
        remove_record(data_dir)
    stats = service.writer.stats
    click.echo(f"powermonitor: stopped; {stats.written} samples stored", err=True)


@click.command("run")
@config_option()
@db_option()
@click.option("--listen", default=None,
              help="Dashboard and API address, HOST:PORT or 'off' [env: POWERMONITOR_LISTEN; "
                   "default: [web] listen, else 127.0.0.1:8000].")
@click.option("--metrics-listen", default=None, envvar="POWERMONITOR_METRICS_LISTEN",
              help="Serve /metrics on a separate HOST:PORT as well "
                   "[env: POWERMONITOR_METRICS_LISTEN].")
def run_command(config_path: Path | None, db: str | None, listen: str | None,
                metrics_listen: str | None) -> None:
    """Run the service: watch every plug, store readings, integrate kWh and cost, serve the
    dashboard. Stops cleanly on Ctrl-C or SIGTERM."""
    runtime.run(main(config_path, db, listen, parse_listen(metrics_listen, "--metrics-listen")))
