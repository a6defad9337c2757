"""Cloud results into the user's files: the config merge, devices.json, and LAN scan results.

Kept thin on purpose: the config owns its rules (validation, unique names, merging by device
id); this module only decides what a cloud device means for a plug. The rules:

* a new device is added with its key, product id, mapping and version, when it can be watched
  (it has a LAN address, a valid key, is not a gateway's sub-device, and is not known to lack
  power DPs); otherwise it is listed as skipped with the reason;
* a known device gets the cloud's key ("key changed for NAME" when it differs), and the LAN
  address/version of a scan; its name, interval and any mapping the user wrote stay;
* no plug is ever removed.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal

from .. import config as cfg
from ..dps import mapping_from_tinytuya
from ..errors import ConfigError
from ..protocol.discovery import Beacon
from .devices import CloudDevice

__all__ = [
    "Change",
    "apply_to_config",
    "devices_json_entries",
    "fill_from_beacons",
    "write_devices_json",
]

ChangeKind = Literal["add", "key", "update", "same", "skip"]
_DEFAULT_PORT: Final = 6668


@dataclass(frozen=True, slots=True)
class Change:
    """One line of the wizard's report (keys masked)."""

    kind: ChangeKind
    name: str
    detail: str = ""

    def line(self) -> str:
        mark = {"add": "+", "key": "~", "update": "~", "same": "=", "skip": "-"}[self.kind]
        return f"{mark} {self.name}" + (f": {self.detail}" if self.detail else "")


def fill_from_beacons(devices: Sequence[CloudDevice], beacons: Iterable[Beacon]
                      ) -> tuple[CloudDevice, ...]:
    """Devices with the LAN address, protocol version and port of the beacon with their id."""
    heard = {b.device_id: b for b in beacons}
    out = []
    for dev in devices:
        beacon = heard.get(dev.device_id)
        if beacon is not None:
            dev = replace(dev, ip=beacon.ip, version=beacon.version, port=beacon.port,
                          product_id=dev.product_id or beacon.product_key)
        out.append(dev)
    return tuple(out)


def _why_not_watchable(dev: CloudDevice) -> str:
    if dev.sub:
        return "a sub-device of a gateway (it has no LAN connection of its own)"
    if not dev.local_key:
        return "the cloud sent no valid local key for it"
    if dev.mapping is not None and not mapping_from_tinytuya(dev.mapping).has_measurements:
        return "its data points have no power readings (not an energy-monitoring plug)"
    if not dev.ip:
        return ("no LAN address yet: re-run with --scan on the plug's network (plug powered "
                "and not on another network)")
    return ""


def _mapping_of(dev: CloudDevice) -> tuple[Any, dict[str, Any] | None]:
    if dev.mapping is None:
        return None, None
    mapping = mapping_from_tinytuya(dev.mapping)
    return (mapping, dev.mapping) if mapping.has_measurements else (None, None)


def apply_to_config(config: cfg.Config, devices: Sequence[CloudDevice]
                    ) -> tuple[cfg.Config, list[Change]]:
    """The config with the cloud's devices merged in, and what changed, plug by plug."""
    changes: list[Change] = []
    incoming: list[cfg.PlugConfig] = []
    key_changed: set[str] = set()
    for dev in devices:
        mapping, source = _mapping_of(dev)
        try:
            old = next(p for p in config.plugs if p.device_id == dev.device_id)
        except StopIteration:
            reason = _why_not_watchable(dev)
            if reason:
                changes.append(Change("skip", dev.name, reason))
                continue
            incoming.append(cfg.PlugConfig(
                name=dev.name, device_id=dev.device_id, host=dev.ip, local_key=dev.local_key,
                version=dev.version or "auto", port=dev.port or _DEFAULT_PORT,
                mapping=mapping, mapping_source=source, product_id=dev.product_id,
            ))
            continue
        key = dev.local_key or old.local_key
        if key != old.local_key:
            key_changed.add(old.device_id)
        keep_mapping = old.mapping is not None
        incoming.append(cfg.PlugConfig(
            name=old.name, device_id=old.device_id, host=dev.ip or old.host, local_key=key,
            version=dev.version or old.version,
            port=dev.port or (old.port if not dev.ip else _DEFAULT_PORT),
            mapping=old.mapping if keep_mapping else mapping,
            mapping_source=old.mapping_source if keep_mapping else source,
            product_id=dev.product_id or old.product_id,
        ))
    try:
        merged, report = cfg.merge_plugs(config, incoming, replace_existing=True)
    except ConfigError as exc:
        raise ConfigError(f"the cloud's devices do not fit the config: {exc.reason}",
                          config.path) from None
    renamed = dict(report.renamed)
    by_name = {p.name: p for p in merged.plugs}
    for name in report.added:
        plug = by_name[name]
        original = next((old for old, new in renamed.items() if new == name), name)
        note = f" (renamed from {original!r}: the name was taken)" if original != name else ""
        changes.append(Change("add", name, f"id {plug.device_id}, host {plug.host}, version "
                                           f"{plug.version}, key {plug.masked_key}{note}"))
    for name in report.updated:
        plug = by_name[name]
        old = next(p for p in config.plugs if p.device_id == plug.device_id)
        if plug.device_id in key_changed:
            changes.append(Change("key", name, f"key changed for {name} ({old.masked_key} → "
                                               f"{plug.masked_key})"))
        else:
            what = [f"{label} {getattr(old, attr) or '(none)'} → {getattr(plug, attr)}"
                    for attr, label in (("host", "host"), ("port", "port"),
                                        ("version", "version"), ("product_id", "product id"))
                    if getattr(old, attr)
                    != getattr(plug, attr)]
            if plug.mapping != old.mapping:
                what.append("DP mapping from the cloud")
            changes.append(Change("update", name, ", ".join(what)))
    changes.extend(Change("same", name) for name in report.unchanged)
    changes.extend(Change("skip", name, reason) for name, reason in report.skipped)
    # The very same object when nothing changed: edit_config then writes nothing.
    return (merged if report.added or report.updated else config), changes


# --------------------------------------------------------------------------- devices.json


def devices_json_entries(devices: Sequence[CloudDevice]) -> list[dict[str, Any]]:
    """tinytuya's ``devices.json`` entries (the fields its wizard writes; ``ip`` from a scan)."""
    entries = []
    for dev in devices:
        entry: dict[str, Any] = {
            "name": dev.name, "id": dev.device_id, "key": dev.local_key, "mac": dev.mac,
            "uuid": dev.uuid, "sn": dev.sn, "category": dev.category,
            "product_name": dev.product_name, "product_id": dev.product_id,
            "model": dev.model, "sub": dev.sub, "ip": dev.ip, "version": dev.version,
        }
        if dev.port is not None and dev.port != _DEFAULT_PORT:
            entry["port"] = dev.port  # only the simulator's plugs listen elsewhere
        if dev.node_id:
            entry["node_id"] = dev.node_id
        if dev.gateway_id:
            entry["gateway_id"] = dev.gateway_id
            entry["parent"] = dev.gateway_id
        if dev.mapping:
            entry["mapping"] = dev.mapping
        entries.append(entry)
    return entries


def write_devices_json(path: Path, devices: Sequence[CloudDevice]) -> Path:
    """Write (replace) a devices.json atomically, readable by the owner only (it holds keys)."""
    target = path.expanduser()
    data = json.dumps(devices_json_entries(devices), indent=4, ensure_ascii=False) + "\n"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write devices.json: {exc.strerror or exc}", target) from None
    return target

