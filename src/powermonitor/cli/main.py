"""The ``powermonitor`` command line (and the old ``plugpower`` / ``plugjson`` entry points).

Every entry point restores default signal handling first and runs under one error boundary
(:class:`~powermonitor.cli.runtime.ErrorBoundary`), so errors look the same in every command.
"""

from __future__ import annotations

import click

from .. import __version__
from . import runtime
from .config_cmd import config_group
from .demo import demo_command
from .devices import devices_group
from .doctor import doctor_command
from .energy import energy_command, export_command, history_command
from .insight import alerts_group, cycles_command, report_command
from .options import debug_option
from .poll import plugjson_command, plugpower_command, poll_command
from .run import run_command
from .scan import scan_command
from .simulate import simulate_command
from .switch import switch_command
from .watch import watch_command
from .wizard import wizard_group


@click.group(cls=runtime.ErrorBoundaryGroup,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="powermonitor")
@debug_option()
@click.option("-v", "--verbose", count=True, help="More log output.")
def cli(debug: bool, verbose: int) -> None:
    """See, record and understand what your Tuya WiFi smart plugs draw."""
    runtime.setup_logging(debug, verbose)


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
cli.add_command(doctor_command)
cli.add_command(switch_command)
cli.add_command(wizard_group)
cli.add_command(alerts_group)
cli.add_command(cycles_command)
cli.add_command(report_command)


def main() -> None:
    runtime.restore_default_signals()
    cli(prog_name="powermonitor")


def plugpower_main() -> None:
    runtime.restore_default_signals()
    plugpower_command(prog_name="plugpower")


def plugjson_main() -> None:
    runtime.restore_default_signals()
    plugjson_command(prog_name="plugjson")
