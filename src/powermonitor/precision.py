"""How many decimals a number carries in data output (CLI JSON/CSV and the HTTP API): what a
plug measures, one rule for every output.

Power 0.1 W, voltage 0.1 V, current 1 mA (0.001 A), power factor 0.01, energy per period
0.001 kWh (1 Wh, the plug's own counter step), integrated energy of one sample or bucket
0.001 Wh (finer, or a one-minute bucket of a lamp would round to 0), cost 0.0001 (sums of
hourly costs stay exact to the cent), coverage 0.1 %, durations 1 s. So no float noise
(``0.30000000000000004``, ``7e-06``) and no ``-0.0``; a non-finite value is None (JSON null).
"""

from __future__ import annotations

import math
from typing import Any, Final, Literal

Quantity = Literal["power", "voltage", "current_ma", "current_a", "pf", "wh", "kwh", "cost",
                   "percent", "seconds"]

DECIMALS: Final[dict[str, int]] = {
    "power": 1, "voltage": 1, "current_ma": 0, "current_a": 3, "pf": 2, "wh": 3, "kwh": 3,
    "cost": 4, "percent": 1, "seconds": 0,
}
"""Decimals per quantity (see the module docstring for why)."""


def measured(value: Any, kind: str) -> float | None:
    """``value`` rounded to what the plug measures for ``kind`` (None when missing, not a
    number or not finite)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value):
        return None
    return round(float(value), DECIMALS[kind]) + 0.0  # + 0.0 turns -0.0 into 0.0
