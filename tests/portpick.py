"""Free TCP ports on 127.0.0.1 for servers a test starts (one rule for every test).

Ports come from below the kernel's ephemeral range: a port picked there and bound a moment
later by a subprocess (mosquitto, PostgreSQL, the service, a fixed-port simulator) can be taken
in between by any outgoing connection, which shows up as a rare "address already in use".
"""

from __future__ import annotations

import random
import socket

_LOW = 10000


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def fixed_port_block(count: int = 1) -> int:
    """The first of ``count`` consecutive ports that are free now, below the ephemeral range."""
    high = _ephemeral_low() - count
    for base in random.Random().sample(range(_LOW, high), 50):
        socks = [socket.socket() for _ in range(count)]
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


def free_port() -> int:
    """One port that is free now, below the ephemeral range."""
    return fixed_port_block(1)
