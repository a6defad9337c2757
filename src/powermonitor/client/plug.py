"""``Plug``: the public asyncio API for one plug, with version detection, retries and Readings.

    async with Plug("bf123...", "192.168.1.50", "0123456789abcdef", version="auto") as plug:
        reading = await plug.status()
        print(reading.power_w, plug.version)

Retry policy lives here, one level above the transport: a timeout or a lost connection is
retried on a fresh connection (and a fresh session key); a wrong key or version never is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Self

from ..dps import DpMapping, interpret
from ..errors import (
    ConnectionClosedError,
    DeviceReportedError,
    DeviceTimeoutError,
    KeyOrVersionError,
    PlugBusyError,
    PowermonitorError,
    ProtocolError,
    UnknownVersionError,
    UnreachableError,
    UsageError,
)
from ..models import DeviceInfo, Reading, mask_key
from ..protocol.versions import AUTO_ORDER, normalize_version
from .device import PushCallback, TuyaDevice, busy_message, validate_key

log = logging.getLogger(__name__)

_RETRYABLE = (DeviceTimeoutError, UnreachableError)

AUTO_ATTEMPT_TIMEOUT = 2.0
"""Longest wait per version while detecting: five versions must not take 5 x 5 s on a silent
plug. Messages say the timeout that was really used."""


class Plug:
    """A smart plug: connect (detecting the version if asked), read it, switch it."""

    def __init__(
        self,
        device_id: str,
        host: str,
        local_key: str = "",
        version: str | float = "auto",
        *,
        port: int = 6668,
        timeout: float = 5.0,
        retries: int = 2,
        mapping: DpMapping | None = None,
        product_id: str | None = None,
        on_push: PushCallback | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.device_id = device_id
        self.host = host
        self.port = port
        self.timeout = timeout
        self.retries = max(0, retries)
        self.mapping = mapping
        self.product_id = product_id
        try:
            self.requested_version = normalize_version(version)
        except UnknownVersionError as exc:
            raise UsageError(str(exc)) from None
        if self.requested_version != "auto":
            validate_key(local_key, self.requested_version)
        self._local_key = local_key
        self._on_push = on_push
        self._clock = clock
        self._device: TuyaDevice | None = None
        self.tried_versions: list[str] = []

    @classmethod
    def from_info(cls, info: DeviceInfo, **kwargs: Any) -> Plug:
        return cls(info.device_id, info.host, info.local_key, info.version, port=info.port, **kwargs)

    def __repr__(self) -> str:
        return (
            f"Plug({self.device_id!r}, {self.host}:{self.port}, key={mask_key(self._local_key)}, "
            f"version={self.version})"
        )

    @property
    def version(self) -> str:
        if self._device is not None:
            return self._device.version
        return self.requested_version

    @property
    def protocol_label(self) -> str:
        """Version as shown to users, e.g. "3.3" or "3.3 (device22)"."""
        if self._device is not None and self._device.device22 and self._device.version != "3.2":
            return f"{self._device.version} (device22)"
        return self.version

    @property
    def dps(self) -> dict[str, Any]:
        return dict(self._device.dps) if self._device else {}

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._device is not None:
            await self._device.close()

    async def connect(self) -> None:
        """Connect with retries; with ``version="auto"`` find the version that works."""
        await self._with_retries(self._connect_once)

    async def status(self) -> Reading:
        device = self._device
        if device is None or not device.connected:
            return self._reading(await self._with_retries(self._status_once))
        try:  # the usual poll, on a live connection: no retry machinery until it fails
            dps = await device.status()
        except _RETRYABLE as exc:
            dps = await self._with_retries(self._status_once, failed=exc)
        return self._reading(dps)

    async def status_dps(self) -> dict[str, Any]:
        dps: dict[str, Any] = await self._with_retries(self._status_once)
        return dps

    async def set_dps(self, dps: dict[str, Any]) -> Reading:
        async def once() -> dict[str, Any]:
            device = await self._ensure()
            return await device.set_dps(dps)

        return self._reading(await self._with_retries(once))

    async def set_switch(self, on: bool, outlet: int | str = 1) -> Reading:
        return await self.set_dps({str(outlet): bool(on)})

    async def turn_on(self, outlet: int | str = 1) -> Reading:
        return await self.set_switch(True, outlet)

    async def turn_off(self, outlet: int | str = 1) -> Reading:
        return await self.set_switch(False, outlet)

    async def refresh(self, dp_ids: list[int] | None = None) -> None:
        device = await self._ensure()
        await device.refresh(dp_ids or [4, 5, 6, 18, 19, 20])

    # ------------------------------------------------------------------ internals

    def _reading(self, dps: dict[str, Any]) -> Reading:
        return interpret(
            dps,
            device_id=self.device_id,
            timestamp=datetime.fromtimestamp(self._clock(), UTC),
            protocol=self.protocol_label,
            mapping=self.mapping,
            product_id=self.product_id,
        )

    async def _ensure(self) -> TuyaDevice:
        device = self._device
        if device is None or not device.connected:
            self._raise_last_error()
            await self._connect_once()
        assert self._device is not None
        return self._device

    def _raise_last_error(self) -> None:
        error = self._device.error if self._device is not None else None
        if error is not None and not isinstance(error, _RETRYABLE):
            raise error  # garbage, a broken cap or a wrong key ended the last link

    async def _status_once(self) -> dict[str, Any]:
        fresh = self._device is None or not self._device.connected
        if fresh and self.requested_version != "auto":  # the query leaves with the connection
            self._raise_last_error()
            self._device = self._new_device(self.requested_version, self._device22_hint())
            return await self._device._connect_status()
        device = await self._ensure()
        if fresh and self.requested_version == "auto" and device.dps:
            return dict(device.dps)  # detection already read the plug on this connection
        return await device.status()

    async def _connect_once(self) -> None:
        if self._device is not None and self._device.connected:
            return
        if self.requested_version != "auto":
            self._device = self._new_device(self.requested_version, self._device22_hint())
            await self._device.connect()
            return
        if self._device is not None:  # detected earlier: reconnect with what worked
            self._device = self._new_device(self._device.version, self._device.device22)
            await self._device.connect()
            return
        await self._detect()

    def _device22_hint(self) -> bool:
        return self._device.device22 if self._device is not None else False

    def _new_device(self, version: str, device22: bool = False) -> TuyaDevice:
        return TuyaDevice(
            self.device_id, self.host, self._local_key, version,
            port=self.port, timeout=self.timeout, device22=device22,
            on_push=self._on_push, clock=self._clock,
        )

    async def _detect(self) -> None:
        self.tried_versions = []
        self._device = await open_detecting(
            self.device_id, self.host, self._local_key, port=self.port, timeout=self.timeout,
            on_push=self._on_push, clock=self._clock, tried=self.tried_versions,
        )

    async def _with_retries(
        self, op: Callable[[], Any], failed: PowermonitorError | None = None
    ) -> Any:
        """Run ``op`` with retries; ``failed``: the first attempt was already made, and failed."""
        delay = 0.2
        for attempt in range(self.retries + 1):
            try:
                if failed is not None:
                    exc, failed = failed, None
                    raise exc
                return await op()
            except _RETRYABLE as exc:
                if attempt == self.retries:
                    raise
                log.debug("attempt %d failed (%s); retrying", attempt + 1, exc)
                if self._device is not None:
                    await self._device.close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")


async def open_detecting(
    device_id: str,
    host: str,
    local_key: str,
    *,
    port: int = 6668,
    timeout: float = 5.0,
    on_push: PushCallback | None = None,
    clock: Callable[[], float] = time.time,
    tried: list[str] | None = None,
) -> TuyaDevice:
    """Find the protocol version a plug speaks; return it connected, with its dps read.

    Each version is tried on its own connection, closed before the next one opens (plugs take
    one client at a time). A refused connection or bytes that are not Tuya frames end the
    search at once (no version will help). When no version works, the error says what the
    plug did, most telling first: it answered but failed the integrity check (wrong key, 5),
    it refused the request (6), it closed the connection without answering (busy, 8), or it
    never answered (timeout, 4, with the timeout really used per version).
    """
    candidates = [v for v in AUTO_ORDER if v == "3.1" or len(local_key) == 16]
    attempt_timeout = min(timeout, AUTO_ATTEMPT_TIMEOUT)
    tried = [] if tried is None else tried
    failures: list[PowermonitorError] = []
    for version in candidates:
        tried.append(version)
        device = TuyaDevice(
            device_id, host, local_key, version, port=port, timeout=attempt_timeout,
            on_push=on_push, clock=clock,
        )
        try:
            await device.connect()
            await device.status()
        except ConnectionClosedError as exc:  # busy included: another version may answer
            await device.close()
            failures.append(exc)
            continue
        except (UnreachableError, ProtocolError):
            await device.close()
            raise
        except PowermonitorError as exc:
            await device.close()
            failures.append(exc)
            continue
        device.timeout = timeout
        log.info("%s speaks protocol %s", device_id, version)
        return device
    raise _detection_failed(failures, tried, host, port, local_key, attempt_timeout)


def _detection_failed(
    failures: list[PowermonitorError], tried: list[str], host: str, port: int,
    local_key: str, attempt_timeout: float,
) -> PowermonitorError:
    """The one error that best explains why no version worked."""
    names = ", ".join(tried)
    for exc in failures:
        if isinstance(exc, KeyOrVersionError):
            return KeyOrVersionError(
                f"the plug answered, but no protocol version passed the integrity check "
                f"(tried {names}): check the local key {mask_key(local_key)}; last error: {exc}"
            )
    for exc in failures:
        if isinstance(exc, DeviceReportedError):
            return exc
    if any(isinstance(exc, PlugBusyError) for exc in failures):
        return PlugBusyError(f"{busy_message(host, port, None)} (tried protocol {names})")
    if failures and all(isinstance(exc, DeviceTimeoutError) for exc in failures):
        return DeviceTimeoutError(
            f"the plug at {host}:{port} accepted connections but never answered within "
            f"{attempt_timeout:g} s per version (tried protocol {names}); give the version "
            "to wait longer"
        )
    if failures:
        return failures[-1]
    return KeyOrVersionError("no protocol version to try without a 16-character local key")
