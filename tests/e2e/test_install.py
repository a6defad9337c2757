"""``./run``'s install path up to pip: the checks that tell a new user what to install.

The full path (a fresh virtual environment on Debian's own python3, pip, ``demo --once``) runs in
CI (``.ci/run``); here an interpreter that lacks ``venv``/``ensurepip`` or is too old is a small
wrapper around this one, so the messages are checked without touching the network.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def fake_python(tmp_path: Path, refuse: str) -> Path:
    """A python3 that fails any ``-c`` snippet containing ``refuse`` (as a stock one would)."""
    path = tmp_path / "python3"
    path.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *"{refuse}"*) exit 1 ;; esac\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    path.chmod(0o755)
    return path


def run_script(tmp_path: Path, python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": str(python), "VENV": str(tmp_path / "venv")}
    return subprocess.run([str(ROOT / "run"), *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def test_missing_venv_module_says_what_to_install(tmp_path: Path) -> None:
    result = run_script(tmp_path, fake_python(tmp_path, "ensurepip"), "demo", "--once")
    assert result.returncode == 1
    assert "sudo apt install python3-venv" in result.stderr
    assert f"python{sys.version_info[0]}.{sys.version_info[1]}-venv" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not (tmp_path / "venv").exists()


def test_too_old_python_is_refused(tmp_path: Path) -> None:
    result = run_script(tmp_path, fake_python(tmp_path, "version_info < (3, 11)"), "demo")
    assert result.returncode == 1 and "needs Python 3.11 or newer" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_missing_interpreter_and_unknown_command(tmp_path: Path) -> None:
    result = run_script(tmp_path, tmp_path / "nope", "demo")
    assert result.returncode == 1 and "not found" in result.stderr
    usage = run_script(tmp_path, Path(sys.executable), "frobnicate")
    assert usage.returncode == 2 and "usage: ./run demo|test|bench" in usage.stderr


@pytest.mark.parametrize("name", ["run", ".ci/run", "scripts/install-test-deps.sh"])
def test_scripts_are_valid_bash(name: str) -> None:
    assert subprocess.run(["bash", "-n", str(ROOT / name)], check=False).returncode == 0


def test_ci_walks_the_system_python_install_path() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./run test -q -p no:cacheprovider" in ci
    assert "PYTHON=/usr/bin/python3" in ci and "./run demo --once" in ci
