"""Tariffs: what a kWh costs at a given moment, and what an interval's energy cost.

Design rules:

* **Pure.** Time is passed in (Unix seconds); the only things read are the time-zone database
  and, when no ``timezone`` is given, the host's zone name (:func:`local_timezone_name`).
* **Prices follow local wall-clock time** in the tariff's IANA zone, and the weekday of the
  local calendar date. Across DST that gives 23 h and 25 h days with no special cases: a
  boundary inside the skipped spring hour never occurs, so the price changes at the jump (with
  a 02:30 boundary in Berlin on 2026-03-29, 01:59:59 CET has the old price and 03:00 CEST the
  new one); a boundary inside the repeated autumn hour is crossed twice, once per pass.
* **A window belongs to local calendar dates.** ``TouWindow("weekday", 22:00, 06:00)`` is
  ``[00:00, 06:00)`` and ``[22:00, 24:00)`` on each Monday to Friday, so Saturday 00:00-06:00
  is not in it. Windows must not overlap on any date. Times no window covers cost
  ``flat_price``; without a flat price, the windows must cover the whole week.
* **Energy is spread uniformly over its interval**: :meth:`Tariff.cost` splits the interval at
  every price change and weights each piece by its duration. Money is returned unrounded;
  rounding is for display.
* The fixed ``daily_charge`` is owed once per local calendar day (see :meth:`daily_charges`).
"""

from __future__ import annotations

import math
import os
import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Final, Literal, TypeAlias
from zoneinfo import ZoneInfo

from .errors import ConfigError

__all__ = [
    "NO_TARIFF",
    "WEEKDAY_NAMES",
    "DayKind",
    "Days",
    "Tariff",
    "TouWindow",
    "local_timezone_name",
]

DayKind = Literal["all", "weekday", "weekend"]
Days: TypeAlias = DayKind | frozenset[int]
"""A day kind, or a set of weekday numbers as in ``date.weekday()``: Monday 0 ... Sunday 6."""

WEEKDAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                        "Sunday")
_DAY_KINDS: Final[Mapping[str, frozenset[int]]] = {
    "all": frozenset(range(7)),
    "weekday": frozenset(range(5)),
    "weekend": frozenset({5, 6}),
}
_DAY_S: Final = 86_400.0
_EPOCH_WEEKDAY: Final = 3  # 1970-01-01 was a Thursday


def local_timezone_name() -> str:
    """The host's IANA zone name (``$TZ``, ``/etc/timezone``, ``/etc/localtime``), else "UTC".

    A tariff must name its zone so costs do not change when the collector moves to another
    host; this guess only fills in a missing ``timezone``.
    """
    candidates: list[str] = []
    env = os.environ.get("TZ", "").removeprefix(":")
    if env:
        candidates.append(env)
    try:
        with open("/etc/timezone", encoding="utf-8") as fh:
            candidates.append(fh.read().strip())
    except (OSError, UnicodeDecodeError):
        pass
    try:
        candidates.append(os.readlink("/etc/localtime"))
    except OSError:
        pass
    for candidate in candidates:
        name = candidate.rpartition("zoneinfo/")[2] if "zoneinfo/" in candidate else candidate
        if name and _load_zone(name) is not None:
            return name
    return "UTC"


def _load_zone(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        if name == "UTC":
            return UTC  # a host without a tz database still knows UTC
        return None


def _check_price(what: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0.0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")


def _seconds(t: time) -> float:
    return t.hour * 3600.0 + t.minute * 60.0 + t.second + t.microsecond / 1e6


def _clock(seconds: float) -> str:
    """``HH:MM`` (``HH:MM:SS`` when needed) for a second of the day; 86400 is ``24:00``."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


@dataclass(frozen=True, slots=True)
class TouWindow:
    """A time-of-use price on some weekdays, from ``start`` to ``end`` local wall-clock time.

    ``end <= start`` wraps past midnight (``start == end`` is the whole day); the part after
    midnight belongs to the same listed dates (see the module notes).
    """

    days: Days
    start: time
    end: time
    price: float

    def __post_init__(self) -> None:
        if isinstance(self.days, str):
            if self.days not in _DAY_KINDS:
                raise ValueError(f"unknown day kind {self.days!r}: use 'all', 'weekday', "
                                 "'weekend' or a set of weekday numbers (Monday 0 ... Sunday 6)")
        elif isinstance(self.days, frozenset):
            if not self.days or not all(
                isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in self.days
            ):
                raise ValueError(f"window days must be weekday numbers 0-6 (Monday 0), got "
                                 f"{sorted(self.days, key=repr)!r}")
        else:
            raise TypeError(f"window days must be 'all', 'weekday', 'weekend' or a frozenset of "
                             f"weekday numbers, got {self.days!r}")
        for name, value in (("start", self.start), ("end", self.end)):
            if not isinstance(value, time):
                raise TypeError(f"window {name} must be a datetime.time, got {value!r}")
            if value.tzinfo is not None:
                raise ValueError(f"window {name} must be a local wall-clock time without a zone, "
                                 f"got {value!r}")
        _check_price("window price", self.price)

    @property
    def weekdays(self) -> frozenset[int]:
        return _DAY_KINDS[self.days] if isinstance(self.days, str) else self.days

    def spans(self) -> tuple[tuple[float, float], ...]:
        """The ``[from, to)`` seconds of each listed date that the window covers."""
        start, end = _seconds(self.start), _seconds(self.end)
        if end > start:
            return ((start, end),)
        return ((0.0, end), (start, _DAY_S)) if end > 0.0 else ((start, _DAY_S),)

    def describe(self) -> str:
        days = (self.days if isinstance(self.days, str)
                else ",".join(WEEKDAY_NAMES[d][:3] for d in sorted(self.days)))
        end = _seconds(self.end)
        return f"{days} {_clock(_seconds(self.start))}–{_clock(end or _DAY_S)} at {self.price:g}"


@dataclass(frozen=True, slots=True)
class _Segment:
    start_s: float
    end_s: float
    price: float


@dataclass(frozen=True, slots=True)
class Tariff:
    """Prices per kWh in ``currency``, by local time in ``timezone``, plus a daily charge.

    ``flat_price`` is the price outside every window (the only price with no windows).
    Construction validates everything and raises ``ValueError`` saying what is wrong.
    """

    currency: str = "EUR"
    timezone: str = field(default_factory=local_timezone_name)
    flat_price: float | None = None
    windows: tuple[TouWindow, ...] = ()
    daily_charge: float = 0.0
    _zone: tzinfo = field(init=False, repr=False, compare=False)
    _days: tuple[tuple[_Segment, ...], ...] = field(init=False, repr=False, compare=False)
    _starts: tuple[tuple[float, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.currency, str) or not self.currency.strip():
            raise ValueError(f"currency must be a non-empty string, got {self.currency!r}")
        zone = _load_zone(self.timezone) if isinstance(self.timezone, str) else None
        if zone is None:
            raise ValueError(f"unknown time zone {self.timezone!r}: use an IANA name such as "
                             "'Europe/Berlin', 'America/New_York' or 'UTC'")
        if self.flat_price is not None:
            _check_price("flat price", self.flat_price)
        _check_price("daily charge", self.daily_charge)
        windows = tuple(self.windows)
        for window in windows:
            if not isinstance(window, TouWindow):
                raise TypeError(f"windows must be TouWindow objects, got {window!r}")
        if self.flat_price is None and not windows:
            raise ValueError("a tariff needs a flat price per kWh, time-of-use windows, or both")
        days = tuple(self._schedule(windows, weekday) for weekday in range(7))
        object.__setattr__(self, "windows", windows)
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_days", days)
        object.__setattr__(self, "_starts", tuple(tuple(s.start_s for s in d) for d in days))

    def _schedule(self, windows: tuple[TouWindow, ...], weekday: int) -> tuple[_Segment, ...]:
        """One date's prices as segments covering ``[0, 86400)``; checks overlaps and gaps."""
        spans = sorted(
            (a, b, n) for n, w in enumerate(windows) if weekday in w.weekdays for a, b in w.spans()
        )
        day = WEEKDAY_NAMES[weekday]
        segments: list[_Segment] = []
        cursor, previous = 0.0, -1
        for a, b, n in spans:
            if a < cursor:
                raise ValueError(
                    f"time-of-use windows {previous + 1} ({windows[previous].describe()}) and "
                    f"{n + 1} ({windows[n].describe()}) overlap on {day} "
                    f"{_clock(a)}–{_clock(min(b, cursor))}"
                )
            if a > cursor:
                segments.append(self._fill(day, cursor, a))
            segments.append(_Segment(a, b, float(windows[n].price)))
            cursor, previous = b, n
        if cursor < _DAY_S:
            segments.append(self._fill(day, cursor, _DAY_S))
        return tuple(segments)

    def _fill(self, day: str, a: float, b: float) -> _Segment:
        if self.flat_price is None:
            raise ValueError(f"time-of-use windows leave {day} {_clock(a)}–{_clock(b)} without "
                             "a price (add a window, or a flat price for the hours outside them)")
        return _Segment(a, b, float(self.flat_price))

    # ------------------------------------------------------------------------------------
    # Prices and costs

    def _offset(self, ts: float) -> float:
        offset = datetime.fromtimestamp(ts, self._zone).utcoffset()
        return 0.0 if offset is None else offset.total_seconds()

    def _local(self, wall: float) -> tuple[float, float]:
        """Price at local wall-clock seconds ``wall``, and the seconds until it may change."""
        day, second = divmod(wall, _DAY_S)
        weekday = (int(day) + _EPOCH_WEEKDAY) % 7
        i = bisect_right(self._starts[weekday], second) - 1
        segment = self._days[weekday][i]
        return segment.price, segment.end_s - second

    def _transition(self, lo: float, hi: float, offset: float) -> float:
        """The first instant in ``(lo, hi]`` whose UTC offset is not ``offset`` (hi has another)."""
        while hi - lo > 0.5:
            mid = (lo + hi) / 2.0
            if self._offset(mid) == offset:
                lo = mid
            else:
                hi = mid
        whole = float(math.floor(hi))  # tz transitions fall on whole seconds
        return whole if whole > lo and self._offset(whole) != offset else hi

    def price_at(self, ts: float) -> float:
        """The price per kWh at instant ``ts`` (Unix seconds)."""
        _check_ts(ts)
        return self._local(ts + self._offset(ts))[0]

    def price_periods(self, start_ts: float, end_ts: float) -> Iterator[tuple[float, float, float]]:
        """``(from_ts, to_ts, price)`` pieces of ``[start_ts, end_ts)`` with a constant price.

        Pieces break at every window edge and local midnight, and at UTC-offset changes.
        """
        _check_ts(start_ts)
        _check_ts(end_ts)
        t = start_ts
        while t < end_ts:
            offset = self._offset(t)
            price, remaining = self._local(t + offset)
            stop = min(t + remaining, end_ts)
            if stop <= t:  # float rounding left t a hair before an edge
                stop = min(math.nextafter(t, math.inf), end_ts)
            if self._offset(stop) != offset:
                stop = self._transition(t, stop, offset)
            yield t, stop, price
            t = stop

    def cost(self, start_ts: float, end_ts: float, wh: float) -> float:
        """Cost of ``wh`` spread uniformly over ``[start_ts, end_ts]``, split at price changes."""
        if not math.isfinite(wh) or wh < 0.0:
            raise ValueError(f"energy must be a finite number of Wh >= 0, got {wh!r}")
        _check_ts(start_ts)
        _check_ts(end_ts)
        if end_ts < start_ts:
            raise ValueError(f"interval ends before it starts: {start_ts!r} > {end_ts!r}")
        if wh == 0.0:
            return 0.0
        if not self.windows:
            return wh / 1000.0 * float(self.flat_price or 0.0)
        if end_ts == start_ts:
            return wh / 1000.0 * self.price_at(start_ts)
        weighted = math.fsum(p * (b - a) for a, b, p in self.price_periods(start_ts, end_ts))
        return wh / 1000.0 * weighted / (end_ts - start_ts)

    # ------------------------------------------------------------------------------------
    # Daily charges

    def calendar_days(self, start_ts: float, end_ts: float) -> int:
        """How many local calendar dates the period ``[start_ts, end_ts)`` touches.

        The end is exclusive: a period ending exactly at local midnight does not touch the next
        date, and an empty period touches none. A 23 h or 25 h DST day is one day.
        """
        _check_ts(start_ts)
        _check_ts(end_ts)
        if end_ts < start_ts:
            raise ValueError(f"period ends before it starts: {start_ts!r} > {end_ts!r}")
        if end_ts == start_ts:
            return 0
        first = datetime.fromtimestamp(start_ts, self._zone).date()
        last = datetime.fromtimestamp(end_ts, self._zone).date()
        if self._day_start(last) >= end_ts:
            last -= timedelta(days=1)
        return (last - first).days + 1

    def _day_start(self, day: date) -> float:
        # fold=0: if midnight is skipped, this is the instant of the jump (the date's first).
        return datetime.combine(day, time(0), tzinfo=self._zone).timestamp()

    def daily_charges(self, start_ts: float, end_ts: float) -> float:
        """``daily_charge`` times :meth:`calendar_days` of the reporting period.

        Charge each day once: call it for whole reports or day-aligned periods (hourly pieces
        of one day would each charge that day).
        """
        days = self.calendar_days(start_ts, end_ts)
        return self.daily_charge * days if days else 0.0

    # ------------------------------------------------------------------------------------
    # Configuration

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> Tariff:
        """Build from a ``[tariff]`` TOML table; raise :class:`ConfigError` naming the problem.

        Keys: ``currency``, ``timezone`` (default: the host's), ``price`` (per kWh, used
        outside the windows), ``daily_charge`` and ``[[tariff.windows]]`` tables with ``days``
        ("all", "weekday", "weekend", a day name or a list of them), ``start``/``end`` ("HH:MM";
        "24:00" as an end) and ``price``.
        """
        if not isinstance(section, Mapping):
            raise ConfigError("[tariff] must be a table")
        _check_keys("[tariff]", section, _TARIFF_KEYS)
        currency = section.get("currency", "EUR")
        if not isinstance(currency, str) or not currency.strip():
            raise ConfigError(f"[tariff] currency must be a non-empty string, got {currency!r}")
        zone = section.get("timezone")
        if zone is None:
            zone = local_timezone_name()
        elif not isinstance(zone, str):
            raise ConfigError(f"[tariff] timezone must be a string such as 'Europe/Berlin', "
                              f"got {zone!r}")
        price = section.get("price")
        if price is not None:
            _config_number("[tariff] price", price)
        daily = section.get("daily_charge", 0.0)
        _config_number("[tariff] daily_charge", daily)
        raw_windows = section.get("windows", [])
        if not isinstance(raw_windows, list) or not all(
            isinstance(w, Mapping) for w in raw_windows
        ):
            raise ConfigError("[tariff] windows must be an array of tables ([[tariff.windows]])")
        windows = tuple(_parse_window(n + 1, w) for n, w in enumerate(raw_windows))
        if price is None and not windows:
            raise ConfigError("[tariff] needs a price per kWh (price = 0.30) or time-of-use "
                              "windows ([[tariff.windows]]), or both")
        try:
            return cls(currency=currency, timezone=zone, flat_price=price, windows=windows,
                       daily_charge=daily)
        except ValueError as exc:
            raise ConfigError(f"[tariff] {exc}") from None


def _check_ts(ts: float) -> None:
    if not math.isfinite(ts):
        raise ValueError(f"timestamp must be finite, got {ts!r}")


NO_TARIFF: Final = Tariff(currency="EUR", timezone="UTC", flat_price=0.0)
"""Energy costs nothing: the default when no ``[tariff]`` is configured."""

# ----------------------------------------------------------------------------------------
# Config parsing

_TARIFF_KEYS: Final = ("currency", "timezone", "price", "daily_charge", "windows")
_WINDOW_KEYS: Final = ("days", "start", "end", "price")
_HHMM: Final = re.compile(r"(\d{1,2}):(\d{2})")
_DAY_NAMES: Final[Mapping[str, int]] = {
    **{name.lower(): n for n, name in enumerate(WEEKDAY_NAMES)},
    **{name[:3].lower(): n for n, name in enumerate(WEEKDAY_NAMES)},
}
_DAY_KIND_NAMES: Final[Mapping[str, DayKind]] = {
    "all": "all", "daily": "all", "weekday": "weekday", "weekdays": "weekday",
    "weekend": "weekend", "weekends": "weekend",
}


def _check_keys(where: str, table: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(f"{where} unknown key {key!r} (known: {', '.join(known)})")


def _config_number(what: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{what} must be a number >= 0, got {value!r}")


def _parse_window(number: int, raw: Mapping[str, Any]) -> TouWindow:
    where = f"[[tariff.windows]] #{number}"
    _check_keys(where, raw, _WINDOW_KEYS)
    for key in _WINDOW_KEYS:
        if key not in raw:
            raise ConfigError(f"{where} is missing {key!r} (a window needs days, start, end and "
                              "price)")
    price = raw["price"]
    _config_number(f"{where} price", price)
    days = _parse_days(where, raw["days"])
    start = _parse_clock(where, "start", raw["start"])
    end = _parse_clock(where, "end", raw["end"])
    try:
        return TouWindow(days, start, end, float(price))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _parse_days(where: str, value: object) -> Days:
    hint = ("use \"all\", \"weekday\", \"weekend\", a day name or a list of day names such as "
            "[\"sat\", \"sun\"]")
    if isinstance(value, str):
        key = value.strip().lower()
        if key in _DAY_KIND_NAMES:
            return _DAY_KIND_NAMES[key]
        if key in _DAY_NAMES:
            return frozenset({_DAY_NAMES[key]})
        raise ConfigError(f"{where} unknown days {value!r}: {hint}")
    if isinstance(value, list) and value:
        numbers: set[int] = set()
        for item in value:
            if not isinstance(item, str) or item.strip().lower() not in _DAY_NAMES:
                raise ConfigError(f"{where} unknown day {item!r} in days: {hint}")
            numbers.add(_DAY_NAMES[item.strip().lower()])
        return frozenset(numbers)
    raise ConfigError(f"{where} bad days {value!r}: {hint}")


def _parse_clock(where: str, key: str, value: object) -> time:
    if isinstance(value, time):  # a TOML local time: start = 07:00:00
        if value.tzinfo is not None:
            raise ConfigError(f"{where} {key} must be a local time without a zone, got {value}")
        return value
    if isinstance(value, str):
        match = _HHMM.fullmatch(value.strip())
        if match:
            hours, minutes = int(match[1]), int(match[2])
            if key == "end" and (hours, minutes) == (24, 0):
                return time(0, 0)
            if hours < 24 and minutes < 60:
                return time(hours, minutes)
    last = " ('24:00' is allowed as an end)" if key == "end" else ""
    raise ConfigError(f"{where} bad {key} time {value!r}: use HH:MM, e.g. '07:00'{last}")
