"""Fixtures for the exporters: a service-like object over a simulated fleet, a real mosquitto
and a real InfluxDB 1.x on free loopback ports, and a tiny HTTP receiver.

mosquitto (Debian ``mosquitto``) and influxd (Debian ``influxdb``) are started per test with a
generated config in ``tmp_path``; a test that needs one is skipped, with the reason, when the
binary is missing (CI installs both: scripts/install-test-deps.sh).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import aiomqtt
import pytest
from portpick import free_port

from powermonitor.client.reconnect import Backoff
from powermonitor.config import Config, Defaults, PlugConfig
from powermonitor.models import Reading
from powermonitor.monitor.directory import resolve_id
from powermonitor.monitor.hub import Hub
from powermonitor.monitor.supervisor import Monitor
from powermonitor.simulator.server import Fleet, fleet_specs


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def find_binary(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )


# --------------------------------------------------------------------------- service-like


@dataclass(frozen=True)
class FakeTotals:
    total_wh: float
    total_cost: float = 0.0
    last_ts: float | None = None


@dataclass
class FakeRecorder:
    """Stands in for powermonitor.recorder.Recorder: totals only."""

    wh: dict[str, float] = field(default_factory=dict)

    def totals(self) -> dict[str, FakeTotals]:
        return {k: FakeTotals(v) for k, v in self.wh.items()}

    def total_wh(self, device_id: str) -> float | None:
        return self.wh.get(device_id)


@dataclass
class StubService:
    """The slice of powermonitor.service.Service the exporters use."""

    config: Config
    hub: Hub
    recorder: Any = field(default_factory=FakeRecorder)  # FakeRecorder, a real Recorder, None
    monitor: Monitor | None = None
    writer: Any = None  # a real StoreWriter where a test needs one

    def names(self) -> dict[str, str]:
        return {p.device_id: p.name for p in self.config.plugs}

    def resolve(self, name_or_id: str) -> str:
        return resolve_id(name_or_id, self.names().items())

    async def set_switch(self, name_or_id: str, on: bool, outlet: int | str = 1) -> Reading:
        if self.monitor is None:
            raise KeyError(name_or_id)
        return await self.monitor.set_switch(name_or_id, on, outlet)


@dataclass
class LiveFleet:
    fleet: Fleet
    service: StubService
    monitor: Monitor

    def readings(self) -> int:
        return sum(s.readings for s in self.service.hub.states.values())

    def ids(self) -> list[str]:
        return [s.plug.device_id for s in self.fleet.servers]


def plugs_of(fleet: Fleet) -> tuple[PlugConfig, ...]:
    return tuple(
        PlugConfig(name=e["name"], device_id=e["id"], host=e["ip"], local_key=e["key"],
                   version=e["version"], port=e["port"])
        for e in fleet.devices()
    )


@contextlib.asynccontextmanager
async def live_fleet(layouts: list[str], *, interval: float = 1.0,
                     versions: list[str] | None = None) -> AsyncIterator[LiveFleet]:
    """Simulated plugs on loopback, watched by a real Monitor publishing to a Hub."""
    fleet = Fleet(fleet_specs(len(layouts), versions or ["3.3"], layouts,
                              ["constant:100:0.9"], seed=7))
    await fleet.start()
    config = Config(defaults=Defaults(poll_interval=interval, timeout=2.0),
                    plugs=plugs_of(fleet))
    monitor = Monitor(config, start_spread=0.1,
                      backoff_factory=lambda: Backoff(initial=0.2, cap=1.0))
    service = StubService(config, monitor.hub,
                          FakeRecorder({p.device_id: 1000.0 for p in config.plugs}), monitor)
    task = asyncio.create_task(monitor.run())
    try:
        yield LiveFleet(fleet, service, monitor)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await fleet.stop()


async def until(predicate: Any, timeout: float = 10.0, step: float = 0.05) -> None:
    """Wait until ``predicate()`` is true (fail the test after ``timeout``)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(step)


# --------------------------------------------------------------------------- mosquitto


class Mosquitto:
    """A real broker on 127.0.0.1:port with a generated config; restartable on the same port."""

    def __init__(self, binary: str, directory: Path, users: Mapping[str, str] | None = None,
                 tls: tuple[Path, Path, Path] | None = None) -> None:
        self.binary = binary
        self.dir = directory
        self.port = free_port()
        self.users = dict(users or {})
        self.tls = tls  # (CA certificate, server certificate, server key)
        self.proc: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} 127.0.0.1", "persistence false",
                 # as root, mosquitto drops to user "mosquitto", who cannot read tmp_path
                 *([f"user {pwd.getpwuid(0).pw_name}"] if os.getuid() == 0 else []),
                 f"log_dest file {self.dir / 'mosquitto.log'}", "log_type error",
                 "log_type warning", "log_type notice"]
        if self.users:
            passwd = self.dir / "passwd"
            passwd.write_text("")
            passwd.chmod(0o600)
            tool = find_binary("mosquitto_passwd")
            assert tool, "mosquitto_passwd missing (Debian package mosquitto)"
            for user, password in self.users.items():
                subprocess.run([tool, "-b", str(passwd), user, password], check=True)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if self.tls is not None:
            ca, cert, key = self.tls
            lines += [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]
        conf = self.dir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> None:
        conf = self._write_config()
        self.proc = subprocess.Popen([self.binary, "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_port(self.port)
        except TimeoutError:
            self.stop()
            log = (self.dir / "mosquitto.log")
            raise RuntimeError(f"mosquitto did not start: "
                               f"{log.read_text() if log.exists() else ''}") from None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            if proc.stderr is not None:
                proc.stderr.close()

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Any]:
    binary = find_binary("mosquitto")
    if binary is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto mosquitto-clients)")
    brokers: list[Mosquitto] = []

    def make(users: Mapping[str, str] | None = None,
             tls: tuple[Path, Path, Path] | None = None) -> Mosquitto:
        broker = Mosquitto(binary, tmp_path / f"mosquitto{len(brokers)}", users, tls)
        broker.start()
        brokers.append(broker)
        return broker

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture
def mosquitto(mosquitto_factory: Any) -> Mosquitto:
    broker: Mosquitto = mosquitto_factory()
    return broker


class Watcher:
    """A test-side MQTT client recording every message (topic → list of (payload, retain))."""

    def __init__(self, port: int, topics: list[str], **client_kw: Any) -> None:
        self.port = port
        self.topics = topics
        self.client_kw = client_kw
        self.messages: dict[str, list[tuple[bytes, bool]]] = {}
        self.qos: dict[str, set[int]] = {}  # the QoS each topic's messages came with
        self.client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run())
        async with asyncio.timeout(10):
            await self._ready.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        async with aiomqtt.Client("127.0.0.1", self.port, **self.client_kw) as client:
            self.client = client
            for topic in self.topics:
                await client.subscribe(topic, qos=1)
            self._ready.set()
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else b""
                self.messages.setdefault(message.topic.value, []).append(
                    (payload, message.retain))
                self.qos.setdefault(message.topic.value, set()).add(message.qos)

    def last(self, topic: str) -> bytes | None:
        got = self.messages.get(topic)
        return got[-1][0] if got else None

    def json(self, topic: str) -> Any:
        payload = self.last(topic)
        return None if payload is None else json.loads(payload)

    async def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        assert self.client is not None
        await self.client.publish(topic, payload, qos=1, retain=retain)


def make_certificates(directory: Path, name: str = "test") -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost (PEM files)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = (directory / f"{name}-ca.pem", directory / f"{name}-server.pem",
             directory / f"{name}-server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    paths[2].chmod(0o600)
    return paths


# --------------------------------------------------------------------------- HTTP receiver


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A tiny asyncio HTTP server on 127.0.0.1 recording requests; answers ``status``."""

    def __init__(self, port: int = 0, status: int = 204, body: bytes = b"") -> None:
        self.port = port
        self.status = status
        self.body = body
        self.requests: list[Request] = []
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port,
                                                  reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from urllib.parse import parse_qsl, urlsplit

        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    k, sep, v = line.partition(":")
                    if sep:
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                url = urlsplit(target)
                self.requests.append(Request(method, url.path, dict(parse_qsl(url.query)),
                                             headers, body))
                writer.write(f"HTTP/1.1 {self.status} X\r\nContent-Length: {len(self.body)}\r\n"
                             f"\r\n".encode() + self.body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def lines(self) -> list[str]:
        import gzip

        out: list[str] = []
        for r in self.requests:
            body = gzip.decompress(r.body) if r.headers.get("content-encoding") == "gzip" \
                else r.body
            out += [line for line in body.decode().split("\n") if line]
        return out


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


# --------------------------------------------------------------------------- influxd 1.x


class Influxd:
    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.dir = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        d = self.dir
        d.mkdir(parents=True, exist_ok=True)
        conf = d / "influxdb.conf"
        conf.write_text(
            'reporting-enabled = false\n'
            f'bind-address = "127.0.0.1:{free_port()}"\n'
            f'[meta]\n  dir = "{d / "meta"}"\n'
            f'[data]\n  dir = "{d / "data"}"\n  wal-dir = "{d / "wal"}"\n'
            '  query-log-enabled = false\n'
            '[monitor]\n  store-enabled = false\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            '  pprof-enabled = false\n'
            '[subscriber]\n  enabled = false\n'
            '[continuous_queries]\n  enabled = false\n'
        )
        self.log = open(d / "influxd.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([self.binary, "-config", str(conf)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_port(self.port, 20.0)
        except TimeoutError:
            self.stop()
            raise RuntimeError((d / "influxd.log").read_text()) from None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            self.log.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def influxd(tmp_path: Path) -> Iterator[Influxd]:
    binary = find_binary("influxd")
    if binary is None:
        pytest.skip("influxd is not installed (apt-get install influxdb: InfluxDB 1.x)")
    server = Influxd(binary, tmp_path / "influxd")
    server.start()
    yield server
    server.stop()
