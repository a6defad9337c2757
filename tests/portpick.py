"""Free ports on 127.0.0.1 for servers a test starts (one rule for every test).

Ports come from below the kernel's ephemeral range: a port picked there and bound a moment
later by a subprocess (mosquitto, PostgreSQL, the service, a fixed-port simulator, a scan's UDP
listeners) can be taken in between by any outgoing connection, which shows up as a rare
"address already in use". Under pytest-xdist each worker picks from its own slice of that range
(``PYTEST_XDIST_WORKER``), so two workers never hand out the same port: a UDP port in particular
could otherwise be shared silently, since the discovery listeners bind with SO_REUSEADDR.

A server the test runs in-process binds port 0 and keeps its socket; this module is for the
port that must be named before anything listens on it.
"""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Iterator
from contextlib import contextmanager

_LOW = 10000


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def worker_ports(worker: str | None = None, workers: str | None = None) -> range:
    """This process's slice of the ports below the ephemeral range (all of it without xdist)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "") if worker is None else worker
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") if workers is None else workers
    count = max(1, int(workers))
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    span = (_ephemeral_low() - _LOW) // count
    start = _LOW + (index % count) * span
    return range(start, start + span)


def _block(count: int, kind: socket.SocketKind) -> int:
    ports = worker_ports()
    for base in random.Random().sample(range(ports.start, ports.stop - count), 50):
        socks = [socket.socket(socket.AF_INET, kind) for _ in range(count)]
        try:
            for offset, sock in enumerate(socks):
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no block of {count} free ports on 127.0.0.1")


def fixed_port_block(count: int = 1) -> int:
    """The first of ``count`` consecutive TCP ports that are free now."""
    return _block(count, socket.SOCK_STREAM)


def free_port() -> int:
    """One TCP port that is free now."""
    return fixed_port_block(1)


def free_udp_ports(count: int) -> list[int]:
    """``count`` UDP ports that are free now (consecutive, for a scan's three listeners)."""
    base = _block(count, socket.SOCK_DGRAM)
    return list(range(base, base + count))


@contextmanager
def refusing_port() -> Iterator[int]:
    """A TCP port where a connection is refused: bound by this socket, never listening, so
    no other test can start a server there while it is in use."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
