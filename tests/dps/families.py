"""Raw dps for a family of profiles.json from true values: the test oracle, written from the
data's own definition (raw = value in the family's unit × scale; base64 blobs are the
big-endian bits under the mask), independently of the decoder under test."""

from __future__ import annotations

import base64
import json
from importlib import resources
from typing import Any

# SI value → the family's unit
_TO_UNIT = {"W": 1.0, "kW": 1e-3, "A": 1.0, "mA": 1e3, "V": 1.0, "Wh": 1.0, "kWh": 1e-3}
QUANTITIES = ("power", "current", "voltage", "energy")


def families() -> list[dict[str, Any]]:
    text = resources.files("powermonitor.dps").joinpath("profiles.json").read_text("utf-8")
    rows: list[dict[str, Any]] = json.loads(text)["families"]
    return rows


def family_id(row: dict[str, Any]) -> str:
    return str(row["source"]).removesuffix(".yaml")


def raw_number(entry: dict[str, Any], si_value: float) -> int:
    raw = si_value * _TO_UNIT[entry["unit"]] * entry["scale"]
    rounded: int = round(raw)
    assert abs(raw - rounded) < 1e-6, f"{si_value} is not exact in {entry}"
    return rounded


def encode(row: dict[str, Any], truth: dict[str, float], switches: bool = True) -> dict[str, Any]:
    """The raw dps a plug of ``row`` sends for ``truth`` (SI: W, A, V, Wh)."""
    dps: dict[str, Any] = {str(dp): switches for dp in row["switch_dps"]}
    blobs: dict[str, tuple[int, int]] = {}  # dp → (bits, length in bytes)
    for quantity in QUANTITIES:
        entry = row.get(quantity)
        if entry is None:
            continue
        raw = raw_number(entry, truth[quantity])
        dp = str(entry["dp"])
        if entry["type"] == "base64":
            mask = int(entry["mask"], 16)
            shift = (mask & -mask).bit_length() - 1
            assert (raw << shift) & mask == raw << shift, "value does not fit the mask"
            bits, _ = blobs.get(dp, (0, 0))
            blobs[dp] = (bits | (raw << shift), len(entry["mask"]) // 2)
        else:
            dps[dp] = raw
    for dp, (bits, length) in blobs.items():
        dps[dp] = base64.b64encode(bits.to_bytes(length, "big")).decode()
    return dict(sorted(dps.items(), key=lambda item: int(item[0])))


# True values exact in every family's unit and scale (A/100 needs 10 mA steps, kWh/1 whole kWh).
TRUTHS: tuple[dict[str, float], ...] = (
    {"power": 89.0, "current": 0.41, "voltage": 230.1, "energy": 2000.0},
    {"power": 1500.0, "current": 12.5, "voltage": 120.0, "energy": 1000.0},
    {"power": 0.0, "current": 0.0, "voltage": 229.0, "energy": 0.0},
)
