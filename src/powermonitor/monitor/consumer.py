"""The skeleton of everything below the Hub: subscribe → drain → serve (and reconnect).

A consumer (the recorder, the MQTT and InfluxDB exporters, later the alerts) is two halves:

* :meth:`HubConsumer.take` -- the *in* side: a batch of Hub events, handled synchronously and
  cheaply (note what changed, append to a buffer, integrate). It runs in the drain task, so it
  never waits on the outside world and a slow broker can never back up into the Hub.
* :meth:`HubConsumer.serve` -- the *out* side: connect, write, and after a failure wait with
  :class:`~powermonitor.client.reconnect.Backoff` and try again (:func:`retry_forever`). It runs
  until cancelled; the default has no out side (the recorder hands samples to the writer from
  :meth:`take`).

The Hub's subscription is bounded: a consumer that falls behind loses the oldest events (the
Hub counts them), never slows polling. With ``drain_on_close`` the events still queued when the
consumer is cancelled are taken before it ends (the recorder accounts every reading it got).

Write a consumer::

    class Printer(HubConsumer):
        name = "printer"

        def take(self, events: list[HubEvent]) -> None:
            for event in events:
                print(event)

    await Printer(hub).run()  # until cancelled
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import NoReturn

from ..client.reconnect import Backoff
from .hub import Hub, HubEvent, Subscription

__all__ = ["HubConsumer", "raise_if_cancelling", "retry_forever"]


class HubConsumer:
    """Subscribe to the Hub, hand events to :meth:`take` in batches, run :meth:`serve`."""

    name = "consumer"
    queue_size = 10_000
    """Events the subscription holds before the oldest are dropped."""
    batch = 10_000
    """Most events handed to one :meth:`take`."""
    drain_on_close = False
    """Take the events still queued when cancelled (the recorder: account every reading)."""
    gather_s = 0.0
    """After a first event, wait this long for more before :meth:`take`: a consumer whose
    per-batch cost is high (names and totals of every plug) pays it per burst, not per
    reading. 0 for the recorder (storage gets every reading at once)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def take(self, events: list[HubEvent]) -> None:
        """Handle a batch of events; synchronous and quick (no I/O)."""
        raise NotImplementedError

    async def serve(self) -> None:
        """The out side, until cancelled (default: none, just wait)."""
        await asyncio.Event().wait()

    async def closed(self) -> None:
        """Clean-up after the consumer stops (default: nothing)."""

    async def run(self) -> None:
        """Consume until cancelled; never returns otherwise."""
        sub = self.hub.subscribe(maxsize=self.queue_size)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._drain(sub), name=f"{self.name}:drain")
                await self.serve()
        finally:
            if self.drain_on_close:
                while events := sub.take(self.batch):
                    self.take(events)
            sub.close()
            await self.closed()

    async def _drain(self, sub: Subscription) -> None:
        while True:
            self.take(await sub.burst(self.batch, self.gather_s))


async def retry_forever(
    attempt: Callable[[], Awaitable[object]],
    backoff: Backoff,
    failed: Callable[[Exception], bool],
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> NoReturn:
    """Run ``attempt()`` again and again (a broker session, a connection): when it ends or
    fails, ``failed(exc)`` logs the error (use a QuietLog: loud first, quiet later) and says
    whether it was an auth failure, which waits ``backoff``'s long delay. The attempt resets
    ``backoff`` itself once it is connected. Cancellation ends it."""
    while True:
        auth = False
        try:
            await attempt()
        except Exception as exc:  # noqa: BLE001 -- any failure is logged and retried: a bug too
            raise_if_cancelling()
            auth = failed(exc)
        await sleep(backoff.next_delay(auth))


def raise_if_cancelling() -> None:
    """Stop when this task was asked to: on 3.11 ``wait_for`` (inside aiomqtt, httpx) returns a
    result that raced a cancel, and a TaskGroup whose child failed raises that failure instead
    of the cancel; a loop that goes on after either would never end (a hung shutdown)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
