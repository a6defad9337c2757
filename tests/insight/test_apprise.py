"""The Apprise channel (the optional extra) delivers through a real Apprise to 127.0.0.1."""

from __future__ import annotations

import pytest

from powermonitor.alerts.events import AlertEvent
from powermonitor.alerts.notify import AppriseNotifier, DeliveryError, build_notifier
from powermonitor.config.alerts import NotifyTarget

from .receiver import Receiver


async def test_a_json_url_goes_through_apprise_to_the_receiver() -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        target = NotifyTarget("apprise", f"json://127.0.0.1:{receiver.port}/apprise")
        notifier = build_notifier(target)
        assert isinstance(notifier, AppriseNotifier)
        event = AlertEvent("washer done", "Washer", "w1", "finished", 1_800_000_000.0,
                           notify=("apprise",))
        await notifier.send(event)
        got = await receiver.wait_for(lambda r: any(x.path == "/apprise" for x in r))
        body = next(x for x in got if x.path == "/apprise").json()
        assert body["title"] == "Washer: washer done"
        assert body["message"] == event.message
    finally:
        await receiver.stop()


async def test_a_receiver_that_is_down_is_a_delivery_error() -> None:
    receiver = Receiver(status=503)
    await receiver.start()
    try:
        target = NotifyTarget("apprise", f"json://127.0.0.1:{receiver.port}/apprise")
        with pytest.raises(DeliveryError, match="could not deliver"):
            await build_notifier(target).send(
                AlertEvent("x", "Heater", "h1", "overload", 1_800_000_000.0, notify=("apprise",)))
    finally:
        await receiver.stop()
