"""Frozen, slotted value objects passed between layers.

SI units with the unit in the field name (``power_w``, ``voltage_v``, ``current_a``). The raw
dps are kept beside the interpreted values so a user can always check what the plug said.
Secrets never appear in ``repr``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit


def mask_key(key: str | bytes | None, compact: bool = False) -> str:
    """Show a local key as its first 2 and last 2 characters: never print a key in full.

    ``compact`` puts one ``…`` for the hidden middle (table columns at 80 characters)."""
    if not key:
        return "(none)"
    text = key.decode("latin-1") if isinstance(key, bytes) else key
    if len(text) <= 4:
        return "*" * len(text)
    return f"{text[:2]}{'…' if compact else '*' * (len(text) - 4)}{text[-2:]}"


_SECRET_PARAM = re.compile(r"pass|secret|token|key", re.IGNORECASE)


def redact_url(url: str) -> str:
    """A URL fit for messages and logs: its password (``user:***@``) and any query values
    (``?password=***``) masked. The one redaction rule for database, MQTT and InfluxDB URLs."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "(unparseable URL)"
    netloc = parts.netloc
    if password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{host}"
    query = "&".join(
        f"{k}=***" if _SECRET_PARAM.search(k) else f"{k}{eq}{v}"
        for k, eq, v in (p.partition("=") for p in parts.query.split("&"))
    ) if parts.query else ""
    return urlunsplit(parts._replace(netloc=netloc, query=query))


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """How to reach one plug. ``local_key`` is excluded from repr."""

    device_id: str
    host: str
    local_key: str = field(default="", repr=False)
    version: str = "auto"
    port: int = 6668
    name: str = ""

    @property
    def masked_key(self) -> str:
        return mask_key(self.local_key)


@dataclass(frozen=True, slots=True)
class Reading:
    """One interpreted status snapshot of a plug.

    ``power_w``/``voltage_v``/``current_a`` are None when the plug does not report them (never 0 as
    a stand-in). ``switches`` maps outlet number (1-based DP id of the switch) to its state, so a
    multi-outlet strip shows every outlet; ``switch`` is outlet 1 (or the first one).
    ``source`` says how the DPs were read ("mapping NAME", "profile ID", "guess LAYOUT" or
    "none"); ``notes`` say what was rejected or left unknown, naming the DP.
    """

    device_id: str
    timestamp: datetime
    switch: bool | None = None
    switches: Mapping[str, bool] = field(default_factory=dict)
    power_w: float | None = None
    voltage_v: float | None = None
    current_a: float | None = None
    apparent_power_va: float | None = None
    power_factor: float | None = None
    energy_increment_wh: float | None = None
    dps: Mapping[str, Any] = field(default_factory=dict)
    protocol: str = ""
    energy_total_wh: float | None = None
    source: str = ""
    notes: tuple[str, ...] = ()

    @property
    def has_power_data(self) -> bool:
        return self.power_w is not None or self.current_a is not None or self.voltage_v is not None

    @property
    def current_ma(self) -> float | None:
        return None if self.current_a is None else round(self.current_a * 1000.0, 3)


_READING_SETTERS = tuple(getattr(Reading, f.name).__set__ for f in fields(Reading))


def new_reading(*values: Any) -> Reading:
    """A :class:`Reading` from every field's value, in declaration order: the one interpret()
    makes per poll. The same object as ``Reading(...)``, made in 40 % of the time: each slot
    is set through its own setter, not object.__setattr__ as a frozen dataclass's __init__."""
    reading: Reading = object.__new__(Reading)
    for set_value, value in zip(_READING_SETTERS, values, strict=True):
        set_value(reading, value)
    return reading
