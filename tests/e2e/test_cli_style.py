"""One CLI style, as a user meets it: errors are one line before any banner, signals work
however the command was started, output is rounded and carries what it should."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
from portpick import free_port

from powermonitor.cli.runtime import exit_code
from powermonitor.errors import (
    EXIT_INTERRUPTED,
    ConfigError,
    DeviceTimeoutError,
    IntegrityError,
    StorageError,
    UsageError,
)

from .conftest import Simulator, command, run

LOOP = "127.0.0.1"


class Lines:
    """A pipe read line by line in a thread, so a test can wait for a line (a real signal)."""

    def __init__(self, pipe: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(pipe,), daemon=True).start()

    def _pump(self, pipe: IO[str]) -> None:
        for line in pipe:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no such line within {timeout} s: {self.seen}") from None
            if line is None:
                raise AssertionError(f"the stream ended first: {self.seen}")
            self.seen.append(line)
            if predicate(line):
                return line

    def rest(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                return "".join(self.seen)
            self.seen.append(line)


def start(*args: str, env: dict[str, str] | None = None,
          ignore_sigint: bool = False) -> tuple[subprocess.Popen[str], Lines, Lines]:
    argv = [*command("powermonitor"), *args]
    if ignore_sigint:  # as a script's `cmd &` leaves it: the shell ignores SIGINT, then execs
        argv = ["sh", "-c", "trap '' INT; exec \"$@\"", "sh", *argv]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    assert proc.stdout is not None and proc.stderr is not None
    return proc, Lines(proc.stdout), Lines(proc.stderr)


@pytest.fixture
def silent_plug() -> Iterator[tuple[int, threading.Event]]:
    """A TCP port that accepts and never answers; the event is set when a client connected."""
    srv = socket.socket()
    srv.bind((LOOP, 0))
    srv.listen(4)
    connected = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        try:
            while True:
                conn, _ = srv.accept()
                held.append(conn)
                connected.set()
        except OSError:
            return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield srv.getsockname()[1], connected
    srv.close()
    for conn in held:
        conn.close()


@pytest.mark.parametrize("ignore_sigint", [False, True], ids=["default", "sigint-ignored"])
def test_ctrl_c_is_exit_130_even_when_the_parent_ignored_sigint(
    silent_plug: tuple[int, threading.Event], ignore_sigint: bool,
) -> None:
    port, connected = silent_plug
    proc, _, err = start("poll", "bf00000000000000beef", LOOP, "0123456789abcdef", "3.3",
                         "--port", str(port), "--timeout", "60", ignore_sigint=ignore_sigint)
    try:
        assert connected.wait(30), "the poll never connected"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == EXIT_INTERRUPTED
        text = err.rest()
        assert "interrupted" in text and "Traceback" not in text
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_simulate_stops_cleanly_right_after_announcing_readiness(tmp_path: Path) -> None:
    """The devices file is the readiness signal: a SIGTERM right after it must be handled."""
    for attempt in range(5):
        sim = Simulator(tmp_path / str(attempt), "--count", "2")
        assert sim.stop(signal.SIGTERM) == 0, attempt


def plug_config(path: Path, port: int, name: str = "ghost") -> Path:
    path.write_text(f'[[plugs]]\nname = "{name}"\nid = "bf00000000000000dead"\nhost = "{LOOP}"\n'
                    f'key = "0123456789abcdef"\nversion = "3.3"\nport = {port}\n')
    path.chmod(0o600)
    return path


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind((LOOP, 0))
        s.listen(1)
        yield int(s.getsockname()[1])


@pytest.mark.parametrize("argv", [["run"], ["demo"]])
@pytest.mark.service
def test_a_busy_listen_port_is_one_line_before_any_banner(
    argv: list[str], busy_port: int, refused_port: int, tmp_path: Path,
) -> None:
    config = plug_config(tmp_path / "c.toml", refused_port)
    extra = (["--config", str(config), "--db", str(tmp_path / "pm.db")] if argv == ["run"]
             else ["--data-dir", str(tmp_path / "demo")])
    result = run("powermonitor", *argv, "--listen", f"{LOOP}:{busy_port}", *extra, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: port {busy_port} is in use: --listen {LOOP}:")
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    suggested = int(result.stderr.strip().rsplit(":", 1)[1])
    assert suggested > busy_port
    with socket.socket() as s:
        s.bind((LOOP, suggested))  # the suggestion is a port that is free


@pytest.mark.parametrize("argv", [["energy"], ["history", "--device", "ghost"], ["export"]])
def test_read_only_commands_refuse_a_database_that_does_not_exist(
    argv: list[str], tmp_path: Path,
) -> None:
    config = plug_config(tmp_path / "c.toml", 9)
    missing = tmp_path / "typo.db"
    result = run("powermonitor", *argv, "--config", str(config), "--db", str(missing))
    assert result.returncode == StorageError.exit_code, result.stderr
    assert f"database {missing} does not exist" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not missing.exists()


def test_extreme_dates_are_one_line(tmp_path: Path) -> None:
    config = plug_config(tmp_path / "c.toml", 9)
    db = tmp_path / "pm.db"
    db.touch()
    for since in ("99999999999d", "10000-01-01", "0000-01-01"):
        result = run("powermonitor", "energy", "--since", since, "--config", str(config),
                     "--db", str(db))
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.service
def test_service_banner_names_the_token_file_beside_the_database(tmp_path: Path,
                                                                 refused_port: int) -> None:
    config = plug_config(tmp_path / "c.toml", refused_port)
    db = tmp_path / "store" / "pm.db"
    proc, _, err = start("run", "--config", str(config), "--db", str(db), "--listen",
                         f"{LOOP}:{free_port()}", env={"XDG_DATA_HOME": str(tmp_path / "xdg")})
    try:
        line = err.wait_for(lambda text: "API token" in text)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        text = err.rest()
    finally:
        proc.kill()
        proc.wait()
    token_file = db.parent / "api-token"
    assert line.strip().endswith(f"in {token_file}")
    token = token_file.read_text().strip()
    assert len(token) >= 16 and token not in text
    assert token_file.stat().st_mode & 0o077 == 0
    assert db.stat().st_mode & 0o777 == 0o600  # the database is private too
    assert not (tmp_path / "xdg").exists()
    with sqlite3.connect(db) as conn:  # and it is a real database
        assert conn.execute("PRAGMA application_id").fetchone()[0] != 0


def test_watch_json_carries_the_host_and_reports_offline_once(tmp_path: Path,
                                                              refused_port: int) -> None:
    sim = Simulator(tmp_path, "--count", "1", "--protocol", "3.3", "--profile", "constant:42")
    try:
        dev = sim.devices[0]
        config = tmp_path / "c.toml"
        config.write_text(
            f'[defaults]\npoll_interval = 1\n[[plugs]]\nname = "sim"\nid = "{dev["id"]}"\n'
            f'host = "{LOOP}"\nkey = "{dev["key"]}"\nversion = "3.3"\nport = {dev["port"]}\n'
            f'[[plugs]]\nname = "ghost"\nid = "bf00000000000000dead"\nhost = "{LOOP}"\n'
            f'key = "0123456789abcdef"\nversion = "3.3"\nport = {refused_port}\n')
        config.chmod(0o600)
        proc, out, err = start("watch", "--json", "--config", str(config))
        try:
            first = json.loads(out.wait_for(lambda text: text.startswith("{")))
            err.wait_for(lambda text: text.startswith("ghost: offline"))
            out.wait_for(lambda text: text.startswith("{"))  # polling goes on after it
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=15) == 0
            errors = err.rest()
        finally:
            proc.kill()
            proc.wait()
    finally:
        sim.stop()
    assert first["host"] == LOOP and first["name"] == "sim" and first["power"] == 42.0
    assert errors.count("ghost") == 1, errors  # not also the monitor's own log line


def test_demo_once_ends_with_a_newline() -> None:
    result = run("powermonitor", "demo", "--once", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("\n") and "Washing machine" in result.stdout


@pytest.mark.parametrize("name", ["plugpower", "plugjson", "powermonitor"])
def test_debug_adds_the_traceback_everywhere(name: str, refused_port: int) -> None:
    argv = ["bf00000000000000beef", LOOP, "0123456789abcdef", "3.3", "--port",
            str(refused_port), "--retries", "0"]
    if name == "powermonitor":
        argv = ["poll", *argv]
    plain = run(name, *argv)
    assert plain.returncode == 3 and plain.stderr.count("\n") == 1
    assert plain.stderr.startswith("error: ")
    debug = run(name, "--debug", *argv)
    assert debug.returncode == 3 and "Traceback" in debug.stderr
    by_env = run(name, *argv, env={"POWERMONITOR_DEBUG": "1"})
    assert by_env.returncode == 3 and "Traceback" in by_env.stderr


def test_json_and_csv_options_have_environment_variables(tmp_path: Path) -> None:
    config = plug_config(tmp_path / "c.toml", 9)
    db = tmp_path / "pm.db"
    db.touch()
    as_json = run("powermonitor", "energy", "--config", str(config), "--db", str(db),
                  env={"POWERMONITOR_JSON": "1"})
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == []
    as_csv = run("powermonitor", "energy", "--config", str(config), "--db", str(db),
                 env={"POWERMONITOR_CSV": "1"})
    assert as_csv.returncode == 0
    assert as_csv.stdout.startswith("id,name,start,end,kwh,cost,currency,covered_s,coverage")
    both = run("powermonitor", "energy", "--config", str(config), "--db", str(db), "--json",
               "--csv")
    assert both.returncode == 2 and "choose one of --json and --csv" in both.stderr


@pytest.mark.parametrize(("exc", "code"), [
    (UsageError("x"), 2), (ConfigError("x"), 2), (DeviceTimeoutError("x"), 4),
    (IntegrityError("x"), 5), (StorageError("x"), 9), (KeyboardInterrupt(), 130),
    (RuntimeError("a bug"), 1),
])
def test_exit_codes_follow_the_error_type(exc: BaseException, code: int) -> None:
    assert exit_code(exc) == code
