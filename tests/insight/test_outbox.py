"""The outbox on a real SQLite store: cooldown, quiet hours, retries and de-duplication."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from powermonitor.alerts.events import AlertEvent, Deliverable
from powermonitor.alerts.notify import DeliveryError
from powermonitor.alerts.outbox import Dispatcher, after_quiet, retry_delay
from powermonitor.config.alerts import parse_sections
from powermonitor.insight.store import InsightStore
from powermonitor.storage.sqlite import SqliteStore

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_quiet_hours_hold_delivery_until_they_end() -> None:
    (rule,) = parse_sections(None, [{"name": "q", "when": "offline",
                                     "quiet_hours": "22:00-07:00"}]).rules
    night = at("2026-12-06T23:30:00+01:00")
    assert after_quiet(night, rule.quiet, BERLIN) == at("2026-12-07T07:00:00+01:00")
    early = at("2026-12-07T06:59:00+01:00")
    assert after_quiet(early, rule.quiet, BERLIN) == at("2026-12-07T07:00:00+01:00")
    day = at("2026-12-07T12:00:00+01:00")
    assert after_quiet(day, rule.quiet, BERLIN) == day


def test_retry_delay_grows_and_is_capped() -> None:
    delays = [retry_delay(n) for n in range(12)]
    assert 1.5 < delays[0] < 2.5 and delays[3] > delays[1] and max(delays) <= 600 * 1.1


class Flaky:
    name = "hook"

    def __init__(self) -> None:
        self.down = True
        self.sent: list[str] = []

    async def send(self, event: Deliverable) -> None:
        if self.down:
            raise DeliveryError("hook: down")
        self.sent.append(event.dumps())


async def test_cooldown_dedup_and_retry(tmp_path: Path) -> None:
    cfg = parse_sections([{"name": "hook", "url": "https://127.0.0.1/x"}],
                         [{"name": "hot", "when": "overload", "above_w": 10, "cooldown": "1h",
                           "notify": ["hook"]}])
    now = [1_800_000_000.0]
    store = SqliteStore(tmp_path / "pm.db", timezone="UTC")
    await store.open()
    try:
        hook = Flaky()
        dispatcher = Dispatcher(InsightStore(store), {"hook": hook}, cfg.rules, ZoneInfo("UTC"),
                                clock=lambda: now[0])

        def event(t: float) -> AlertEvent:
            return AlertEvent("hot", "Heater", "h1", "overload", t, notify=("hook",))

        assert await dispatcher.submit(event(now[0])) is True
        assert await dispatcher.submit(event(now[0])) is False  # the same occurrence again
        assert await dispatcher.submit(event(now[0] + 600)) is False  # within the cooldown
        assert await dispatcher.deliver_due() == 0  # the hook is down: kept for a retry
        assert await dispatcher.deliver_due() == 0  # not due again yet: nothing sent
        hook.down = False
        now[0] += 3.0
        assert await dispatcher.deliver_due() == 1
        assert len(hook.sent) == 1
        assert await dispatcher.submit(event(now[0] + 3700)) is True  # after the cooldown
        (latest, first) = await InsightStore(store).recent()
        assert first["deliveries"][0]["attempts"] == 2 and first["deliveries"][0]["delivered"]
        assert latest["deliveries"][0]["delivered"] is False
    finally:
        await store.close()


async def test_give_up_after_a_week_and_purge_after_a_year(tmp_path: Path) -> None:
    cfg = parse_sections([{"name": "hook", "url": "https://127.0.0.1/x"}],
                         [{"name": "gone", "when": "offline", "notify": ["hook"]}])
    now = [1_800_000_000.0]
    store = SqliteStore(tmp_path / "pm.db", timezone="UTC")
    await store.open()
    try:
        hook = Flaky()
        insight = InsightStore(store)
        dispatcher = Dispatcher(insight, {"hook": hook}, cfg.rules, ZoneInfo("UTC"),
                                clock=lambda: now[0])
        old = AlertEvent("gone", "Freezer", "f1", "offline", now[0], notify=("hook",))
        await dispatcher.submit(old)
        await dispatcher.deliver_due()  # refused
        now[0] += 8 * 86400  # a week later the channel is still down
        await dispatcher.deliver_due()
        (logged,) = await insight.recent()
        assert logged["deliveries"][0]["error"].startswith("gave up after 7 days")
        assert await insight.due(now[0] + 1e9) == []  # never retried again
        assert await insight.purge(now[0]) == 1  # settled and older than the cut-off
        assert await insight.recent() == []
        fresh = AlertEvent("gone", "Freezer", "f1", "offline", now[0], notify=("hook",))
        await dispatcher.submit(fresh)
        assert await insight.purge(now[0] + 1) == 0  # still to deliver: kept
    finally:
        await store.close()
