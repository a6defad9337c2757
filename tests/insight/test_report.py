"""The cost report over a real SQLite store fed through the real recorder (energy + tariff)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from powermonitor.insight.cycles import Cycle
from powermonitor.insight.report import build_report, projection
from powermonitor.insight.store import InsightStore
from powermonitor.models import Reading
from powermonitor.monitor.hub import Hub
from powermonitor.recorder import Recorder
from powermonitor.simulator.profiles import Square
from powermonitor.storage.base import EnergyRow
from powermonitor.storage.sqlite import SqliteStore
from powermonitor.tariff import Tariff

T0 = datetime(2026, 11, 2, tzinfo=UTC).timestamp()
PRICE = 0.30


async def test_always_on_power_and_standby_cost_of_a_known_base_load(tmp_path: Path) -> None:
    tariff = Tariff(flat_price=PRICE, currency="EUR", timezone="UTC")
    recorder = Recorder(Hub(), None, tariff)
    fridge = Square(100.0, 4.0, 3600.0, 0.25)  # compressor 15 min an hour, 4 W the rest
    samples = []
    for i in range(2 * 8640):  # two days, every 10 s
        t = T0 + i * 10.0
        off = T0 + 20 * 3600 <= t < T0 + 26 * 3600  # switched off for 6 h: not "always on"
        samples.append(recorder.record(Reading("fridge", datetime.fromtimestamp(t, UTC),
                                               switch=not off,
                                               power_w=0.0 if off else fridge.power_w(t - T0))))
        samples.append(recorder.record(Reading("charger", datetime.fromtimestamp(t, UTC),
                                               switch=True, power_w=0.3)))
        boiling = (t - T0) % 3600 < 300  # switched on all along, 0 W between boils
        samples.append(recorder.record(Reading("kettle", datetime.fromtimestamp(t, UTC),
                                               switch=True, power_w=2000.0 if boiling else 0.0)))
    store = SqliteStore(tmp_path / "pm.db", timezone="UTC")
    await store.open()
    try:
        for k in range(0, len(samples), 5000):
            await store.write(samples[k:k + 5000], {"fridge": "Fridge", "charger": "Charger",
                                                    "kettle": "Kettle"})
        await InsightStore(store).save_cycle(Cycle("fridge", T0, T0 + 900, 25.0, 0.0075, 100.0))
        report = await build_report(store, tariff, T0, T0 + 2 * 86400)
        unpriced = await build_report(store, Tariff(flat_price=0.0), T0, T0 + 2 * 86400)
    finally:
        await store.close()
    kettle_row, fridge_row, charger_row = report["plugs"]  # sorted by cost
    assert kettle_row["always_on"] == "< 0.5 W"  # its 0 W while switched on is real
    assert kettle_row["standby_kwh"] == 0.0 and kettle_row["active_kwh"] == kettle_row["kwh"]
    # no prices in this config: the standby is priced at what the stored costs paid
    assert unpriced["plugs"][1]["standby_cost_per_year"] == pytest.approx(
        fridge_row["standby_cost_per_year"], rel=0.01)
    assert fridge_row["name"] == "Fridge"
    assert fridge_row["always_on_w"] == pytest.approx(4.0, rel=0.05)
    assert fridge_row["always_on"] == "4.0 W"
    expected_year = 4.0 * 8.766  # kWh a year
    assert fridge_row["standby_kwh_per_year"] == pytest.approx(expected_year, rel=0.05)
    assert fridge_row["standby_cost_per_year"] == pytest.approx(expected_year * PRICE, rel=0.05)
    covered_h = 42.0  # 48 h minus the 6 h switched off
    assert fridge_row["kwh"] == pytest.approx((48 - 6) * (0.25 * 100 + 0.75 * 4) / 1000, rel=0.02)
    assert fridge_row["standby_kwh"] == pytest.approx(4.0 * covered_h / 1000, rel=0.05)
    assert fridge_row["active_kwh"] == pytest.approx(fridge_row["kwh"] - 4.0 * covered_h / 1000,
                                                     rel=0.05)
    assert fridge_row["cycles"] == 1 and fridge_row["cycle_kwh"] == pytest.approx(0.025)
    assert charger_row["always_on"] == "< 0.5 W"
    assert report["total"]["share"] == 100.0
    assert sum(p["share"] for p in report["plugs"]) == pytest.approx(100.0)
    assert fridge_row["kwh_per_month"] == pytest.approx(fridge_row["kwh"] / 2 * 365.25 / 12,
                                                        rel=0.01)


def test_projection_uses_covered_time_not_calendar_days() -> None:
    day = 86400.0
    # a first day covered 6.6 % (the service started at 22:25), then three whole days, 1 kWh/h
    rows = [EnergyRow("p", 0, day, 0.066 * 24 * 1000, 0.0, 0.066 * day)]
    rows += [EnergyRow("p", d * day, (d + 1) * day, 24_000, 0.0, day) for d in (1, 2, 3)]
    result = projection(rows)
    assert result["kwh_per_day"] == pytest.approx(24.0)  # counting days would say 18.4
    assert result["days"] == pytest.approx(3.066)
