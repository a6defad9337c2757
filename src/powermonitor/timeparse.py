"""Times in and out: parse what users type (``24h``, ``7d``, ``90m``, ``2026-11-01``,
``2026-11-01T08:00``, ``now``) and format ISO-8601 UTC with a ``Z`` (:func:`iso_utc`, the one
place every output -- API, SSE, MQTT, CLI, reports -- writes a time).

Relative values count back from ``now``; dates without a zone are in the user's time zone
(the tariff's, when one is configured), because "since Monday" means the user's Monday.

Every result lies between 1970-01-01 and 9000-01-01 UTC (:data:`EARLIEST`, :data:`LATEST`):
anything else (``99999999999d``, year 0 or 10000) is a :class:`~powermonitor.errors.UsageError`
here, never an overflow further down (datetime, SQLite, PostgreSQL).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .errors import UsageError

_RELATIVE = re.compile(r"^\s*(\d{1,15}(?:\.\d{1,9})?)\s*(s|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
EARLIEST = 0.0
"""1970-01-01T00:00:00Z, as Unix seconds."""
LATEST = datetime(9000, 1, 1, tzinfo=UTC).timestamp()
"""9000-01-01T00:00:00Z: far enough for any use, with room for every time-zone offset."""
_RANGE = "between 1970 and 9000"


class OutOfRangeError(UsageError):
    """A well-formed time outside :data:`EARLIEST`..:data:`LATEST` (the API answers 422)."""


def parse_duration(text: str) -> float:
    """``90m`` → 5400.0 seconds (at most the span :data:`EARLIEST`..:data:`LATEST`)."""
    match = _RELATIVE.match(text)
    if not match:
        raise UsageError(f"{text!r} is not a duration such as 30m, 24h or 7d")
    seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if not math.isfinite(seconds) or seconds > LATEST - EARLIEST:
        raise OutOfRangeError(f"{text.strip()!r} is too long a duration: times must lie {_RANGE}")
    return seconds


def _in_range(text: str, moment: float) -> float:
    if not EARLIEST <= moment < LATEST:
        raise OutOfRangeError(f"{text.strip()!r} is out of range: times must lie {_RANGE}")
    return moment


def parse_time(text: str, now: float, tz: ZoneInfo) -> float:
    """A point in time as Unix seconds, :data:`EARLIEST` <= t < :data:`LATEST`."""
    value = text.strip().lower()
    if value == "now":
        return _in_range(text, now)
    if value in ("today", "yesterday"):
        day = datetime.fromtimestamp(_in_range(text, now), tz).date()
        if value == "yesterday":
            day -= timedelta(days=1)
        return _in_range(text, datetime.combine(day, time(0), tz).timestamp())
    if _RELATIVE.match(value):
        return _in_range(text, now - parse_duration(value))
    try:
        moment = datetime.fromisoformat(text.strip())  # 3.11 accepts a trailing Z
    except ValueError:
        raise UsageError(
            f"{text!r} is not a time: use 24h, 7d, today, 2026-11-01 or 2026-11-01T08:00 "
            f"(years {_RANGE})"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    try:
        stamp = moment.timestamp()
    except (OverflowError, ValueError, OSError):
        raise OutOfRangeError(f"{text.strip()!r} is out of range: times must lie {_RANGE}") from None
    return _in_range(text, stamp)


def iso_utc(moment: datetime | float, timespec: str = "auto") -> str:
    """ISO-8601 in UTC with a ``Z`` (``2026-11-01T08:00:00.5Z``); a float is Unix seconds, a
    naive datetime is UTC. ``timespec`` as :meth:`datetime.isoformat` (``"seconds"``...)."""
    if isinstance(moment, datetime):
        when = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    else:
        when = datetime.fromtimestamp(moment, UTC)
    return when.isoformat(timespec=timespec).replace("+00:00", "Z")
