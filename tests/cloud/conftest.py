"""Helpers for the wizard tests: the real CLI in a subprocess, simulated plugs beaconing on
loopback for ``--scan``."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from beaconing import beaconing_fleet
from click.testing import CliRunner

from powermonitor.cli.main import cli
from powermonitor.simulator.plug import PlugSpec
from powermonitor.simulator.server import Fleet

LOOP = "127.0.0.1"


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("POWERMONITOR_", "PLUG"))}
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def wizard(*args: str, env: dict[str, str] | None = None, input: str | None = None,
           process: bool = False) -> subprocess.CompletedProcess[str]:
    """The CLI in this process (the error boundary, exit code and both streams, as a user
    sees them), or with ``process`` in a subprocess: for what only a process shows (its log
    output, a hidden import). wizard_async covers the whole process path end to end."""
    env = env or cli_env()
    if process:
        return subprocess.run([sys.executable, "-m", "powermonitor", *args], check=False,
                              capture_output=True, text=True, timeout=60, env=env, input=input)
    unset: dict[str, str | None] = {k: None for k in os.environ if k not in env}
    result = CliRunner().invoke(cli, list(args), env={**unset, **env}, input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout,
                                       result.stderr)


async def wizard_async(*args: str, env: dict[str, str] | None = None
                       ) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess without blocking this loop (which serves the simulated plugs)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "powermonitor", *args, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=env or cli_env())
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(list(args), proc.returncode, out.decode(), err.decode())


@dataclass
class Lan:
    fleet: Fleet
    ports: list[int]

    def scan_args(self, duration: float = 1.5) -> list[str]:
        return ["--scan", "--scan-duration", str(duration), "--scan-listen-host", LOOP,
                *[a for p in self.ports for a in ("--scan-port", str(p))]]


# Real-world key shapes: punctuation, and a '<' that the cloud JSON-escapes.
LAN_SPECS = [
    PlugSpec(device_id="bf0000000000000000a1", local_key="k<ey+One`^$0123x", version="3.4",
             name="kettle", profile="constant:1500"),
    PlugSpec(device_id="bf0000000000000000b2", local_key="Zy(x)w<v+u`t^s$r", version="3.3",
             name="fridge", profile="constant:80"),
]


@pytest.fixture
async def lan() -> AsyncIterator[Lan]:
    async with beaconing_fleet(LAN_SPECS, 2) as (fleet, ports):
        yield Lan(fleet, ports)
