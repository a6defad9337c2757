"""Model profiles: a Tuya product id → which DPs hold what, in which unit and scale.

The table is data (``profiles.json`` beside this module, facts taken from tuya-local's device
library, attributed there). It is loaded once, checked as it loads (a bad row is a bug in the
package, so it raises), and looked up by the product id a plug announces in its LAN broadcasts
(``productKey``), or that the cloud or a devices.json (``product_id``) gives.

Precedence (applied in :func:`powermonitor.dps.interpret`): a mapping from the cloud or
devices.json wins over this table; this table wins over guessing from DP numbers.

Energy: DP 17 is Tuya's ``add_ele``, an increment per report (see ``fields.py``); an energy DP
anywhere else in the table is a meter register (``total_forward_energy``) that only grows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Final

from .fields import DpField, DpMapping, MeasurementRole

__all__ = ["Profile", "all_profiles", "attribution", "profile_for", "same_dps"]

_DATA_FILE: Final = "profiles.json"
_INCREMENT_DP: Final = 17
_ROLES: Final[Mapping[str, MeasurementRole]] = MappingProxyType(
    {"power": "power", "current": "current", "voltage": "voltage"}
)


@dataclass(frozen=True, slots=True)
class Profile:
    """One family of products sharing a DP layout."""

    id: str  # the source file's stem, e.g. "smartplugv2_energy"
    name: str
    source: str
    product_ids: tuple[str, ...]
    mapping: DpMapping


def _field(entry: Mapping[str, Any], where: str) -> DpField:
    divisor = entry["scale"]
    scale = round(math.log10(divisor)) if isinstance(divisor, int) and divisor > 0 else -1
    if scale < 0 or 10**scale != divisor:
        raise ValueError(f"{where}: scale {divisor!r} is not a power of ten")
    kind = entry.get("type", "integer")
    if kind not in ("integer", "base64"):
        raise ValueError(f"{where}: unknown type {kind!r}")
    mask = str(entry.get("mask", "")) if kind == "base64" else ""
    if kind == "base64":
        bytes.fromhex(mask)  # ValueError for a bad mask
        if not mask or int(mask, 16) == 0:
            raise ValueError(f"{where}: a base64 value needs a mask")
    return DpField(str(int(entry["dp"])), scale, str(entry["unit"]), mask)


def _profile(row: Mapping[str, Any]) -> Profile:
    source = str(row["source"])
    pid = source.removesuffix(".yaml")
    fields: dict[str, DpField] = {}
    for key, role in _ROLES.items():
        if key in row:
            fields[role] = _field(row[key], f"{source} {key}")
    if "energy" in row:
        energy = _field(row["energy"], f"{source} energy")
        role = "energy_increment" if int(energy.dp) == _INCREMENT_DP else "energy_total"
        fields[role] = energy
    switches = tuple(str(int(dp)) for dp in row.get("switch_dps", ()))
    return Profile(
        id=pid,
        name=str(row.get("name", pid)),
        source=source,
        product_ids=tuple(str(p) for p in row.get("product_ids", ())),
        mapping=DpMapping(switches=switches, name=pid, **fields),
    )


@cache
def _load() -> tuple[str, tuple[Profile, ...], Mapping[str, Profile]]:
    text = resources.files(__package__).joinpath(_DATA_FILE).read_text(encoding="utf-8")
    data = json.loads(text)
    profiles = tuple(_profile(row) for row in data["families"])
    by_product: dict[str, Profile] = {}
    for profile in profiles:
        for product_id in profile.product_ids:
            if product_id in by_product:
                raise ValueError(f"product id {product_id} is in two profiles")
            by_product[product_id] = profile
    return str(data.get("about", "")), profiles, MappingProxyType(by_product)


def all_profiles() -> tuple[Profile, ...]:
    """Every profile, in the data file's order."""
    return _load()[1]


def profile_for(product_id: str | None) -> Profile | None:
    """The profile of ``product_id`` (exact, case-sensitive, as Tuya issues them), or None."""
    if not product_id:
        return None
    return _load()[2].get(product_id)


def attribution() -> str:
    """Where the table's facts come from (shown by ``doctor`` and the docs)."""
    return _load()[0]


@cache
def same_dps(dps: frozenset[str]) -> tuple[Profile, ...]:
    """Profiles whose power, current and voltage sit on exactly these plain integer DPs.

    A guessed layout is checked against them: if another known model reads the same DPs
    differently and physics accepts it too, the guess cannot be trusted (``interpret``).
    """
    out = []
    for profile in all_profiles():
        fields = (profile.mapping.power, profile.mapping.current, profile.mapping.voltage)
        if all(f is not None and not f.mask for f in fields) and (
            frozenset(f.dp for f in fields if f is not None) == dps
        ):
            out.append(profile)
    return tuple(out)
