"""Notification channels: one ``send(event)`` per URL scheme.

- ``http://`` / ``https://``: the event's JSON is POSTed as is (a generic webhook).
- ``ntfy://host/topic`` (plain HTTP) and ``ntfys://host/topic`` (HTTPS): ntfy's publish API,
  the message as the body with ``Title``, ``Tags`` and ``Priority`` headers.
- ``mqtt:TOPIC``: published (QoS 1) through the broker of the ``[mqtt]`` section.
- anything else: Apprise, when the optional extra is installed (``pip install apprise``).

A send either returns or raises :class:`DeliveryError` (retried later by the outbox); it never
retries itself. Every request has a timeout, and an answer body is never read beyond 64 kB.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import httpx

from ...config.alerts import NotifyTarget, redact_target
from ...errors import PowermonitorError
from ..events import Deliverable

TIMEOUT_S = 10.0
_PRIORITY = {"overload": "high", "offline": "high", "key_rejected": "high", "finished": "default"}


class DeliveryError(PowermonitorError):
    """A channel did not take the event (down, refused, timed out): retry later."""


class Notifier(Protocol):
    name: str

    async def send(self, event: Deliverable) -> None: ...


class _Http:
    def __init__(self, target: NotifyTarget) -> None:
        self.name = target.name
        self.target = target

    async def _post(self, url: str, content: bytes, headers: Mapping[str, str]) -> None:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False,
                                         trust_env=False) as client:
                response = await client.post(url, content=content, headers=dict(headers))
        except (httpx.HTTPError, OSError) as exc:
            raise DeliveryError(f"{self.name}: {redact_target(url)}: {type(exc).__name__}: "
                                f"{str(exc)[:200]}") from exc
        if response.status_code >= 300:
            raise DeliveryError(f"{self.name}: {redact_target(url)} answered HTTP "
                                f"{response.status_code}")


class WebhookNotifier(_Http):
    async def send(self, event: Deliverable) -> None:
        await self._post(self.target.url, event.dumps().encode(),
                         {"Content-Type": "application/json"})


class NtfyNotifier(_Http):
    async def send(self, event: Deliverable) -> None:
        scheme, rest = self.target.url.split("://", 1)
        url = ("https://" if scheme.lower() == "ntfys" else "http://") + rest
        title = self.target.title or f"{event.plug or event.plug_id}: {event.alert}"
        headers = {
            "Title": title.encode("utf-8", "replace").decode("latin-1", "replace"),
            "Tags": event.event,
            "Priority": _PRIORITY.get(event.event, "default"),
            "Content-Type": "text/plain; charset=utf-8",
        }
        await self._post(url, event.message.encode(), headers)


class MqttNotifier:
    def __init__(self, target: NotifyTarget, settings: Any) -> None:
        self.name = target.name
        self.topic = target.url.split(":", 1)[1].lstrip("/")
        self.settings = settings  # exporters.mqtt.MqttSettings, or None when [mqtt] is off

    async def send(self, event: Deliverable) -> None:
        if self.settings is None:
            raise DeliveryError(f"{self.name}: mqtt: needs an [mqtt] section (url = ...)")
        import aiomqtt

        s = self.settings
        try:
            async with asyncio.timeout(TIMEOUT_S), aiomqtt.Client(
                s.host, s.port, username=s.username, password=s.password, timeout=TIMEOUT_S,
            ) as client:
                await client.publish(self.topic, event.dumps().encode(), qos=1)
        except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
            raise DeliveryError(f"{self.name}: MQTT {s.url}: {exc}") from exc


class AppriseNotifier:
    def __init__(self, target: NotifyTarget) -> None:
        self.name = target.name
        self.url = target.url

    async def send(self, event: Deliverable) -> None:
        import apprise  # type: ignore[import-not-found,unused-ignore]  # typed, when installed

        app = apprise.Apprise()
        if not app.add(self.url):
            raise DeliveryError(f"{self.name}: Apprise does not accept this URL")
        ok = await asyncio.to_thread(app.notify, body=event.message,
                                     title=f"{event.plug}: {event.alert}")
        if not ok:
            raise DeliveryError(f"{self.name}: Apprise could not deliver")


def build_notifier(target: NotifyTarget, mqtt_settings: Any = None) -> Notifier:
    scheme = target.scheme
    if scheme in ("http", "https"):
        return WebhookNotifier(target)
    if scheme in ("ntfy", "ntfys"):
        return NtfyNotifier(target)
    if scheme == "mqtt":
        return MqttNotifier(target, mqtt_settings)
    return AppriseNotifier(target)


async def send_now(notifiers: Mapping[str, Notifier], event: Deliverable,
                   channels: Sequence[str]) -> dict[str, str]:
    """Send straight to each channel (``alerts test``): channel → "ok" or the error."""
    results: dict[str, str] = {}
    for channel in channels:
        notifier = notifiers.get(channel)
        if notifier is None:
            results[channel] = "no such [[notify]] channel"
            continue
        try:
            await notifier.send(event)
            results[channel] = "ok"
        except DeliveryError as exc:
            results[channel] = str(exc)
    return results
