"""Delivery: events go through the persisted outbox to their channels, with retries.

``submit`` applies the per-rule cooldown, logs the event (one JSON line), and writes it with one
outbox row per channel, due now or at the end of the rule's quiet hours. ``run`` sends what is
due, marks it delivered only when the channel took it, and otherwise retries with capped
exponential backoff, however long the channel stays down and across restarts (the rows are in
the database). An event id already in the log is not queued again (de-duplication).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ..client.reconnect import Backoff
from ..config.alerts import QuietHours, Rule
from ..errors import PowermonitorError
from ..insight.store import InsightStore
from .events import AlertEvent, StoredEvent
from .notify import DeliveryError, Notifier

log = logging.getLogger(__name__)

GIVE_UP_S = 7 * 86400.0
"""An event not delivered within a week stops being retried (it stays in the log)."""
KEEP_S = 365 * 86400.0
"""Settled events are forgotten after a year (cycles are kept: one small row per run)."""
PURGE_EVERY_S = 3600.0
RETRY_INITIAL_S = 2.0
RETRY_CAP_S = 600.0
IDLE_WAKE_S = 30.0


def after_quiet(ts: float, quiet: QuietHours | None, tz: ZoneInfo) -> float:
    """``ts``, or the end of the quiet hours it falls in (local wall clock)."""
    if quiet is None:
        return ts
    local = datetime.fromtimestamp(ts, tz)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return ts
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end.timestamp()


def retry_delay(attempts: int) -> float:
    backoff = Backoff(initial=RETRY_INITIAL_S, factor=2.0, cap=RETRY_CAP_S, jitter=0.1)
    backoff.failures = min(attempts, 30)
    return backoff.next_delay()


class Dispatcher:
    def __init__(self, store: InsightStore, notifiers: Mapping[str, Notifier],
                 rules: Sequence[Rule], tz: ZoneInfo,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.notifiers = dict(notifiers)
        self.rules = {r.name: r for r in rules}
        self.tz = tz
        self.clock = clock
        self._last_sent: dict[tuple[str, str, str], float] = {}
        self._wake = asyncio.Event()
        self.delivered = 0
        self.failures = 0

    async def submit(self, event: AlertEvent) -> bool:
        """Log and queue one event; False when suppressed (cooldown) or already known."""
        rule = self.rules.get(event.alert)
        key = (event.alert, event.plug_id, event.event)
        if rule is not None and rule.cooldown_s:
            last = self._last_sent.get(key)
            if last is not None and event.time - last < rule.cooldown_s:
                log.info("alert %s for %s suppressed (cooldown)", event.alert, event.plug_id)
                return False
        self._last_sent[key] = event.time
        due = after_quiet(self.clock(), rule.quiet if rule else None, self.tz)
        new = await self.store.enqueue(event, event.notify, due)
        if new:
            log.info("alert %s", event.dumps())
            self._wake.set()
        return new

    async def deliver_due(self) -> int:
        """One pass over what is due; return how many were delivered."""
        done = 0
        now = self.clock()
        for item in await self.store.due(now):
            notifier = self.notifiers.get(item.channel)
            if notifier is None:
                await self.store.failed(item.event_id, item.channel, now + 3600,
                                        "no such [[notify]] channel in the config")
                continue
            if now - item.ts > GIVE_UP_S:
                log.warning("alert %s to %s: not delivered within %.0f days, giving up",
                            item.body.get("alert"), item.channel, GIVE_UP_S / 86400)
                await self.store.give_up(item.event_id, item.channel,
                                         f"gave up after {GIVE_UP_S / 86400:.0f} days")
                continue
            event = StoredEvent(item.body)
            try:
                await notifier.send(event)
            except DeliveryError as exc:
                self.failures += 1
                delay = retry_delay(item.attempts)
                level = logging.WARNING if item.attempts == 0 else logging.DEBUG
                log.log(level, "alert delivery to %s failed (retry in %.0f s): %s",
                        item.channel, delay, exc)
                await self.store.failed(item.event_id, item.channel, now + delay, str(exc))
                continue
            await self.store.delivered(item.event_id, item.channel, self.clock())
            self.delivered += 1
            done += 1
        return done

    async def run(self) -> None:
        purged_at = 0.0
        while True:
            try:
                if self.clock() - purged_at >= PURGE_EVERY_S:
                    purged_at = self.clock()
                    await self.store.purge(purged_at - KEEP_S)
                await self.deliver_due()
                next_due = await self.store.next_due()
            except PowermonitorError as exc:
                log.warning("alert outbox: %s", exc)
                next_due = None
            wait = IDLE_WAKE_S if next_due is None else max(0.05, next_due - self.clock())
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), min(wait, IDLE_WAKE_S))
            except TimeoutError:
                pass
