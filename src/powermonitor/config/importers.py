"""Plugs from other tools' files: tinytuya's ``devices.json`` and ``snapshot.json``, and the
simulator's devices file.

Entries that cannot be watched are skipped one by one with the reason (no LAN IP, a gateway
sub-device, no power DPs, a key or version the plug checks refuse, a duplicate id or
host:port); the rest are imported. Linear in the number of entries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from ..dps import mapping_from_tinytuya
from ..errors import ConfigError
from . import fields as f
from .edit import unique_name
from .fields import FieldError
from .model import DEFAULT_PORT, PlugConfig
from .plugs import check_depth, check_plug, without_nulls

__all__ = ["ImportResult", "import_devices"]


@dataclass(frozen=True, slots=True)
class ImportResult:
    """Plugs read from a devices file, and the entries left out with the reason why."""

    plugs: tuple[PlugConfig, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    """(name or id, reason) for every entry not imported."""
    source_format: str = ""
    """``tinytuya devices.json``, ``tinytuya snapshot.json`` or ``simulator devices file``."""
    renamed: tuple[tuple[str, str], ...] = ()
    """(name in the file, name given) where two entries of the file share a name."""


_UNKNOWN_VERSIONS: Final = frozenset({"", "0", "0.0"})


def _product_id(entry: Mapping[str, Any]) -> str:
    for key in ("product_id", "productKey"):
        value = entry.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _import_entry(entry: Mapping[str, Any]) -> PlugConfig:
    """One devices-file entry as a PlugConfig; ValueError(reason) when it cannot be watched."""
    device_id = entry.get("id") or entry.get("gwId")
    if not isinstance(device_id, str) or not device_id.strip():
        raise ValueError("no device id")
    name = entry.get("name")
    name = name.strip() if isinstance(name, str) and name.strip() else device_id.strip()
    if entry.get("sub") is True or entry.get("parent"):
        raise ValueError("a sub-device of a gateway (it has no LAN address of its own)")
    ip = entry.get("ip")
    if not isinstance(ip, str) or not ip.strip():
        raise ValueError("no IP address (cloud-only or offline): run a LAN scan, e.g. "
                         "`python -m tinytuya scan`, and import its snapshot.json")
    raw_version = entry.get("version", entry.get("ver"))
    try:
        if raw_version is None or str(raw_version).strip().lower() in _UNKNOWN_VERSIONS:
            version = "auto"
        else:
            version = f.version("version", raw_version)
        key = entry.get("key", entry.get("local_key")) or ""
        port = entry.get("port", DEFAULT_PORT)
        mapping = None
        source: dict[str, Any] = {}
        if isinstance(entry.get("mapping"), Mapping):
            check_depth(entry["mapping"])
            source = without_nulls(entry["mapping"])
        if source:
            mapping = mapping_from_tinytuya(source)
            if not mapping.has_measurements:
                raise ValueError("its DP mapping has no power data points (cur_power, "
                                 "cur_current, cur_voltage): not an energy-monitoring plug")
        return check_plug(PlugConfig(
            name=name, device_id=device_id.strip(), host=ip.strip(), local_key=key,
            version=version, port=port, mapping=mapping,
            mapping_source=source if mapping is not None else None,
            product_id=_product_id(entry),
        ))
    except FieldError as exc:
        raise ValueError(exc.message) from None


def _read(source_path: Path) -> Any:
    try:
        text = source_path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read the devices file: {exc.strerror or exc}",
                          source_path) from None
    except UnicodeDecodeError:
        raise ConfigError("the devices file is not UTF-8 JSON", source_path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", source_path, exc.lineno,
                          exc.colno) from None
    except RecursionError:
        raise ConfigError("not a devices file: JSON nested too deeply", source_path) from None


def import_devices(path: Path | str) -> ImportResult:
    """Read a tinytuya ``devices.json`` or ``snapshot.json``, or our simulator's devices file.

    Entries that cannot be watched are skipped with a reason (see the module docstring); two
    entries with one name get an id suffix. Versions "3.3", 3.3, "" and 0 (tinytuya's
    "unknown") are normalised; ``product_id`` (devices.json) or ``productKey`` (snapshot.json)
    is kept. Raises :class:`ConfigError` when the file cannot be read or is not such a file.
    """
    source_path = Path(path).expanduser()
    data = _read(source_path)
    if isinstance(data, dict) and isinstance(data.get("devices"), list):
        entries: list[Any] = data["devices"]
        source_format = "tinytuya snapshot.json"
    elif isinstance(data, list):
        entries = data
        simulated = bool(entries) and all(
            isinstance(e, dict) and "port" in e and "profile" in e for e in entries)
        source_format = "simulator devices file" if simulated else "tinytuya devices.json"
    else:
        raise ConfigError("not a devices file: expected a tinytuya devices.json (a list of "
                          "devices) or snapshot.json (an object with \"devices\")", source_path)

    plugs: list[PlugConfig] = []
    skipped: list[tuple[str, str]] = []
    renamed: list[tuple[str, str]] = []
    seen_ids: set[str] = set()
    addresses: dict[tuple[str, int], str] = {}
    taken: set[str] = set()  # names and ids, case-folded
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            skipped.append((f"#{number}", "not a JSON object"))
            continue
        label = next((str(entry[k]).strip() for k in ("name", "id", "gwId")
                      if isinstance(entry.get(k), str) and entry[k].strip()), f"#{number}")
        try:
            plug = _import_entry(entry)
        except ValueError as exc:
            skipped.append((label, str(exc)))
            continue
        if plug.device_id in seen_ids:
            skipped.append((label, f"duplicate id {plug.device_id!r} in the file"))
            continue
        address = (plug.host.casefold(), plug.port)
        if address in addresses:
            skipped.append((label, (f"{plug.host}:{plug.port} is also the address of "
                                   f"{addresses[address]!r} in the file")))
            continue
        name = unique_name(plug.name, plug.device_id, taken)
        if name != plug.name:
            renamed.append((plug.name, name))
            plug = replace(plug, name=name)
        seen_ids.add(plug.device_id)
        addresses[address] = plug.name
        taken.update((plug.name.casefold(), plug.device_id.casefold()))
        plugs.append(plug)
    return ImportResult(tuple(plugs), tuple(skipped), source_format, tuple(renamed))
