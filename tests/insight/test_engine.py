"""The pure alert engine and cycle detector, driven by a fake clock (no I/O, no sleeping)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from powermonitor.alerts.engine import Engine
from powermonitor.alerts.events import AlertEvent
from powermonitor.config.alerts import CycleThresholds, RuleError, parse_sections
from powermonitor.insight.cycles import Cycle, CycleDetector

WASHER = CycleThresholds(start_w=10, start_for_s=60, stop_w=5, stop_for_s=300, min_wh=20)


def feed(det: CycleDetector, schedule: Sequence[tuple[float, float]], until: float,
         step: float = 5.0) -> list[object]:
    """Readings only when power changes (like a Tuya plug), clock ticks every ``step``."""
    events: list[object] = []
    points = dict(schedule)
    t = 0.0
    while t <= until:
        if t in points:
            events += det.update(t, points[t])
        else:
            events += det.tick(t)
        t += step
    return events


def test_flat_plug_finishes_on_the_clock_alone() -> None:
    det = CycleDetector("w", WASHER)
    # 2000 W for 30 min, then 1 W flat: the plug never reports again
    events = feed(det, [(0, 2000.0), (1800, 1.0)], until=1800 + 600)
    kinds = [e.kind for e in events]  # type: ignore[attr-defined]
    assert kinds == ["running", "finished"]
    cycle = events[1].cycle  # type: ignore[attr-defined]
    assert cycle.start == 0 and cycle.end == 1800
    assert cycle.wh == pytest.approx(1000.0)
    assert cycle.peak_w == 2000.0


def test_pauses_shorter_than_stop_for_do_not_end_a_cycle() -> None:
    det = CycleDetector("w", WASHER)
    # soak pauses of 4 min 55 s at 2 W between bursts, then the real end
    schedule = [(0, 500.0), (600, 2.0), (895, 500.0), (1500, 2.0), (1795, 500.0), (2400, 0.0)]
    events = feed(det, schedule, until=2400 + 400)
    finished = [e for e in events if e.kind == "finished"]  # type: ignore[attr-defined]
    assert len(finished) == 1
    assert finished[0].cycle.start == 0 and finished[0].cycle.end == 2400  # type: ignore[attr-defined]


def test_a_pause_longer_than_stop_for_ends_it_and_short_blips_do_not_start() -> None:
    det = CycleDetector("w", WASHER)
    schedule = [(0, 500.0), (600, 2.0), (1000, 500.0), (1030, 0.0)]  # 30 s blip < start_for
    events = feed(det, schedule, until=2000)
    assert [e.kind for e in events] == ["running", "finished"]  # type: ignore[attr-defined]


def test_ghost_cycles_below_min_wh_are_dropped() -> None:
    det = CycleDetector("w", WASHER)
    events = feed(det, [(0, 15.0), (120, 0.0)], until=900)  # 0.5 Wh
    assert [e.kind for e in events] == ["running"]  # type: ignore[attr-defined]


def test_cost_uses_the_price_function() -> None:
    det = CycleDetector("w", WASHER, price=lambda a, b, wh: wh / 1000 * 0.30)
    events = feed(det, [(0, 1000.0), (3600, 0.0)], until=4000)
    assert events[-1].cycle.cost == pytest.approx(0.30)  # type: ignore[attr-defined]



def engine(alerts: list[dict[str, object]]) -> Engine:
    cfg = parse_sections([{"name": "phone", "url": "https://127.0.0.1/x"}], alerts)
    return Engine(cfg.rules, {"d1": "Washer"})


def test_engine_finished_event_schema_and_recorded_cycle() -> None:
    eng = engine([{"name": "washer done", "plug": "Washer", "when": "finished",
                   "preset": "washer", "notify": ["phone"]}])
    out = eng.reading("d1", 0.0, 2000.0)
    out += eng.tick(100.0)
    out += eng.reading("d1", 1800.0, 1.0)
    for t in range(1800, 2200, 10):
        out += eng.tick(float(t))
    cycles = [o for o in out if isinstance(o, Cycle)]
    events = [o for o in out if isinstance(o, AlertEvent)]
    assert len(cycles) == 1 and len(events) == 1
    body = events[0].to_json()
    assert body["alert"] == "washer done" and body["plug"] == "Washer" and body["plug_id"] == "d1"
    assert body["event"] == "finished" and body["cycle"]["kwh"] == pytest.approx(1.0)
    assert body["cycle"]["duration_s"] == 1800 and events[0].notify == ("phone",)
    # same occurrence, same id (de-duplication across restarts)
    assert events[0].id == AlertEvent("washer done", "Washer", "d1", "finished", 1800.0,
                                      key_time=0.0).id


def test_overload_with_hysteresis_and_repeat() -> None:
    eng = engine([{"name": "hot", "plug": "*", "when": "overload", "above_w": 2000,
                   "for": "20s", "hysteresis_w": 100, "repeat": "1m"}])
    out = eng.reading("d1", 0.0, 2500.0)
    out += eng.tick(10.0)
    assert out == []
    out += eng.tick(25.0)  # flat, no new reading: the clock fires it
    assert [o.event for o in out] == ["overload"]  # type: ignore[union-attr]
    assert out[0].time == 20.0  # type: ignore[union-attr]
    out = eng.reading("d1", 30.0, 1950.0)  # inside the hysteresis band: still overloaded
    out += eng.tick(85.0)
    assert [o.event for o in out] == ["overload"]  # type: ignore[union-attr]  # the repeat
    out = eng.reading("d1", 90.0, 1800.0)
    assert [o.event for o in out] == ["overload_cleared"]  # type: ignore[union-attr]


def test_offline_from_availability_not_silence_and_key_rejected() -> None:
    eng = engine([{"name": "gone", "plug": "Washer", "when": "offline", "for": "1m"},
                  {"name": "key", "plug": "d1", "when": "key_rejected"}])
    out = eng.reading("d1", 0.0, 5.0)
    out += eng.tick(3600.0)  # an hour of silence is not offline
    assert out == []
    out = eng.availability("d1", 3600.0, False, "unreachable", "timed out")
    out += eng.tick(3630.0)
    assert out == []
    out += eng.tick(3661.0)
    assert [o.event for o in out] == ["offline"]  # type: ignore[union-attr]
    out = eng.availability("d1", 3700.0, True)
    assert [o.event for o in out] == ["online"]  # type: ignore[union-attr]
    out = eng.availability("d1", 3800.0, False, "key", "HMAC mismatch")
    assert [o.event for o in out] == ["key_rejected"]  # type: ignore[union-attr]


def test_standby_over_a_window() -> None:
    eng = engine([{"name": "vampire", "when": "standby", "above_w": 2, "over": "1h"}])
    out: list[object] = []
    out += eng.reading("d1", 0.0, 4.0)
    out += eng.reading("d1", 600.0, 150.0)  # an active stretch does not raise the baseline
    out += eng.reading("d1", 900.0, 4.0)
    for t in range(0, 3800, 30):
        out += eng.tick(float(t))
    events = [o for o in out if isinstance(o, AlertEvent)]
    assert len(events) == 1 and events[0].values["always_on_w"] == pytest.approx(4.0)


@pytest.mark.parametrize(("alerts", "key"), [
    ([{"name": "a", "when": "sometimes"}], "when"),
    ([{"name": "a", "when": "finished", "start_for": "soon"}], "start_for"),
    ([{"name": "a", "when": "finished", "stop_w": 50, "start_w": 10}], "stop_w"),
    ([{"name": "a", "when": "overload"}], "above_w"),
    ([{"name": "a", "when": "offline", "notify": ["pager"]}], "notify"),
    ([{"name": "a", "when": "offline", "colour": "red"}], "colour"),
    ([{"name": "a", "when": "offline"}, {"name": "a", "when": "offline"}], "name"),
])
def test_invalid_rules_name_the_key(alerts: list[dict[str, object]], key: str) -> None:
    with pytest.raises(RuleError) as info:
        engine(alerts)
    assert info.value.key == key and info.value.section == "alerts"


def test_config_sections_round_trip_and_show_hides_channel_tokens(tmp_path: Path) -> None:
    from powermonitor.config import load_config, parse_config
    from powermonitor.config.toml_io import render_config, show_config

    text = """
[[notify]]
name = "tg"
url = "https://hooks.example.org/secret-token-123"

[[alerts]]
name = "washer done"
plug = "Washer"
when = "finished"
preset = "washer"
stop_for = "10m"
notify = ["tg"]
"""
    config = parse_config(text, tmp_path / "c.toml")
    (rule,) = config.alerts.rules
    assert rule.cycle.stop_for_s == 600 and rule.cycle.start_w == 10  # preset, overridden
    again = tmp_path / "again.toml"
    again.write_text(render_config(config))  # what `devices add` writes back keeps the rules
    assert load_config(again).alerts == config.alerts
    shown = show_config(config)
    assert "secret-token-123" not in shown and "hooks.example.org" in shown


def test_config_errors_point_at_the_line(tmp_path: Path) -> None:
    from powermonitor.config import parse_config
    from powermonitor.errors import ConfigError

    text = '[[notify]]\nname = "a"\nurl = "https://x"\n\n[[alerts]]\nname = "ok"\nwhen = ' \
           '"offline"\n\n[[alerts]]\nname = "bad"\nwhen = "overload"\nabove_w = "lots"\n'
    with pytest.raises(ConfigError) as info:
        parse_config(text, tmp_path / "c.toml")
    assert str(info.value).startswith(f"{tmp_path / 'c.toml'}:12: alerts 'bad': above_w")


def test_running_rule_fires_once_when_a_cycle_is_confirmed() -> None:
    eng = engine([{"name": "pump on", "plug": "d1", "when": "running", "preset": "pump"}])
    out = eng.reading("d1", 0.0, 400.0)
    out += eng.tick(5.0)
    assert out == []
    out += eng.tick(12.0)  # start_for 10 s
    (running,) = out
    assert isinstance(running, AlertEvent) and running.event == "running"
    assert running.time == 10.0 and running.cycle is None
    assert eng.tick(100.0) == []  # once per cycle
