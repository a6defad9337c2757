"""The ``powermonitor`` command line (and the old ``plugpower`` / ``plugjson`` entry points)."""

from __future__ import annotations

import click

from .. import __version__
from . import runtime
from .config_cmd import config_group
from .demo import demo_command
from .devices import devices_group
from .energy import energy_command, export_command, history_command
from .poll import plugjson_command, plugpower_command, poll_command
from .run import run_command
from .scan import scan_command
from .simulate import simulate_command
from .watch import watch_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="powermonitor")
@click.option("--debug", is_flag=True, envvar="POWERMONITOR_DEBUG",
              help="Log protocol details and show tracebacks.")
@click.option("-v", "--verbose", count=True, help="More log output.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: int) -> None:
    """See, record and understand what your Tuya WiFi smart plugs draw."""
    runtime.setup_logging(debug, verbose)
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


cli.add_command(poll_command)
cli.add_command(simulate_command)
cli.add_command(demo_command)
cli.add_command(devices_group)
cli.add_command(config_group)
cli.add_command(run_command)
cli.add_command(energy_command)
cli.add_command(history_command)
cli.add_command(export_command)
cli.add_command(scan_command)
cli.add_command(watch_command)


def main() -> None:
    cli(prog_name="powermonitor")


def plugpower_main() -> None:
    runtime.setup_logging(False)
    plugpower_command(prog_name="plugpower")


def plugjson_main() -> None:
    runtime.setup_logging(False)
    plugjson_command(prog_name="plugjson")
