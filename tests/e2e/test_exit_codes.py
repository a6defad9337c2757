"""Diagnosis through the real ``powermonitor poll``: each simulator fault gives its own exit code
and one line that blames the right thing, on 3.3, 3.4, 3.5 and with version detection."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

from powermonitor.errors import (
    EXIT_INTERRUPTED,
    LocalProtocolError,
    PlugBusyError,
    PowermonitorError,
)

from .conftest import Simulator, command, run

VERSIONS = ["3.3", "3.4", "3.5"]

# fault -> (exit code, what the one line must say)
EXPECTED = {
    "busy": (8, ("busy: the plug at .* closed the connection without answering: another app may "
                 "be connected — close Smart Life/Home Assistant/powermonitor run, or poll "
                 "through it")),
    "silent": (4, "no answer|never answered"),
    "wrong-key": (5, "integrity|key is wrong|version is wrong"),
    "junk": (7, "not whole Tuya frames"),
}


def poll(dev: dict[str, object], version: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run("powermonitor", "poll", str(dev["id"]), "127.0.0.1", str(dev["key"]), version,
               "--port", str(dev["port"]), "--timeout", "0.4", "--retries", "0", *extra)


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(EXPECTED))
def test_fault_gives_its_exit_code_on_every_version_and_auto(tmp_path: Path, fault: str) -> None:
    sim = Simulator(tmp_path, "--count", "3", "--protocol", ",".join(VERSIONS), "--fault", fault)
    code, pattern = EXPECTED[fault]
    try:
        for dev in sim.devices:
            for version in (str(dev["version"]), "auto"):
                result = poll(dev, version)
                where = f"{fault} {dev['version']} as {version}: {result.stderr}"
                assert result.returncode == code, where
                lines = result.stderr.strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("error: "), where
                assert re.search(pattern, lines[0]), where
                assert "Traceback" not in result.stderr
                assert str(dev["key"]) not in result.stderr
                if fault == "silent" and version == "auto":  # the timeout really used
                    assert "within 0.4 s per version" in lines[0], where
                if fault in ("silent", "busy", "junk"):
                    assert "local key" not in lines[0], where  # the key is not to blame
    finally:
        assert sim.stop() == 0


@pytest.mark.slow
def test_busy_because_another_client_holds_the_plug(tmp_path: Path) -> None:
    """The real-life case: ``run`` (here a first poller) holds the plug's only connection."""
    sim = Simulator(tmp_path, "--count", "1", "--protocol", "3.4")
    dev = sim.devices[0]
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(dev["id"]), str(dev["key"]), str(dev["port"])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "connected", holder.stderr
        result = poll(dev, "3.4")
        assert result.returncode == 8, result.stderr
        assert "another app may be connected" in result.stderr
    finally:
        holder.kill()
        holder.communicate()
        assert sim.stop() == 0


HOLD = """
import asyncio, sys
from powermonitor import TuyaDevice

async def main():
    async with TuyaDevice(sys.argv[1], "127.0.0.1", sys.argv[2], "3.4", port=int(sys.argv[3])) as d:
        await d.status()
        print("connected", flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


@pytest.mark.slow
def test_dp_flood_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    """A plug pushing ever-new DP ids: exit 7 at once, memory bounded (was 1.6 GB in 10 s)."""
    sim = Simulator(tmp_path, "--count", "2", "--protocol", "3.3,3.5", "--fault", "dp-flood")
    try:
        for dev in sim.devices:
            measured = subprocess.run(
                [sys.executable, "-c", MAXRSS, *command("powermonitor"), "poll", str(dev["id"]),
                 "127.0.0.1", str(dev["key"]), str(dev["version"]), "--port", str(dev["port"]),
                 "--retries", "0"],
                check=False, capture_output=True, text=True, timeout=60,
            )
            assert measured.returncode == 7, measured.stderr
            assert "more than 255 different data points" in measured.stderr
            maxrss_kb = int(measured.stdout.strip().splitlines()[-1])
            assert maxrss_kb < 200_000, maxrss_kb
    finally:
        assert sim.stop() == 0


MAXRSS = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)
"""


def _error_classes() -> list[type[PowermonitorError]]:
    """Every error class of the package (modules named ``errors`` hold them)."""
    import powermonitor

    for info in pkgutil.walk_packages(powermonitor.__path__, "powermonitor."):
        if info.name.rsplit(".", 1)[-1] == "errors":
            importlib.import_module(info.name)
    found, todo = [], [PowermonitorError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_readme_documents_every_exit_code() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    table = dict(re.findall(r"^\| (\d+) \| ([^|]+) \|", readme, re.MULTILINE))
    codes = {cls.exit_code for cls in _error_classes()}
    assert set(map(int, table)) == codes | {0, EXIT_INTERRUPTED}
    assert LocalProtocolError.exit_code in codes  # a bug, still documented
    assert "busy" in table["8"] and 8 == PlugBusyError.exit_code
