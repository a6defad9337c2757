"""The consumer skeleton: batches in, the out side beside it, queued events taken on close,
and retries with backoff (on the fake clock: the waits take no real time)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest

from powermonitor.client.reconnect import Backoff
from powermonitor.models import Reading
from powermonitor.monitor.consumer import HubConsumer, retry_forever
from powermonitor.monitor.hub import Hub, HubEvent

pytestmark = pytest.mark.fake_clock


def reading(i: int) -> Reading:
    return Reading("dev", datetime.fromtimestamp(1_780_000_000 + i, UTC), power_w=float(i))


class Collector(HubConsumer):
    name = "collector"
    batch = 7

    def __init__(self, hub: Hub, *, drain_on_close: bool) -> None:
        super().__init__(hub)
        self.drain_on_close = drain_on_close
        self.batches: list[list[HubEvent]] = []
        self.closed_calls = 0

    def take(self, events: list[HubEvent]) -> None:
        self.batches.append(events)

    async def closed(self) -> None:
        self.closed_calls += 1


@pytest.mark.parametrize("drain_on_close", [True, False])
async def test_batches_in_order_and_queued_events_on_close(drain_on_close: bool) -> None:
    hub = Hub()
    consumer = Collector(hub, drain_on_close=drain_on_close)
    task = asyncio.create_task(consumer.run())
    await asyncio.sleep(0)  # subscribed
    for i in range(20):
        hub.publish(reading(i), "dev")
    await asyncio.sleep(0.01)
    assert [len(b) for b in consumer.batches] == [7, 7, 6]  # one wake-up, batches of 7
    task.cancel()
    for i in range(20, 30):  # published as the consumer stops: still queued, never drained
        hub.publish(reading(i), "dev")
    await asyncio.gather(task, return_exceptions=True)
    taken = [e.power_w for b in consumer.batches for e in b if isinstance(e, Reading)]
    assert taken == [float(i) for i in range(30 if drain_on_close else 20)]
    assert consumer.closed_calls == 1 and hub.subscribers == 0


async def test_retry_forever_backs_off_and_waits_long_after_an_auth_failure() -> None:
    outcomes: list[Exception | None] = [OSError("down"), OSError("down"), PermissionError("auth"),
                                        None, OSError("down")]
    waits: list[float] = []
    logged: list[str] = []

    async def attempt() -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        backoff.reset()  # connected: a later failure starts small again

    def failed(exc: Exception) -> bool:
        logged.append(str(exc))
        return isinstance(exc, PermissionError)

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if not outcomes:
            raise asyncio.CancelledError

    backoff = Backoff(initial=1.0, factor=2.0, cap=60.0, key_error_delay=300.0, jitter=0.0,
                      rng=random.Random(1))
    with pytest.raises(asyncio.CancelledError):
        await retry_forever(attempt, backoff, failed, sleep=sleep)
    assert waits == [1.0, 2.0, 300.0, 1.0, 2.0]
    assert logged == ["down", "down", "auth", "down"]


class Runaway(BaseException):
    pass


async def test_retry_forever_stops_when_a_failure_hides_a_cancel() -> None:
    """On 3.11 a TaskGroup whose child failed raises the failure, not the cancel it got (and
    aiomqtt's wait_for can return over a cancel): the loop must still end."""
    attempts: list[int] = []
    logged: list[str] = []

    async def attempt() -> None:
        attempts.append(1)
        if len(attempts) == 2:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()  # the owner stops us...
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                raise OSError("lost") from None  # ...and a failure comes out instead
        raise OSError("down")

    def failed(exc: Exception) -> bool:
        logged.append(str(exc))
        return False

    async def sleep(seconds: float) -> None:
        if len(attempts) >= 2:
            raise Runaway("retried after the cancel")

    task = asyncio.create_task(retry_forever(attempt, Backoff(initial=1.0, cap=1.0), failed,
                                             sleep=sleep))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(attempts) == 2 and logged == ["down"]
