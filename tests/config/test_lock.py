"""Read-modify-write of the config file is locked: parallel ``devices add`` processes all land."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from powermonitor.config import load_config

PROCESSES = 20
CALL = "from powermonitor.cli.main import main; main()"


@pytest.mark.slow
def test_twenty_parallel_devices_add_processes_are_all_saved(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    env = {**os.environ, "POWERMONITOR_CONFIG": str(path), "HOME": str(tmp_path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CALL, "devices", "add", f"plug{n}", f"bf{n:018d}",
             f"10.0.0.{n + 1}", f"{n:016d}", "--version", "3.3"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for n in range(PROCESSES)
    ]
    results = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * PROCESSES, results
    assert all(out.startswith("added plug") for out, _ in results)
    config = load_config(path)
    assert sorted(p.name for p in config.plugs) == sorted(f"plug{n}" for n in range(PROCESSES))
    assert path.stat().st_mode & 0o777 == 0o600
    lock = tmp_path / ".config.toml.lock"
    assert lock.exists() and lock.stat().st_mode & 0o777 == 0o600
