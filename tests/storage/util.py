"""Sample builders shared by the storage tests."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from powermonitor.storage.base import Sample


def at(text: str, tz: str = "UTC") -> float:
    """``"2026-03-29 00:00"`` in ``tz`` → Unix seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


def series(
    device_id: str,
    start: float,
    count: int,
    step: float = 60.0,
    power_w: float = 100.0,
    *,
    total_wh: float = 0.0,
    price: float = 0.0,
    voltage_v: float | None = 230.0,
) -> list[Sample]:
    """``count`` readings ``step`` seconds apart, the first at ``start + step``; each covers the
    ``step`` before it at a constant ``power_w`` (so each adds ``power_w * step / 3600`` Wh)."""
    out = []
    wh = power_w * step / 3600.0
    for i in range(1, count + 1):
        total_wh += wh
        out.append(
            Sample(
                device_id=device_id,
                ts=start + i * step,
                power_w=power_w,
                voltage_v=voltage_v,
                current_a=None if voltage_v is None else power_w / voltage_v,
                switch=True,
                interval_wh=wh,
                covered_s=step,
                cost=wh / 1000.0 * price,
                total_wh=total_wh,
            )
        )
    return out
