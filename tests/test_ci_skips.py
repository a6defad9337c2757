"""Under CI nothing is skipped for want of a service or a dependency (tests/conftest.py): a
skipif mark, a runtime skip and a module-level importorskip all fail there, and skip elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

CONFTEST = f"""
import importlib.util
spec = importlib.util.spec_from_file_location("pm_conftest", {str(TESTS / "conftest.py")!r})
pm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pm)
pytest_make_collect_report = pm.pytest_make_collect_report
pytest_runtest_makereport = pm.pytest_runtest_makereport
"""
CASES = """
import pytest
@pytest.mark.skipif(True, reason="no chromium")
def test_marked(): pass
def test_runtime(): pytest.skip("no mosquitto")
def test_fine(): pass
"""
MODULE = 'import pytest\npytest.importorskip("no_such_module_anywhere")\ndef test_x(): pass\n'


@pytest.mark.parametrize("ci", ["", "true"])
def test_a_skip_fails_only_under_ci(tmp_path: Path, ci: str) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_cases.py").write_text(CASES)
    (tmp_path / "test_module.py").write_text(MODULE)
    env = {**os.environ, "CI": ci, "PYTHONPATH": os.pathsep.join(
        [str(TESTS), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "--continue-on-collection-errors", "--rootdir", str(tmp_path), "-c", os.devnull,
         str(tmp_path)],
        check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    last = result.stdout.strip().splitlines()[-1]
    if ci:
        assert result.returncode == 1, result.stdout
        assert "1 failed, 1 passed, 2 errors" in last, result.stdout
        assert "skipped under CI" in result.stdout and "skipped" not in last
    else:
        assert result.returncode == 0, result.stdout
        assert "1 passed, 3 skipped" in last, result.stdout
