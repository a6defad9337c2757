"""A fake clock for asyncio tests: an event loop whose time only moves when nothing is ready.

``asyncio.sleep``, ``asyncio.timeout``, ``loop.call_later`` -- every wait of the coordinator,
its backoff, its heartbeats and the simulator's pushes -- then takes no real time, while real
sockets on loopback are still served: before time moves, the selector is polled without
waiting; only when no socket is ready does the clock jump to the next timer. A loopback write
by the same loop is readable at once, so this is deterministic for tests whose plugs (the
simulator) run in the test's own loop. While a worker thread (``run_in_executor``,
``to_thread``: SQLite commits) is busy, the loop waits for it in real time.

The loop's ``time()`` starts at the real Unix time, so ``clock=loop.time`` gives product code a
wall clock that moves with the fake one (``virtual_clock``).

Use it per module::

    from .fakeclock import VirtualClockPolicy

    @pytest.fixture(scope="module")
    def event_loop_policy() -> asyncio.AbstractEventLoopPolicy:
        return VirtualClockPolicy()
"""

from __future__ import annotations

import asyncio
import selectors
import time
from typing import Any


class _PollFirst(selectors.DefaultSelector):
    """A selector that never waits in real time while the loop has a timer to jump to."""

    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualClockLoop | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None or self.loop is None or self.loop.threads:
            # no timer, or a worker thread is busy (a commit...): wait in real time for it, as
            # the clock must not run ahead of work the loop is waiting for
            woken: list[tuple[selectors.SelectorKey, int]] = super().select(timeout)
            if woken or timeout is None or self.loop is None:
                return woken
        self.loop.advance(timeout)
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """``time()`` is virtual: it advances by exactly the time to the next timer when idle."""

    def __init__(self) -> None:
        selector = _PollFirst()
        self._now = time.time()
        self.threads = 0
        super().__init__(selector)
        selector.loop = self
        self._clock_resolution = 1e-6  # a timer due "now" must fire: 1 ns is below a float's
        # step at Unix-time magnitudes (~0.2 µs)

    def run_in_executor(  # type: ignore[override]  # typeshed spells it with TypeVarTuple
        self, executor: Any, func: Any, *args: Any
    ) -> asyncio.Future[Any]:
        """Counted, so the clock stands still while a worker thread runs."""
        future = super().run_in_executor(executor, func, *args)
        self.threads += 1
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, _: asyncio.Future[Any]) -> None:
        self.threads -= 1

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move on by ``seconds``, and at least to the next timer: at Unix-time magnitudes a
        float sum can fall a rounding step short of it, and the loop would spin forever."""
        target = self._now + seconds
        scheduled: list[asyncio.TimerHandle] = getattr(self, "_scheduled", [])
        if scheduled:
            target = max(target, scheduled[0].when())
        self._now = target


def virtual_clock() -> float:
    """Unix seconds on the running loop's clock (the fake one under :class:`VirtualClockLoop`)."""
    return asyncio.get_running_loop().time()
