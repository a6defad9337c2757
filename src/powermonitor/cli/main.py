"""The ``powermonitor`` command line (and the old ``plugpower`` / ``plugjson`` entry points).

Every entry point restores default signal handling first and runs under one error boundary
(:class:`~powermonitor.cli.runtime.ErrorBoundary`), so errors look the same in every command.
"""

from __future__ import annotations

import importlib

import click

from .. import __version__
from . import runtime
from .options import debug_option

COMMANDS: dict[str, tuple[str, str]] = {
    "alerts": ("insight", "alerts_group"),
    "config": ("config_cmd", "config_group"),
    "cycles": ("insight", "cycles_command"),
    "demo": ("demo", "demo_command"),
    "devices": ("devices", "devices_group"),
    "doctor": ("doctor", "doctor_command"),
    "energy": ("energy", "energy_command"),
    "export": ("energy", "export_command"),
    "history": ("energy", "history_command"),
    "poll": ("poll", "poll_command"),
    "report": ("insight", "report_command"),
    "run": ("run", "run_command"),
    "scan": ("scan", "scan_command"),
    "simulate": ("simulate", "simulate_command"),
    "switch": ("switch", "switch_command"),
    "watch": ("watch", "watch_command"),
    "wizard": ("wizard", "wizard_group"),
}
"""Each command's module (in this package) and object: imported when the command runs.

Importing every command's dependencies (the service, the web app, HTTP clients, the simulator)
took most of a short command's time, e.g. half a second of ``powermonitor energy``
(bench/README.md, "Storage")."""


class LazyGroup(runtime.ErrorBoundaryGroup):
    """The root group, loading a command's module only when that command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands.keys() | COMMANDS.keys())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is None and cmd_name in COMMANDS:
            module, name = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(f"{__package__}.{module}"), name)
            assert isinstance(command, click.Command)
            self.add_command(command, cmd_name)
        return command


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
    from .poll import plugpower_command

    runtime.restore_default_signals()
    plugpower_command(prog_name="plugpower")


def plugjson_main() -> None:
    from .poll import plugjson_command

    runtime.restore_default_signals()
    plugjson_command(prog_name="plugjson")
