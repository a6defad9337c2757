"""Request turns on one plug connection: like an ``asyncio.Lock``, without an await when free."""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Turns"]


class Turns:
    """Serialises requests like an ``asyncio.Lock``, but the free case costs no await.

    ``take_now()`` claims a free connection synchronously (the usual poll); ``take()`` waits in
    FIFO order otherwise; ``release()`` hands the turn straight to the next waiter.
    """

    __slots__ = ("_busy", "_waiters")

    def __init__(self) -> None:
        self._busy = False
        self._waiters: deque[asyncio.Future[None]] | None = None  # made on first contention

    def take_now(self) -> bool:
        if self._busy:
            return False
        self._busy = True
        return True

    async def take(self) -> None:
        if self.take_now():
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = deque()
        waiters = self._waiters
        waiters.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # handed the turn just as we were cancelled: pass it on
            elif turn in waiters:
                waiters.remove(turn)
            raise

    def release(self) -> None:
        waiters = self._waiters
        while waiters:
            turn = waiters.popleft()
            if not turn.done():
                turn.set_result(None)  # still busy: the turn passes to this waiter
                return
        self._busy = False
