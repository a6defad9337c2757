"""Misbehaviour a simulated plug can be told to show (:class:`Faults`, named by ``--fault``), and
the rule that the simulator listens on loopback only."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ..errors import PowermonitorError

__all__ = ["FAULTS", "Faults", "check_loopback", "is_loopback"]


@dataclass(frozen=True, slots=True)
class Faults:
    """Misbehaviour to inject. All off by default."""

    delay_s: float = 0.0  # wait before every reply
    drop_after: int = 0  # close the connection after this many requests (0 = never)
    garbage: float = 0.0  # probability of sending junk bytes before a reply
    silent: bool = False  # accept connections, never answer
    wrong_key: bool = False  # reply under a different key (client sees integrity errors)
    busy: bool = False  # accept, then close at once: another app holds the plug
    junk: bool = False  # answer every request with bytes that are not Tuya frames
    dp_flood: bool = False  # once connected, push ever-new DP ids as fast as it can, never reply
    push_flood: bool = False  # once connected, push the same values as fast as it can, never reply

    @classmethod
    def named(cls, names: Collection[str], **base: Any) -> Faults:
        """Faults from their :data:`FAULTS` names (``--fault busy``), on top of ``base``."""
        flags: dict[str, Any] = dict(base)
        for name in names:
            if name not in FAULTS:
                raise PowermonitorError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
            flags[FAULTS[name]] = True
        return cls(**flags)


FAULTS: dict[str, str] = {
    "busy": "busy",
    "silent": "silent",
    "wrong-key": "wrong_key",
    "junk": "junk",
    "dp-flood": "dp_flood",
    "push-flood": "push_flood",
}
"""``--fault`` names and the :class:`Faults` flag each sets."""


def is_loopback(host: str) -> bool:
    """True for localhost and any loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_loopback(host: str) -> None:
    """The simulator never listens beyond this machine."""
    if not is_loopback(host):
        raise PowermonitorError(f"the simulator only listens on loopback, not {host!r}")
