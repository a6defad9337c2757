"""The root group imports a subcommand's module only when that command runs or help lists it."""

from __future__ import annotations

import os
import subprocess
import sys

import click

from powermonitor.cli.main import COMMANDS, cli


def test_every_command_loads_under_its_own_name() -> None:
    ctx = click.Context(cli)
    assert cli.list_commands(ctx) == sorted(COMMANDS)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert isinstance(command, click.Command) and command.name == name
        assert cli.get_command(ctx, name) is command  # loaded once
    assert cli.get_command(ctx, "no-such-command") is None


def test_starting_the_cli_imports_no_subcommand() -> None:
    code = ("import sys, powermonitor.cli.main\n"
            "print(','.join(sorted(m for m in sys.modules if m.startswith(("
            "'powermonitor.cli.demo', 'powermonitor.service', 'powermonitor.cli.poll', "
            "'powermonitor.web', 'powermonitor.cloud')))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env=os.environ)
    assert result.stdout.strip() == ""
