"""Helpers for the wizard tests: the real CLI in a subprocess, simulated plugs beaconing on
loopback for ``--scan``."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from powermonitor.simulator.beacons import BeaconSender
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
           timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "powermonitor", *args], check=False,
                          capture_output=True,
                          text=True, timeout=timeout, env=env or cli_env(), input=input)


async def wizard_async(*args: str, env: dict[str, str] | None = None
                       ) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess without blocking this loop (which serves the simulated plugs)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "powermonitor", *args, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=env or cli_env())
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(list(args), proc.returncode, out.decode(), err.decode())


def free_udp_ports(n: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind((LOOP, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


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
    fleet = Fleet(list(LAN_SPECS))
    await fleet.start()
    ports = free_udp_ports(2)
    sender = BeaconSender(fleet, interval=0.2, port_31=ports[0], port_33=ports[1],
                          port_35=ports[1])
    await sender.start()
    try:
        yield Lan(fleet, ports)
    finally:
        await sender.stop()
        await fleet.stop()
