"""The alert engine: pure state machines per (rule, plug), fed readings, availability and ticks.

No I/O, no wall clock: every input carries its time and every output is returned, so a test (or
a replay) drives hours of appliance life with a fake clock. The service feeds it from the Hub and
ticks it every few seconds; :meth:`Engine.tick` is what ends the cycle of a plug that sits flat
(Tuya plugs push only on change).

Outputs are :class:`~powermonitor.alerts.events.AlertEvent` (to deliver) and
:class:`~powermonitor.insight.cycles.Cycle` (to record: every finished run of a plug that has a
``finished``/``running`` rule, under its first such rule's thresholds).

Offline is judged from availability events (connect and heartbeat failures reported by the
coordinator), never from silence: a healthy plug may say nothing for hours.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..config.alerts import CYCLE_RULES, CycleThresholds, Rule
from ..insight.baseload import ShortAverages, always_on_w, standby_kwh_per_year
from ..insight.cycles import Cycle, CycleDetector, CycleEvent, Price
from .events import AlertEvent

Output = AlertEvent | Cycle


@dataclass(slots=True)
class _Timer:
    """Overload/offline state for one (rule, plug)."""

    since: float | None = None  # when the condition began
    fired_at: float | None = None  # last time the alert was sent for this occurrence
    detail: str = ""


class Engine:
    def __init__(self, rules: Sequence[Rule], names: Mapping[str, str] | None = None,
                 price: Price | None = None,
                 price_at: Callable[[float], float] | None = None) -> None:
        self.rules = tuple(rules)
        self.names: dict[str, str] = dict(names or {})
        self.price = price
        self.price_at = price_at
        self._detectors: dict[tuple[str, CycleThresholds], CycleDetector] = {}
        self._recording: dict[str, CycleThresholds] = {}  # device → thresholds it records with
        self._timers: dict[tuple[str, str], _Timer] = {}
        self._power: dict[str, float | None] = {}
        self._online: dict[str, bool] = {}
        self._standby: dict[tuple[str, str], ShortAverages] = {}
        self._standby_fired: dict[tuple[str, str], float] = {}

    # ------------------------------------------------------------------ plumbing

    def _rules_for(self, device_id: str) -> list[Rule]:
        name = self.names.get(device_id, "")
        return [r for r in self.rules if r.matches(device_id, name)]

    def _detector(self, device_id: str, th: CycleThresholds) -> CycleDetector:
        det = self._detectors.get((device_id, th))
        if det is None:
            det = self._detectors[(device_id, th)] = CycleDetector(device_id, th, self.price)
            self._recording.setdefault(device_id, th)
        return det

    def _event(self, rule: Rule, device_id: str, event: str, ts: float,
               values: Mapping[str, float | int | str | bool | None] | None = None,
               cycle: Cycle | None = None, key_time: float | None = None) -> AlertEvent:
        return AlertEvent(rule.name, self.names.get(device_id, ""), device_id, event, ts,
                          dict(values or {}), cycle, rule.notify, key_time)

    def known_devices(self) -> set[str]:
        return set(self.names) | set(self._power) | set(self._online)

    # ------------------------------------------------------------------ inputs

    def reading(self, device_id: str, ts: float, power_w: float | None,
                switch: bool | None = None) -> list[Output]:
        if power_w is None and switch is False:
            power_w = 0.0
        self._power[device_id] = power_w
        self._online[device_id] = True
        out: list[Output] = []
        for rule in self._rules_for(device_id):
            out += self._reading_rule(rule, device_id, ts, power_w, switch)
        return out

    def cycle_devices(self) -> list[str]:
        """Plugs (among the known ones) that have a finished/running rule."""
        return [d for d in self.names if any(r.when in CYCLE_RULES
                                             for r in self._rules_for(d))]

    def replay(self, device_id: str, ts: float, power_w: float | None) -> list[Output]:
        """A stored reading fed to the cycle rules only, to rebuild a cycle in progress after a
        restart. What it yields again (a cycle, its events) carries the same ids as the first
        time (the cycle's start), so the outbox de-duplicates it."""
        out: list[Output] = []
        for rule in self._rules_for(device_id):
            if rule.when in CYCLE_RULES:
                out += self._reading_rule(rule, device_id, ts, power_w, None)
        return out

    def availability(self, device_id: str, ts: float, online: bool, kind: str = "",
                     reason: str = "", name: str = "") -> list[Output]:
        if name:
            self.names.setdefault(device_id, name)
        was = self._online.get(device_id)
        self._online[device_id] = online
        out: list[Output] = []
        for rule in self._rules_for(device_id):
            key = (rule.name, device_id)
            if rule.when == "offline":
                t = self._timers.setdefault(key, _Timer())
                if not online and t.since is None:
                    t.since, t.detail = ts, reason
                    out += self._offline_due(rule, device_id, ts)
                elif online:
                    if t.fired_at is not None:
                        out.append(self._event(rule, device_id, "online", ts,
                                               {"offline_s": round(ts - (t.since or ts), 1)}))
                    self._timers[key] = _Timer()
            elif rule.when == "key_rejected":
                t = self._timers.setdefault(key, _Timer())
                if not online and kind == "key" and t.fired_at is None:
                    t.fired_at = ts
                    out.append(self._event(rule, device_id, "key_rejected", ts,
                                           {"reason": reason[:200]}))
                elif online:
                    self._timers[key] = _Timer()
        if not online and was:
            # power is unknown while offline: hold no value, so no energy is made up
            self._power[device_id] = None
            for (dev, _), det in self._detectors.items():
                if dev == device_id:
                    out += self._cycle_outputs(det, det.update(ts, None))
        return out

    def tick(self, ts: float) -> list[Output]:
        out: list[Output] = []
        for det in list(self._detectors.values()):
            out += self._cycle_outputs(det, det.tick(ts))
        for device_id in self.known_devices():
            for rule in self._rules_for(device_id):
                if rule.when == "overload":
                    out += self._overload_due(rule, device_id, ts)
                elif rule.when == "offline":
                    out += self._offline_due(rule, device_id, ts)
                elif rule.when == "standby":
                    avg = self._standby.get((rule.name, device_id))
                    if avg is not None and avg.tick(ts):
                        out += self._standby_due(rule, device_id, ts, avg)
        return out

    # ------------------------------------------------------------------ rules

    def _reading_rule(self, rule: Rule, device_id: str, ts: float, power_w: float | None,
                      switch: bool | None) -> list[Output]:
        if rule.when in CYCLE_RULES:
            det = self._detector(device_id, rule.cycle)
            if det.last_ts == ts and det.power_w == power_w:
                return []  # already fed by another rule with the same thresholds
            return self._cycle_outputs(det, det.update(ts, power_w))
        if rule.when == "overload" and power_w is not None:
            key = (rule.name, device_id)
            t = self._timers.setdefault(key, _Timer())
            out = self._overload_due(rule, device_id, ts)
            if power_w > rule.above_w:
                if t.since is None:
                    t.since = ts
            elif power_w < rule.above_w - rule.hysteresis_w or rule.hysteresis_w == 0:
                if t.fired_at is not None:
                    out.append(self._event(rule, device_id, "overload_cleared", ts,
                                           {"power_w": power_w, "above_w": rule.above_w}))
                self._timers[key] = _Timer()
            return out + self._overload_due(rule, device_id, ts)
        if rule.when == "standby":
            key = (rule.name, device_id)
            avg = self._standby.get(key)
            if avg is None:
                window = rule.for_s or 86400.0
                avg = self._standby[key] = ShortAverages(max(1.0, min(300.0, window / 48)),
                                                         window)
            if avg.update(ts, power_w, switch):
                return self._standby_due(rule, device_id, ts, avg)
        return []

    def _cycle_outputs(self, det: CycleDetector, events: Sequence[CycleEvent]) -> list[Output]:
        out: list[Output] = []
        device_id = det.device_id
        for ev in events:
            if ev.kind == "finished" and self._recording.get(device_id) == det.th:
                out.append(ev.cycle)
            for rule in self._rules_for(device_id):
                if rule.when == ev.kind and rule.cycle == det.th:
                    c = ev.cycle
                    values: dict[str, float | int | str | bool | None] = {
                        "kwh": round(c.wh / 1000, 6), "cost": round(c.cost, 6),
                        "duration_s": round(c.duration_s, 1), "peak_w": round(c.peak_w, 1)}
                    out.append(self._event(rule, device_id, ev.kind, c.end, values,
                                           c if ev.kind == "finished" else None, c.start))
        return out

    def _timer_due(self, rule: Rule, device_id: str, ts: float) -> tuple[_Timer, float] | None:
        """``(timer, at)`` when a condition held for ``for_s`` fires now (first time, or again
        after ``repeat_s``); marks it fired. None when nothing is due."""
        t = self._timers.get((rule.name, device_id))
        if t is None or t.since is None or ts < t.since + rule.for_s:
            return None
        if t.fired_at is not None and (not rule.repeat_s or ts < t.fired_at + rule.repeat_s):
            return None
        at = t.since + rule.for_s if t.fired_at is None else ts
        t.fired_at = at
        return t, at

    def _overload_due(self, rule: Rule, device_id: str, ts: float) -> list[Output]:
        due = self._timer_due(rule, device_id, ts)
        if due is None:
            return []
        _, at = due
        return [self._event(rule, device_id, "overload", at,
                            {"power_w": self._power.get(device_id), "above_w": rule.above_w,
                             "for_s": rule.for_s})]

    def _offline_due(self, rule: Rule, device_id: str, ts: float) -> list[Output]:
        due = self._timer_due(rule, device_id, ts)
        if due is None:
            return []
        t, at = due
        assert t.since is not None  # checked by _timer_due
        return [self._event(rule, device_id, "offline", at,
                            {"offline_s": round(at - t.since, 1), "reason": t.detail[:200]})]

    def _standby_due(self, rule: Rule, device_id: str, ts: float,
                     avg: ShortAverages) -> list[Output]:
        window = rule.for_s or 86400.0
        key = (rule.name, device_id)
        if avg.span_s() < 0.9 * window or ts < self._standby_fired.get(key, -1e18) + window:
            return []
        base = always_on_w(a for _, a in avg.buckets)
        if base is None or base <= rule.standby_w:
            return []
        self._standby_fired[key] = ts
        kwh = standby_kwh_per_year(base)
        price = self.price_at(ts) if self.price_at is not None else 0.0
        return [self._event(rule, device_id, "standby", ts,
                            {"always_on_w": round(base, 2), "above_w": rule.standby_w,
                             "kwh_per_year": round(kwh, 2),
                             "cost_per_year": round(kwh * price, 2)})]
