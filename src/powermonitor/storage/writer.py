"""The single writer: the only task that writes to the store.

Design rules:

- ``submit`` is synchronous and O(1): polling never waits for the database. Samples queue in
  memory; one task commits them in batches of up to ``max_batch``, at least every
  ``flush_interval`` seconds (sooner when a batch is full).
- A failed write keeps its batch and is retried with capped exponential backoff
  (``retry_initial`` × 1.8ⁿ up to ``retry_max``). The first failure is logged once as an
  ERROR with the reason; further failures only at DEBUG; recovery once at INFO.
- **Capped backlog without losing energy.** When more than ``max_backlog`` samples wait, the
  OLDEST queued samples are shed, but never their energy: a shed sample is merged into a
  per-plug carry sample (:func:`merge_samples`: the later reading, the summed interval energy,
  cost, covered and uncovered seconds, the larger running total). Because a plug's samples are
  queued in time order and shedding takes the oldest, the carry always precedes that plug's
  queued samples and covers one contiguous stretch of time ending at its reading, so it is
  written as an ordinary sample whose interval spans everything it absorbed. Raw readings (and
  their weight in the rollups' mean/min/max) are what is lost; kWh, cost, coverage and the
  counters are not. ``stats.dropped`` counts the readings lost this way.
- ``stop`` flushes what is queued (bounded by a timeout when the store stays down, after which
  the remainder is reported in the log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass, replace
from typing import Protocol, Self

from ..errors import StorageError
from .base import Sample, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WriterStats:
    submitted: int  # samples handed to submit()
    written: int  # samples committed (a carry of merged samples counts once)
    dropped: int  # raw readings shed because the backlog was full (their energy was kept)
    pending: int  # samples waiting (queued, carried or in the batch being written)
    batches: int  # successful commits
    failures: int  # consecutive failed write attempts (0 while healthy)
    last_error: str | None  # the most recent write error, kept after recovery


def merge_samples(older: Sample, newer: Sample) -> Sample:
    """One sample standing for two consecutive samples of one plug: the newer reading and both
    intervals' energy, cost and seconds (so the merged interval starts where ``older``'s did)."""
    if newer.ts < older.ts:
        older, newer = newer, older
    return replace(
        newer,
        interval_wh=older.interval_wh + newer.interval_wh,
        covered_s=older.covered_s + newer.covered_s,
        uncovered_s=older.uncovered_s + newer.uncovered_s,
        cost=older.cost + newer.cost,
        total_wh=max(older.total_wh, newer.total_wh),
    )


class RecordingState(Protocol):
    """What health checks and metrics read of the writer (:class:`StoreWriter` has it)."""

    @property
    def recording(self) -> bool: ...

    @property
    def stats(self) -> WriterStats: ...


class StoreWriter:
    """Owns all writes to one :class:`~powermonitor.storage.base.Store`."""

    def __init__(
        self,
        store: Store,
        *,
        max_batch: int = 5000,
        flush_interval: float = 1.0,
        max_backlog: int = 200_000,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        if max_batch < 1 or max_backlog < 1:
            raise ValueError("max_batch and max_backlog must be at least 1")
        self.store = store
        self.max_backlog = max_backlog
        self.max_batch = min(max_batch, max_backlog)
        self.flush_interval = flush_interval
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.stop_timeout = stop_timeout
        self._queue: deque[Sample] = deque()
        self._carry: dict[str, Sample] = {}
        self._inflight: list[Sample] = []
        self._names: dict[str, str] = {}
        self._stored_names: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._urgent = 0
        self._shedding = False
        self._submitted = self._written = self._dropped = self._batches = 0
        self._failures = 0
        self._last_error: str | None = None

    # ------------------------------------------------------------------ public

    @property
    def stats(self) -> WriterStats:
        return WriterStats(
            submitted=self._submitted,
            written=self._written,
            dropped=self._dropped,
            pending=self._pending(),
            batches=self._batches,
            failures=self._failures,
            last_error=self._last_error,
        )

    @property
    def recording(self) -> bool:
        """True while the writer task runs and its latest write went through: what the
        service's health reports (a store that fails, or a writer that died, is not healthy,
        even while every plug still answers)."""
        task = self._task
        return task is not None and not task.done() and not self._failures

    def start(self) -> None:
        """Start the writer task (call from a running event loop; idempotent)."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="powermonitor-store-writer"
            )

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def submit(self, sample: Sample, name: str | None = None) -> None:
        """Queue one sample (never blocks, never raises for a slow or failing store)."""
        self._submitted += 1
        if name is not None:
            names = self._names
            if names.get(sample.device_id) != name:
                names[sample.device_id] = name
        queue = self._queue
        queue.append(sample)
        queued = len(queue)
        if queued + len(self._carry) + len(self._inflight) > self.max_backlog:  # _pending()
            self._shed()
            queued = len(queue)
        if queued == 1 or queued >= self.max_batch:
            self._wake.set()

    async def flush(self) -> None:
        """Commit everything submitted so far, now (waits while the store is failing)."""
        if self._task is None or self._task.done():
            raise StorageError("the store writer is not running")
        target = self._submitted
        self._urgent += 1
        self._wake.set()
        try:
            while self._written + self._dropped < target:
                if self._task.done():
                    raise StorageError("the store writer stopped before the flush completed")
                self._progress.clear()
                await self._progress.wait()
        finally:
            self._urgent -= 1

    async def stop(self, timeout: float | None = None) -> None:
        """Flush and end the writer task; give up after ``timeout`` (default ``stop_timeout``)."""
        task = self._task
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(
                asyncio.shield(task), self.stop_timeout if timeout is None else timeout
            )
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            log.error(
                "store writer stopped with %d samples not written (last error: %s)",
                self._pending(),
                self._last_error,
            )
        finally:
            self._task = None

    # ------------------------------------------------------------------ internals

    def _pending(self) -> int:
        return len(self._queue) + len(self._carry) + len(self._inflight)

    def _shed(self) -> None:
        """Merge the oldest queued samples into per-plug carries until under the cap."""
        queue, carry = self._queue, self._carry
        if not self._shedding:
            self._shedding = True
            log.warning(
                "store backlog is full (%d samples waiting): merging the oldest raw samples "
                "(their energy, cost and the counters are kept)",
                self._pending(),
            )
        while self._pending() > self.max_backlog and queue:
            s = queue.popleft()
            prev = carry.get(s.device_id)
            if prev is None:
                carry[s.device_id] = s  # moved, not lost (yet)
            else:
                carry[s.device_id] = merge_samples(prev, s)
                self._dropped += 1

    def _take(self) -> list[Sample]:
        queue, carry = self._queue, self._carry
        out: list[Sample] = []
        while queue and len(out) < self.max_batch:
            s = queue.popleft()
            c = carry.pop(s.device_id, None)
            if c is not None:  # older than s: goes first, as its own sample
                out.append(c)
            out.append(s)
        if not queue and carry:  # plugs with nothing newer queued
            out.extend(carry.values())
            carry.clear()
        self._inflight = out
        return out

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue and not self._carry:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            deadline = loop.time() + self.flush_interval
            while not self._stopping and not self._urgent and len(self._queue) < self.max_batch:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), remaining)
                except TimeoutError:
                    break
            await self._commit(self._take())

    async def _commit(self, batch: list[Sample]) -> None:
        names = {d: n for d, n in self._names.items() if self._stored_names.get(d) != n}
        delay = self.retry_initial
        while True:
            try:
                await self.store.write(batch, names)
                break
            except Exception as exc:  # any failure: keep the batch and retry
                self._failures += 1
                self._last_error = str(exc) or type(exc).__name__
                if self._failures == 1:
                    log.error(
                        "cannot write to the store: %s; keeping %d samples in memory and "
                        "retrying (past %d waiting, the oldest raw samples are merged)",
                        self._last_error,
                        self._pending(),
                        self.max_backlog,
                        exc_info=not isinstance(exc, StorageError),
                    )
                else:
                    log.debug("store write failed again (%d): %s", self._failures, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 1.8, self.retry_max)
        if self._failures:
            log.info("store writes work again after %d failed attempts", self._failures)
            self._failures = 0
        self._written += len(batch)
        self._batches += 1
        self._stored_names.update(names)
        self._inflight = []
        if self._shedding and self._pending() <= self.max_backlog // 2:
            self._shedding = False
            log.info("store backlog drained; %d raw samples were merged so far", self._dropped)
        self._progress.set()
