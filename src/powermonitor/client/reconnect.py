"""Reconnecting to something that went away: one policy for plugs, brokers and databases.

Used by the plug coordinator and by every exporter (and, later, every notifier):

* :class:`Backoff` -- capped exponential backoff with jitter; an *auth* failure (a wrong local
  key, a refused login, a missing bucket) jumps straight to a long wait, because hammering with
  bad credentials helps no one and some devices lock up.
* :class:`QuietLog` -- "loud first, quiet later": a problem is logged once, clearly, with what to
  check; repeats go to DEBUG until it clears; the recovery is logged once.
* :func:`error_kind` -- the short word for why a plug is offline (``key``, ``timeout``...).

No I/O here: the waiting itself is the caller's ``sleep`` (injectable, so tests run on a fake
clock).
"""

from __future__ import annotations

import logging
import random

from ..errors import PowermonitorError

__all__ = ["Backoff", "QuietLog", "error_kind"]

_JITTER_RNG = random.Random()
"""Jitter source shared by every Backoff without its own: a Random is 2.5 kB of state, which
adds up in a monitor that keeps one coordinator per plug."""


class Backoff:
    """Capped exponential backoff with jitter; an auth error jumps straight to a long wait."""

    def __init__(
        self,
        initial: float = 1.0,
        factor: float = 1.8,
        cap: float = 60.0,
        key_error_delay: float = 300.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        self.initial, self.factor, self.cap = initial, factor, cap
        self.key_error_delay = key_error_delay
        self.jitter = jitter
        self.failures = 0
        self._rng = rng or _JITTER_RNG

    def reset(self) -> None:
        """Connected again: the next failure starts from ``initial``."""
        self.failures = 0

    def next_delay(self, key_error: bool = False) -> float:
        """Seconds to wait before the next attempt (``key_error``: bad credentials)."""
        base = self.key_error_delay if key_error else min(
            self.cap, self.initial * self.factor**self.failures
        )
        self.failures += 1
        return base * (1.0 + self._rng.uniform(-self.jitter, self.jitter))


class QuietLog:
    """Log a problem once at ``level`` (with what to check), then at DEBUG until it clears.

    A different problem (another ``key``) is loud again; :meth:`recovered` logs the recovery
    once at INFO, and only if a problem had been reported.
    """

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.log = logger
        self.what = what
        self.key: str | None = None
        self.count = 0

    def problem(self, key: str, message: str, *args: object, level: int = logging.ERROR) -> bool:
        """Report a problem; True when it was logged loudly (a new problem)."""
        self.count += 1
        if key != self.key:
            self.key = key
            self.log.log(level, message, *args)
            return True
        self.log.debug(message, *args)
        return False

    def recovered(self, message: str, *args: object) -> None:
        if self.key is not None:
            self.log.info(message, *args)
        self.key = None


def error_kind(exc: BaseException) -> str:
    """Why a plug is offline, in one word (key, timeout, unreachable, busy, protocol, device,
    error): the error class says it (``PowermonitorError.kind`` in errors.py)."""
    return exc.kind if isinstance(exc, PowermonitorError) else "error"
