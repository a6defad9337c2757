"""Alert rules and notify channels as plain, validated dataclasses (``[[alerts]]``/``[[notify]]``).

Parsing raises :class:`RuleError` naming the section, its position and the offending key, so
the config loader can point at ``file:line`` like for every other section. Durations are
``"20s"``, ``"5m"``, ``"1h"`` (or a number of seconds), so tests can run rules in seconds.

Presets give the thresholds that work for common appliances (see README "Alerts"); any key
written next to ``preset`` overrides it.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import time
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from ..errors import UsageError
from ..timeparse import parse_duration

When = Literal["finished", "running", "overload", "offline", "standby", "key_rejected"]
WHEN: Final[tuple[str, ...]] = ("finished", "running", "overload", "offline", "standby",
                                "key_rejected")
CYCLE_RULES: Final = frozenset({"finished", "running"})
MAX_RULES: Final = 1000


class _Bad(Exception):
    pass


class RuleError(UsageError):
    """An invalid ``[[alerts]]``/``[[notify]]`` entry: ``section``, 0-based ``position``, ``key``."""

    def __init__(self, section: str, position: int, key: str, message: str) -> None:
        super().__init__(message)
        self.section, self.position, self.key, self.message = section, position, key, message


@dataclass(frozen=True, slots=True)
class CycleThresholds:
    """When a plug's run starts and ends (split thresholds: start above, stop below)."""

    start_w: float = 10.0
    start_for_s: float = 60.0
    stop_w: float = 5.0
    stop_for_s: float = 300.0  # pauses shorter than this never end a cycle
    min_wh: float = 0.0  # runs using less are ignored (ghost cycles)


PRESETS: Final[Mapping[str, CycleThresholds]] = {
    "washer": CycleThresholds(10.0, 60.0, 5.0, 300.0, 20.0),
    "dryer": CycleThresholds(100.0, 120.0, 10.0, 600.0, 100.0),
    "dishwasher": CycleThresholds(10.0, 60.0, 5.0, 900.0, 50.0),  # long drying pauses
    "kettle": CycleThresholds(500.0, 5.0, 20.0, 10.0, 5.0),
    "pump": CycleThresholds(50.0, 10.0, 10.0, 30.0, 1.0),
}


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local wall-clock span (may cross midnight) during which delivery waits."""

    start: time
    end: time

    def contains(self, t: time) -> bool:
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    when: When
    plug: str = "*"  # a plug's name or id, or "*"
    notify: tuple[str, ...] = ()
    cycle: CycleThresholds = field(default_factory=CycleThresholds)
    above_w: float = 0.0  # overload
    for_s: float = 0.0  # overload: how long above; offline: how long unreachable
    hysteresis_w: float = 0.0  # overload re-arms below above_w - hysteresis_w
    standby_w: float = 0.0  # standby: always-on power above this over a day
    repeat_s: float = 0.0  # re-send while the condition lasts (overload, offline); 0 = once
    cooldown_s: float = 0.0  # the same event for the same plug is not sent again within this
    quiet: QuietHours | None = None

    def matches(self, device_id: str, name: str) -> bool:
        return self.plug in ("*", device_id, name)


@dataclass(frozen=True, slots=True)
class NotifyTarget:
    name: str
    url: str = field(repr=False)  # may hold a token: repr shows the scheme only
    title: str = ""

    @property
    def scheme(self) -> str:
        return self.url.split(":", 1)[0].lower()

    def __repr__(self) -> str:
        return f"NotifyTarget({self.name!r}, {self.scheme}://…)"


def redact_target(url: str) -> str:
    """A channel URL fit for logs and ``config show``: scheme and host only (paths and user
    parts often carry tokens: ``tgram://TOKEN/CHAT``, a private ntfy topic)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparseable URL)"
    return f"{parts.scheme}://{host}{port}/…" if parts.scheme else "(no scheme)"


def duration(key: str, value: object) -> float:
    if isinstance(value, bool):
        raise _Bad(f"{key} must be a duration such as \"20s\", \"5m\" or \"1h\"")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except UsageError:
            raise _Bad(f"{key} must be a duration such as \"20s\", \"5m\" or \"1h\", "
                             f"not {value!r}") from None
    else:
        raise _Bad(f"{key} must be a duration such as \"20s\", \"5m\" or \"1h\"")
    if not math.isfinite(seconds) or not 0 <= seconds <= 366 * 86400:
        raise _Bad(f"{key} must be between 0 s and a year")
    return seconds


def _watts(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(f"{key} must be a number of watts")
    w = float(value)
    if not math.isfinite(w) or not 0 <= w <= 100_000:
        raise _Bad(f"{key} must be between 0 and 100000 W")
    return w


def _text(key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise _Bad(f"{key} must be a non-empty string (at most 200 characters)")
    return value.strip()


_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _quiet(value: object) -> QuietHours:
    match = _CLOCK.match(value) if isinstance(value, str) else None
    if match is None:
        raise _Bad('quiet_hours must look like "22:00-07:00"')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise _Bad('quiet_hours must look like "22:00-07:00" (hours 0-23)')
    return QuietHours(time(h1, m1), time(h2, m2))


_COMMON = ("name", "plug", "when", "notify", "repeat", "cooldown", "quiet_hours")
_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "finished": (*_COMMON, "preset", "start_w", "start_for", "stop_w", "stop_for", "min_wh"),
    "running": (*_COMMON, "preset", "start_w", "start_for", "stop_w", "stop_for", "min_wh"),
    "overload": (*_COMMON, "above_w", "for", "hysteresis_w"),
    "offline": (*_COMMON, "for"),
    "standby": (*_COMMON, "above_w", "over"),
    "key_rejected": _COMMON,
}


def parse_rule(table: Mapping[str, Any], position: int, channels: Sequence[str]) -> Rule:
    key = "name"
    try:
        name = _text("name", table.get("name"))
        key = "when"
        when = table.get("when")
        if when not in WHEN:
            raise _Bad(f"when must be one of {', '.join(WHEN)} (got {when!r})")
        allowed = _KEYS[str(when)]
        for k in table:
            if k not in allowed:
                key = k
                raise _Bad(f"unknown key {k!r} for when = {when!r} (allowed: "
                                 f"{', '.join(allowed)})")
        key = "plug"
        plug = _text("plug", table.get("plug", "*"))
        key = "notify"
        raw_notify = table.get("notify", [])
        if isinstance(raw_notify, str):
            raw_notify = [raw_notify]
        if not isinstance(raw_notify, list) or not all(isinstance(n, str) for n in raw_notify):
            raise _Bad("notify must be a list of [[notify]] names")
        for n in raw_notify:
            if n not in channels:
                raise _Bad(f"notify names {n!r}, which no [[notify]] section defines"
                                 + (f" (defined: {', '.join(channels)})" if channels else ""))
        rule = Rule(name=name, when=when, plug=plug,
                    notify=tuple(raw_notify))
        cycle = rule.cycle
        if "preset" in table:
            key = "preset"
            preset = table["preset"]
            if preset not in PRESETS:
                raise _Bad(f"preset must be one of {', '.join(PRESETS)} (got {preset!r})")
            cycle = PRESETS[preset]
        for key, attr, conv in (("start_w", "start_w", _watts), ("stop_w", "stop_w", _watts),
                                ("start_for", "start_for_s", duration),
                                ("stop_for", "stop_for_s", duration)):
            if key in table:
                cycle = replace(cycle, **{attr: conv(key, table[key])})
        key = "min_wh"
        if "min_wh" in table:
            cycle = replace(cycle, min_wh=_watts("min_wh", table["min_wh"]))
        key = "stop_w"
        if cycle.stop_w > cycle.start_w:
            raise _Bad(f"stop_w ({cycle.stop_w:g}) must not be above start_w "
                             f"({cycle.start_w:g})")
        changes: dict[str, Any] = {"cycle": cycle}
        for key, attr, conv in (("above_w", "above_w", _watts), ("for", "for_s", duration),
                                ("over", "for_s", duration),
                                ("hysteresis_w", "hysteresis_w", _watts),
                                ("repeat", "repeat_s", duration),
                                ("cooldown", "cooldown_s", duration)):
            if key in table:
                changes[attr] = conv(key, table[key])
        key = "above_w"
        if when == "overload" and not changes.get("above_w"):
            raise _Bad("an overload rule needs above_w (watts)")
        if when == "standby":
            changes["standby_w"] = changes.pop("above_w", 1.0)
        key = "hysteresis_w"
        if changes.get("hysteresis_w", 0.0) > changes.get("above_w", 0.0):
            raise _Bad("hysteresis_w must not exceed above_w")
        key = "for"
        if when == "offline" and "for_s" not in changes:
            changes["for_s"] = 300.0
        key = "quiet_hours"
        if "quiet_hours" in table:
            changes["quiet"] = _quiet(table["quiet_hours"])
        return replace(rule, **changes)
    except _Bad as exc:
        raise RuleError("alerts", position, key, str(exc)) from None


_SCHEMES: Final = ("http", "https", "ntfy", "ntfys", "mqtt")


def parse_target(table: Mapping[str, Any], position: int) -> NotifyTarget:
    key = "name"
    try:
        for k in table:
            if k not in ("name", "url", "title"):
                key = k
                raise _Bad(f"unknown key {k!r} (allowed: name, url, title)")
        key = "name"
        name = _text("name", table.get("name"))
        key = "url"
        url = _text("url", table.get("url"))
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
            raise _Bad("url must start with a scheme: https://, ntfy://, ntfys://, "
                             "mqtt:TOPIC or an Apprise URL")
        if scheme == "mqtt" and not url[5:].strip("/"):
            raise _Bad("an mqtt url needs a topic: mqtt:powermonitor/alerts")
        if scheme not in _SCHEMES and importlib.util.find_spec("apprise") is None:
            raise _Bad(f"{scheme}:// needs Apprise: pip install 'tuya-powermonitor[apprise]'"
                       " (built in: https://, http://, ntfy://, ntfys://, mqtt:)")
        key = "title"
        title = _text("title", table["title"]) if "title" in table else ""
        return NotifyTarget(name, url, title)
    except _Bad as exc:
        raise RuleError("notify", position, key, str(exc)) from None


@dataclass(frozen=True, slots=True)
class AlertConfig:
    rules: tuple[Rule, ...] = ()
    targets: tuple[NotifyTarget, ...] = ()


def parse_sections(raw_notify: object, raw_alerts: object) -> AlertConfig:
    """Both sections, validated together (rules refer to channels by name)."""
    targets: list[NotifyTarget] = []
    for section, raw in (("notify", raw_notify), ("alerts", raw_alerts)):
        if raw is not None and not isinstance(raw, list):
            raise RuleError(section, 0, section, f"'{section}' must be an array of tables: "
                            f"write [[{section}]] (two brackets)")
        if isinstance(raw, list) and len(raw) > MAX_RULES:
            raise RuleError(section, 0, section, f"at most {MAX_RULES} [[{section}]] entries")
    notify_list: list[Any] = raw_notify if isinstance(raw_notify, list) else []
    alert_list: list[Any] = raw_alerts if isinstance(raw_alerts, list) else []
    for position, table in enumerate(notify_list):
        if not isinstance(table, dict):
            raise RuleError("notify", position, "notify", f"notify #{position + 1} must be a table")
        target = parse_target(table, position)
        if any(t.name == target.name for t in targets):
            raise RuleError("notify", position, "name", f"two [[notify]] named {target.name!r}")
        targets.append(target)
    names = [t.name for t in targets]
    rules: list[Rule] = []
    for position, table in enumerate(alert_list):
        if not isinstance(table, dict):
            raise RuleError("alerts", position, "alerts", f"alert #{position + 1} must be a table")
        rule = parse_rule(table, position, names)
        if any(r.name == rule.name for r in rules):
            raise RuleError("alerts", position, "name", f"two [[alerts]] named {rule.name!r}")
        rules.append(rule)
    return AlertConfig(tuple(rules), tuple(targets))
