"""The ``powermonitor`` command line (and the old ``plugpower`` / ``plugjson`` entry points).

Every entry point restores default signal handling first and runs under one error boundary
(:class:`~powermonitor.cli.runtime.ErrorBoundary`), so errors look the same in every command.
A subcommand's module is imported when that command runs (or help lists it), not at start:
``powermonitor poll`` does not pay for the service, the demo or the cloud wizards.
"""

from __future__ import annotations

import importlib
from typing import Final

import click

from .. import __version__
from . import runtime
from .options import debug_option

COMMANDS: Final[dict[str, str]] = {
    "alerts": "insight:alerts_group",
    "config": "config_cmd:config_group",
    "cycles": "insight:cycles_command",
    "demo": "demo:demo_command",
    "devices": "devices:devices_group",
    "doctor": "doctor:doctor_command",
    "energy": "energy:energy_command",
    "export": "energy:export_command",
    "history": "energy:history_command",
    "poll": "poll:poll_command",
    "report": "insight:report_command",
    "run": "run:run_command",
    "scan": "scan:scan_command",
    "simulate": "simulate:simulate_command",
    "switch": "switch:switch_command",
    "watch": "watch:watch_command",
    "wizard": "wizard:wizard_group",
}
"""Subcommand name → ``module:attribute`` in this package."""


def load(target: str) -> click.Command:
    """The command object named by a ``module:attribute`` of :data:`COMMANDS`."""
    module, attribute = target.split(":")
    command: click.Command = getattr(importlib.import_module(f".{module}", __package__),
                                     attribute)
    return command


class LazyGroup(runtime.ErrorBoundaryGroup):
    """The root group: subcommands from :data:`COMMANDS`, imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        return None if target is None else load(target)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="powermonitor")
@debug_option()
@click.option("-v", "--verbose", count=True, help="More log output.")
def cli(debug: bool, verbose: int) -> None:
    """See, record and understand what your Tuya WiFi smart plugs draw."""
    runtime.setup_logging(debug, verbose)


def main() -> None:
    runtime.restore_default_signals()
    cli(prog_name="powermonitor")


def plugpower_main() -> None:
    runtime.restore_default_signals()
    load("poll:plugpower_command")(prog_name="plugpower")


def plugjson_main() -> None:
    runtime.restore_default_signals()
    load("poll:plugjson_command")(prog_name="plugjson")
