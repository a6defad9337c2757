"""How long a simulated plug takes to answer (``simulate --latency 5ms``, ``"latency"`` in a spec).

Real plugs answer over Wi-Fi after milliseconds, not the microseconds of loopback, and a
client's CPU per poll depends on that (an asyncio client wakes up idle between request and
reply). A :class:`Latency` is a fixed delay (``5ms``) or a uniform range (``5ms..20ms``,
the jitter of a busy radio). It applies to every answer -- handshake, status, control,
heartbeat, errors -- because a real plug's radio delays them all; spontaneous pushes get no
delay of their own but never overtake a reply still due (one TCP stream keeps its order).

:class:`ReplyQueue` holds one connection's answers until they are due, with one loop timer
(not one per reply) and a cap (:data:`MAX_PENDING_WRITES`) past which the connection stops
reading: a client that pipelines faster than the plug answers is held back by TCP, as a
real plug's would be, instead of growing the simulator's memory.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..errors import UsageError

__all__ = ["MAX_LATENCY_S", "MAX_PENDING_WRITES", "Latency", "ReplyQueue", "parse_latency"]

MAX_LATENCY_S: Final = 10.0
"""Longest latency accepted. Wi-Fi plugs answer within tens of milliseconds, seconds when the
radio is poor; longer is a fault (``--delay``), not a latency."""

MAX_PENDING_WRITES: Final = 64
"""Answers one connection may hold before it stops reading (resumes at half). A client waits
for its reply before the next request, so a well-behaved one holds one or two; the cap bounds
what a pipelining client can make the simulator keep per connection."""

_ONE: Final = re.compile(r"^\s*(\d{1,6}(?:\.\d{1,6})?)\s*(ms|s)\s*$", re.IGNORECASE)
_UNIT_S: Final = {"ms": 0.001, "s": 1.0}
_EARLY_REARM_S: Final = 0.0005
"""A timer that fired before its answer was due waits at least this long again (uvloop's timers
tick in whole milliseconds; without a floor a sub-millisecond remainder would spin the loop)."""


@dataclass(frozen=True, slots=True)
class Latency:
    """A reply delay in seconds: ``low_s`` exactly, or uniform between ``low_s`` and ``high_s``."""

    low_s: float = 0.0
    high_s: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low_s) and math.isfinite(self.high_s)
                and 0.0 <= self.low_s <= self.high_s <= MAX_LATENCY_S):
            raise ValueError(f"a latency lies between 0 and {MAX_LATENCY_S:g} s, low <= high")

    def __bool__(self) -> bool:
        return self.high_s > 0.0

    @property
    def jitter(self) -> bool:
        return self.high_s > self.low_s

    def sample(self, rng: random.Random | None) -> float:
        """One reply's delay; a range draws from ``rng`` (a fixed latency needs none)."""
        if rng is not None and self.high_s > self.low_s:
            return rng.uniform(self.low_s, self.high_s)
        return self.low_s

    def __str__(self) -> str:
        low = f"{self.low_s * 1000:g}ms"
        return f"{low}..{self.high_s * 1000:g}ms" if self.jitter else low


def _seconds(text: str, whole: str) -> float:
    match = _ONE.match(text)
    if not match:
        raise UsageError(
            f"{whole!r} is not a latency: give a unit, such as 5ms, 0.02s or 5ms..20ms"
        )
    return float(match.group(1)) * _UNIT_S[match.group(2).lower()]


def parse_latency(text: str) -> Latency:
    """``5ms`` / ``0.005s`` (fixed) or ``5ms..20ms`` (uniform jitter); one UsageError line.

    A unit is required: the CLI's bare numbers are seconds elsewhere (``--delay 0.5``), while
    a latency is thought of in milliseconds, so ``--latency 5`` would be ambiguous.
    """
    if not isinstance(text, str) or len(text) > 64:
        raise UsageError("a latency is text such as 5ms, 0.02s or 5ms..20ms")
    low_text, sep, high_text = text.partition("..")
    low = _seconds(low_text, text)
    high = _seconds(high_text, text) if sep else low
    if low > high:
        raise UsageError(f"{text!r}: the lower latency comes first, as in 5ms..20ms")
    if high > MAX_LATENCY_S:
        raise UsageError(f"{text!r}: at most {MAX_LATENCY_S:g}s (use --delay for a stalled plug)")
    return Latency(low, high)


class ReplyQueue:
    """One connection's answers waiting for their time, in the order they were made.

    ``write`` sends bytes now; ``pause``/``resume`` stop and restart reading from the client;
    ``closed`` runs once the last held answer has left after :meth:`close_when_sent`. Times
    are ``time.monotonic()`` (the loop's clock may run coarser, e.g. uvloop's milliseconds),
    and nothing leaves before its due time: the latency is a lower bound.
    """

    __slots__ = (
        "_close_after", "_closed", "_items", "_last_due", "_loop", "_pause", "_paused",
        "_resume", "_timer", "_write",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        write: Callable[[bytes], None],
        pause: Callable[[], None],
        resume: Callable[[], None],
        closed: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._write = write
        self._pause = pause
        self._resume = resume
        self._closed = closed
        self._items: deque[tuple[float, bytes]] = deque()
        self._last_due = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._paused = False
        self._close_after = False

    def __len__(self) -> int:
        return len(self._items)

    def add(self, data: bytes, delay: float) -> None:
        """Hold ``data`` for ``delay`` s, and never let it overtake what is already held."""
        now = time.monotonic()
        due = now + delay
        items = self._items
        if items and due <= self._last_due:  # jitter drew less than the previous answer
            due, last = items[-1]  # it follows that one, in the same write
            items[-1] = (due, last + data)
            return
        self._last_due = due
        items.append((due, data))
        if self._timer is None:
            self._timer = self._loop.call_later(due - now, self._drain)
        if len(items) >= MAX_PENDING_WRITES and not self._paused:
            self._paused = True
            self._pause()

    def close_when_sent(self) -> bool:
        """Close once every held answer has left; False when nothing is held (close now)."""
        if not self._items:
            return False
        self._close_after = True
        if not self._paused:
            self._paused = True
            self._pause()
        return True

    def cancel(self) -> None:
        """The connection is gone: drop what is held."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._items.clear()

    def _drain(self) -> None:
        self._timer = None
        now = time.monotonic()
        items = self._items
        out: list[bytes] = []
        while items and items[0][0] <= now:
            out.append(items.popleft()[1])
        if out:
            self._write(out[0] if len(out) == 1 else b"".join(out))
        if items:
            self._timer = self._loop.call_later(
                max(items[0][0] - now, 0.0 if out else _EARLY_REARM_S), self._drain
            )
        elif self._close_after:
            self._closed()
            return
        if self._paused and not self._close_after and len(items) <= MAX_PENDING_WRITES // 2:
            self._paused = False
            self._resume()
