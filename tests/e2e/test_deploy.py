"""deploy/ as shipped: the example config passes ``config check`` with the compose environment,
the container's command line (compose's ``command``, no ``--listen``) serves where compose
publishes and Prometheus scrapes, and the scrape target names the compose service and port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped,unused-ignore]
from portpick import free_port

from powermonitor.config import parse_config

from .conftest import Simulator, command, run

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
EXAMPLE = DEPLOY / "config.example.toml"
EXAMPLE_LISTEN = 'listen = "0.0.0.0:8000"'


def compose_service() -> dict[str, Any]:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    service: dict[str, Any] = compose["services"]["powermonitor"]
    return service


def with_its_plug(tmp_path: Path) -> Path:
    """The example with its commented-out plug written in, as deploy/README.md asks."""
    lines = EXAMPLE.read_text().splitlines(keepends=True)
    start = lines.index("# [[plugs]]\n")
    end = lines.index("\n", start)
    lines[start:end] = [line.removeprefix("# ") for line in lines[start:end]]
    path = tmp_path / "config.toml"
    path.write_text("".join(lines))
    path.chmod(0o600)
    return path


def test_example_config_passes_config_check_with_the_compose_environment(tmp_path: Path
                                                                         ) -> None:
    env = {k: str(v) for k, v in compose_service()["environment"].items()}
    env["POWERMONITOR_CONFIG"] = str(EXAMPLE)
    as_shipped = run("powermonitor", "config", "check", env=env)
    assert as_shipped.returncode == 2  # no plugs: refused, as `run` refuses it
    assert as_shipped.stderr.startswith("error: no plugs configured: add one with")
    env["POWERMONITOR_CONFIG"] = str(with_its_plug(tmp_path))
    result = run("powermonitor", "config", "check", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("  plug fridge: id bf1f6d1e0f8c3a2b4d5e") for line in lines)
    assert "web: 0.0.0.0:8000" in lines
    assert "storage: /data/powermonitor.db; keep raw 14 d, minutes 90 d, hours forever, days " \
           "forever" in lines
    assert "prometheus: /metrics on the web server" in lines
    assert "mqtt: mqtt://mosquitto:1883, topics powermonitor/…" in lines
    assert lines[-1] == "ok"
    # Without the compose environment the [mqtt] section has no URL: refused, file and line.
    bare = run("powermonitor", "config", "check", "--config", str(EXAMPLE),
               env={"POWERMONITOR_MQTT_URL": ""})
    assert bare.returncode == 2
    line = EXAMPLE.read_text().splitlines().index("[mqtt]") + 1
    assert bare.stderr.strip() == (
        f"error: {EXAMPLE}:{line}: [mqtt] 'url' is missing: set url = \"mqtt://HOST:1883\" "
        "(or the POWERMONITOR_MQTT_URL environment variable)")


def test_prometheus_scrapes_the_compose_service_where_the_example_listens() -> None:
    service = compose_service()
    env = {k: str(v) for k, v in service["environment"].items()}
    config = parse_config(EXAMPLE.read_text(), EXAMPLE, env)
    assert config.web.listen is not None
    host, port = config.web.listen
    assert host == "0.0.0.0"  # inside a container: reachable through the bridge network
    published = {int(p.split(":")[1]) for p in service["ports"]}
    assert port in published
    assert config.prometheus.web  # /metrics is served by the web server on that port
    prometheus = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    job = prometheus["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == [f"powermonitor:{port}"]
    assert service["command"] == ["powermonitor", "run"]  # no --listen: [web] listen decides


def _serve(tmp_path: Path, sim: Simulator, argv: list[str], listen_line: str | None,
           env: dict[str, str], expected: str, check: Any = None) -> None:
    """Start ``argv`` with the example config (its listen line replaced by ``listen_line``,
    or dropped with its section when None) plus one simulated plug; check the banner names
    ``expected`` and /metrics answers there; stop with SIGTERM (exit 0)."""
    text = EXAMPLE.read_text()
    assert EXAMPLE_LISTEN in text
    if listen_line is None:
        start = text.index("[web]")
        text = text[:start] + text[text.index("[mqtt]"):]
    else:
        text = text.replace(EXAMPLE_LISTEN, listen_line)
    device = sim.devices[0]
    text += (f'\n[[plugs]]\nname = "{device["name"]}"\nid = "{device["id"]}"\n'
             f'host = "127.0.0.1"\nport = {device["port"]}\nkey = "{device["key"]}"\n'
             f'version = "{device["version"]}"\n')
    config = tmp_path / "config.toml"
    config.write_text(text)
    config.chmod(0o600)
    full = {k: v for k, v in os.environ.items() if not k.startswith(("PLUG", "POWERMONITOR"))}
    full.update({k: str(v) for k, v in compose_service()["environment"].items()})
    full.update({"POWERMONITOR_CONFIG": str(config), "XDG_DATA_HOME": str(tmp_path / "data"),
                 "POWERMONITOR_DB": str(tmp_path / "pm.db"),
                 "POWERMONITOR_MQTT_URL": f"mqtt://127.0.0.1:{free_port()}", **env})
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=full)
    try:
        assert proc.stderr is not None
        banner = [proc.stderr.readline() for _ in range(2)]
        assert banner[1].strip() == f"dashboard: http://{expected}/", banner
        assert "powermonitor_" in _get_metrics(expected)
        if check is not None:
            check(expected)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


@pytest.mark.service
def test_the_compose_command_serves_metrics_where_the_config_says(tmp_path: Path) -> None:
    """Compose's argv with the example config, moved to loopback and a free port (and the
    broker to a closed loopback port): the service listens where [web] listen says."""
    sim = Simulator(tmp_path, "--count", "1", "--protocol", "3.3")
    try:
        port = free_port()
        argv = compose_service()["command"]
        _serve(tmp_path, sim, [*command(argv[0]), *argv[1:]], f'listen = "127.0.0.1:{port}"',
               {}, f"127.0.0.1:{port}")
    finally:
        sim.stop()


@pytest.mark.service
def test_the_entrypoint_honours_web_listen_and_the_environment(tmp_path: Path) -> None:
    """The image's entry point without a command: [web] listen decides; POWERMONITOR_LISTEN
    wins over it."""
    sim = Simulator(tmp_path, "--count", "1", "--protocol", "3.3")
    entrypoint = ["sh", str(ROOT / "docker" / "entrypoint.sh")]
    try:
        port = free_port()
        _serve(tmp_path, sim, entrypoint, f'listen = "127.0.0.1:{port}"', {},
               f"127.0.0.1:{port}")
        other = free_port()
        _serve(tmp_path, sim, entrypoint, None, {"POWERMONITOR_LISTEN": f"127.0.0.1:{other}"},
               f"127.0.0.1:{other}")
    finally:
        sim.stop()


@pytest.mark.service
def test_the_compose_healthcheck_passes_while_the_service_records(tmp_path: Path) -> None:
    """Compose's health check, pointed at the test's port, exits 0 against the running
    service (and the check it runs is the API's, which fails while nothing is stored)."""
    sim = Simulator(tmp_path, "--count", "1", "--protocol", "3.3")
    argv = compose_service()["command"]
    kind, program, flag, code = compose_service()["healthcheck"]["test"]
    assert (kind, program, flag) == ("CMD", "python", "-c") and "/api/health" in code

    def healthy(address: str) -> None:
        subprocess.run([sys.executable, "-c", code.replace("127.0.0.1:8000", address)],
                       check=True, timeout=30)

    try:
        port = free_port()
        _serve(tmp_path, sim, [*command(argv[0]), *argv[1:]], f'listen = "127.0.0.1:{port}"',
               {}, f"127.0.0.1:{port}", healthy)
    finally:
        sim.stop()


def test_web_allowed_hosts_reach_the_host_check(tmp_path: Path) -> None:
    """[web] allowed_hosts is handed to the web server: a configured name is served, any
    other Host header is refused (DNS rebinding)."""
    sim = Simulator(tmp_path, "--count", "1", "--protocol", "3.3")
    argv = compose_service()["command"]

    def host_check(address: str) -> None:
        port = address.rsplit(":", 1)[1]
        for host, status in ((f"nas.lan:{port}", 200), ("evil.example.com", 421)):
            request = urllib.request.Request(f"http://{address}/api/plugs",
                                             headers={"Host": host})
            try:
                with urllib.request.urlopen(request, timeout=10) as reply:
                    got = reply.status
            except urllib.error.HTTPError as exc:
                got = exc.code
            assert got == status, host

    try:
        port = free_port()
        _serve(tmp_path, sim, [*command(argv[0]), *argv[1:]],
               f'listen = "127.0.0.1:{port}"\nallowed_hosts = ["nas.lan"]', {},
               f"127.0.0.1:{port}", host_check)
    finally:
        sim.stop()


def _get_metrics(address: str) -> str:
    """GET /metrics; the banner is printed as the server task starts, so a refused connect
    is retried until the socket is listening (bounded)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as reply:
                assert reply.status == 200
                return str(reply.read().decode())
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, ConnectionRefusedError) or time.monotonic() > deadline:
                raise
        time.sleep(0.05)
