"""Options shared by the commands: one spelling, one environment variable, one help text each.

``--config`` (``POWERMONITOR_CONFIG``), ``--db`` (``POWERMONITOR_DB``), ``--json``
(``POWERMONITOR_JSON``) and ``--csv`` (``POWERMONITOR_CSV``), ``--debug``
(``POWERMONITOR_DEBUG``). A command that reads its configuration (everything but ``devices``
edits, which create the file) requires an explicitly named file to exist: a typo must not
silently run with no plugs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import click
from click.core import ParameterSource

from ..config import CONFIG_ENV
from ..errors import UsageError

DB_ENV = "POWERMONITOR_DB"
JSON_ENV = "POWERMONITOR_JSON"
CSV_ENV = "POWERMONITOR_CSV"
DEBUG_ENV = "POWERMONITOR_DEBUG"

Format = Literal["table", "json", "csv"]
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def require_config(path: Path | None) -> None:
    """Refuse an explicitly named config file that does not exist (the default may be absent)."""
    if path is None or path.exists():
        return
    ctx = click.get_current_context(silent=True)
    from_env = ctx is not None and ctx.get_parameter_source("config_path") is \
        ParameterSource.ENVIRONMENT
    raise UsageError(f"config file {path} does not exist ({CONFIG_ENV if from_env else '--config'})"
                     "; `powermonitor devices add` creates one")


def _config_must_exist(ctx: click.Context, param: click.Parameter, value: Path | None
                       ) -> Path | None:
    require_config(value)
    return value


def config_option(*, must_exist: bool = True) -> Decorator:
    """``--config PATH`` → parameter ``config_path`` (a Path or None for the default file)."""
    return click.option(
        "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
        envvar=CONFIG_ENV, default=None,
        callback=_config_must_exist if must_exist else None,
        help=f"Config file [env: {CONFIG_ENV}; default: "
             "$XDG_CONFIG_HOME/powermonitor/config.toml].",
    )


def db_option(*, read_only: bool = False) -> Decorator:
    """``--db`` → parameter ``db``: an SQLite path or a postgresql:// URL."""
    more = " Must exist: this command only reads." if read_only else ""
    return click.option(
        "--db", default=None, envvar=DB_ENV,
        help=f"SQLite file or postgresql:// URL [env: {DB_ENV}; default: [storage] db in the "
             f"config, else the user's data dir].{more}",
    )


def debug_option() -> Decorator:
    return click.option("--debug", is_flag=True, envvar=DEBUG_ENV,
                        help=f"Log protocol details and show tracebacks [env: {DEBUG_ENV}].")


def output_format(as_json: bool, as_csv: bool) -> Format:
    if as_json and as_csv:
        raise UsageError("choose one of --json and --csv")
    return "json" if as_json else "csv" if as_csv else "table"


def output_options(*, csv: bool = True, json_help: str = "Print JSON instead of a table.",
                   json_envvars: tuple[str, ...] = ()) -> Decorator:
    """``--json`` (and ``--csv``) → one parameter ``fmt``: "table", "json" or "csv"."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, as_json: bool = False, as_csv: bool = False, **kwargs: Any) -> Any:
            return fn(*args, fmt=output_format(as_json, as_csv), **kwargs)

        command: Callable[..., Any] = wrapper
        if csv:
            command = click.option("--csv", "as_csv", is_flag=True, envvar=CSV_ENV,
                                   help=f"CSV with a header row [env: {CSV_ENV}].")(command)
        envvars = [JSON_ENV, *json_envvars]
        return click.option("--json", "as_json", is_flag=True, envvar=envvars,
                            help=f"{json_help} [env: {', '.join(envvars)}]")(command)

    return decorate


__all__ = ["CSV_ENV", "DB_ENV", "DEBUG_ENV", "JSON_ENV", "Format", "config_option", "db_option",
           "debug_option", "output_format", "output_options", "require_config"]
