"""Drive the real ``powermonitor`` command against ``powermonitor simulate``, as users do."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def command(name: str) -> list[str]:
    """The installed console script, or the module form when scripts are not on PATH."""
    path = shutil.which(name)
    if path:
        return [path]
    module = {"powermonitor": "powermonitor.cli.main:main",
              "plugpower": "powermonitor.cli.main:plugpower_main",
              "plugjson": "powermonitor.cli.main:plugjson_main"}[name]
    mod, fn = module.split(":")
    return [sys.executable, "-c", f"import sys; from {mod} import {fn}; sys.argv[0]={name!r}; {fn}()"]


def run(name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 30
        ) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PLUG")}
    full_env.update(env or {})
    return subprocess.run([*command(name), *args], check=False, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


class Simulator:
    """``powermonitor simulate`` in a subprocess; stopped with SIGTERM."""

    def __init__(self, tmp: Path, *args: str) -> None:
        self.devices_file = tmp / "devices.json"
        self.proc = subprocess.Popen(
            [*command("powermonitor"), "simulate", "--devices-file", str(self.devices_file), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 30
        while not self.devices_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                out, err = self.proc.communicate(timeout=5)
                raise AssertionError(f"simulator did not start: {out}\n{err}")
            time.sleep(0.05)
        self.devices: list[dict[str, Any]] = json.loads(self.devices_file.read_text())
        self.out = ""  # its stdout, once stopped

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.out = self.proc.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
        return self.proc.returncode


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    tmp = tmp_path_factory.mktemp("sim")
    s = Simulator(tmp, "--count", "6", "--protocol", "3.1,3.2,3.3,3.4,3.5,3.5",
                  "--layout", "cz,legacy,strip4,switch20,nopower,cz",
                  "--profile", "constant:1210:0.95", "--device22", "6")
    yield s
    assert s.stop() == 0
