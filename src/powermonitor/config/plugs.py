"""A plug entry and its DP mapping: read from a ``[[plugs]]`` table, checked, written back.

One set of checks (:func:`check_plug`) serves the file loader, ``devices add``, ``devices
import`` and every programmatic edit, so a plug the service cannot use (a key with a
character outside printable ASCII, a host with a port in it, two plugs on one host:port) is
refused at the door with the key that is wrong, never found when polling starts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from ..dps import (
    _DEFAULT_SCALE,
    _DEFAULT_UNIT,
    _MAX_SCALE,
    _ROLE_UNITS,
    LAYOUTS,
    MEASUREMENT_ROLES,
    DpField,
    DpMapping,
    MeasurementRole,
    mapping_from_tinytuya,
)
from ..errors import ConfigError
from . import fields as f
from .fields import FieldError
from .model import DEFAULT_PORT, MAX_POLL_INTERVAL, MIN_POLL_INTERVAL, Defaults, PlugConfig

__all__ = [
    "DEFAULTS_KEYS",
    "PLUG_KEYS",
    "clashes",
    "defaults_from",
    "is_product_id",
    "mapping_to_source",
    "missing_key_message",
    "needs_key",
    "parse_mapping",
    "plug_document",
    "plug_from",
    "validate_plug",
]

KEY_LENGTH: Final = 16
_KEYLESS_VERSIONS: Final = frozenset({"3.1", "auto"})
_PRODUCT_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")

PLUG_KEYS: Final[tuple[str, ...]] = (
    "name", "id", "host", "key", "version", "port", "poll_interval", "refresh", "mapping",
    "product_id",
)
DEFAULTS_KEYS: Final[tuple[str, ...]] = (
    "poll_interval", "timeout", "heartbeat_interval", "refresh",
)
_POLL_WHY: Final = " (plugs hang or reset when polled faster)"


def _interval(value: object) -> float:
    return f.number("poll_interval", value, MIN_POLL_INTERVAL, MAX_POLL_INTERVAL, "s", _POLL_WHY)


def needs_key(local_key: str, version: str) -> bool:
    """True for a plug that cannot be read yet: no local key on a version that needs one.

    The config keeps such plugs (``scan --add`` saves the version it heard; the key comes later
    from ``devices set NAME --key -`` or ``wizard``); the monitor does not watch them and says so.
    """
    return not local_key and version not in _KEYLESS_VERSIONS


def missing_key_message(name: str, version: str) -> str:
    """What to do about a plug that :func:`needs_key`."""
    return (f"{name} has no local key yet (protocol {version} needs one): set it with "
            f"'powermonitor devices set {name} --key -' or 'powermonitor wizard'")


def check_key(key: object) -> str:
    """A local key: 16 printable ASCII characters (it is used byte for byte as an AES key)."""
    if not isinstance(key, str):
        raise FieldError("key", f"'key' must be a string, not {f.type_name(key)}")
    if not key:
        return key
    if len(key) != KEY_LENGTH:
        raise FieldError(
            "key",
            f"the local key must be exactly {KEY_LENGTH} characters (got {len(key)}; "
            "check for stray spaces or quotes)",
        )
    if not all(" " <= ch <= "~" for ch in key):
        raise FieldError("key", "the local key must be printable ASCII characters only (it "
                                "holds a character outside A-Z, a-z, 0-9 and punctuation)")
    return key


def check_plug(plug: PlugConfig) -> PlugConfig:
    """Semantic checks shared by the file loader and programmatic edits; normalises version."""
    for key, value in (("name", plug.name), ("id", plug.device_id)):
        if not isinstance(value, str) or not value.strip():
            raise FieldError(key, f"{key!r} must not be empty")
        if any(not ch.isprintable() for ch in value):
            raise FieldError(key, f"{key!r} must not contain control characters")
    if any(ch.isspace() for ch in plug.device_id):
        raise FieldError("id", f"'id' must not contain spaces: {plug.device_id!r}")
    if not isinstance(plug.host, str):
        raise FieldError("host", "'host' must be a string")
    f.host("host", plug.host)
    version = f.version("version", plug.version)
    check_key(plug.local_key)  # a missing key is allowed: see needs_key()
    f.port("port", plug.port)
    if plug.poll_interval is not None:
        _interval(plug.poll_interval)
    if plug.refresh is not None:
        f.flag("refresh", plug.refresh)
    if plug.product_id and not is_product_id(plug.product_id):
        raise FieldError("product_id", "'product_id' must be Tuya's product id: letters, digits, "
                                       f"'_', '.' or '-', at most 64 (got {plug.product_id!r})")
    return plug if version == plug.version else replace(plug, version=version)


def is_product_id(value: object) -> bool:
    """True for text shaped like a Tuya product id (what ``product_id`` accepts)."""
    return isinstance(value, str) and bool(_PRODUCT_ID.fullmatch(value))


def validate_plug(plug: PlugConfig) -> PlugConfig:
    """Check one plug built in code (empty fields, key, version, port, interval, product id).

    Returns it with the version normalised ("33" → "3.3"); raises :class:`ConfigError`.
    """
    try:
        return check_plug(plug)
    except FieldError as exc:
        raise ConfigError(f"plug {plug.name!r}: {exc.message}") from None


def defaults_from(table: Mapping[str, Any]) -> Defaults:
    f.check_keys(table, DEFAULTS_KEYS, "[defaults]")
    base = Defaults()
    refresh = table.get("refresh")
    return Defaults(
        poll_interval=_interval(table.get("poll_interval", base.poll_interval)),
        timeout=f.number("timeout", table.get("timeout", base.timeout), 0.1, 600.0, "s"),
        heartbeat_interval=f.number("heartbeat_interval",
                                    table.get("heartbeat_interval", base.heartbeat_interval),
                                    1.0, 3600.0, "s"),
        refresh=None if refresh is None else f.flag("refresh", refresh),
    )


def plug_from(table: Mapping[str, Any]) -> PlugConfig:
    """One ``[[plugs]]`` table as a checked :class:`PlugConfig`; raises :class:`FieldError`."""
    f.check_keys(table, PLUG_KEYS, "a [[plugs]] entry")
    poll_interval = table.get("poll_interval")
    refresh = table.get("refresh")
    source = table.get("mapping")
    mapping = None if source is None else _parse_mapping(source)
    plug = PlugConfig(
        name=f.text("name", table.get("name"), required=True),
        device_id=f.text("id", table.get("id"), required=True),
        host=f.text("host", table.get("host"), required=True),
        # Not stripped: keys are used byte for byte, and a stray space must show as an error.
        local_key=check_key(table.get("key", "")),
        version=f.version("version", table.get("version", "auto")),
        port=f.port("port", table.get("port", DEFAULT_PORT)),
        poll_interval=None if poll_interval is None else _interval(poll_interval),
        refresh=None if refresh is None else f.flag("refresh", refresh),
        mapping=mapping,
        mapping_source=None if source is None else dict(source),
        product_id=f.text("product_id", table.get("product_id")),
    )
    return check_plug(plug)


def clashes(plugs: Sequence[PlugConfig]) -> tuple[int, str, str, str] | None:
    """First (position, key, value, message) that makes two plugs ambiguous: a shared id,
    name (ignoring case), host:port, or a name that is another plug's id. Linear time."""
    names: dict[str, PlugConfig] = {}
    ids: dict[str, PlugConfig] = {}
    addresses: dict[tuple[str, int], PlugConfig] = {}
    for position, plug in enumerate(plugs):
        if plug.device_id in ids:
            first = ids[plug.device_id]
            return position, "id", plug.device_id, (
                f"duplicate id {plug.device_id!r}: plug {first.name!r} already has it")
        folded = plug.name.casefold()
        if folded in names:
            return position, "name", plug.name, (
                f"duplicate name {plug.name!r}: another plug is already called "
                f"{names[folded].name!r} (names are compared ignoring case)")
        address = (plug.host.casefold(), plug.port)
        if address in addresses:
            return position, "host", plug.host, (
                f"plug {plug.name!r} has the same address {plug.host}:{plug.port} as plug "
                f"{addresses[address].name!r} (one plug, one connection: give each its own "
                "host or port)")
        ids[plug.device_id] = plug
        names[folded] = plug
        addresses[address] = plug
    for position, plug in enumerate(plugs):
        other = ids.get(plug.name)
        if other is not None and other is not plug:
            return position, "name", plug.name, (
                f"name {plug.name!r} is the id of plug {other.name!r}: lookups would be ambiguous")
    return None


# --------------------------------------------------------------------------- DP mappings

_UNIT_SPELLING: Final[Mapping[str, str]] = {
    "ma": "mA", "a": "A", "w": "W", "kw": "kW", "v": "V", "mv": "mV", "kwh": "kWh", "wh": "Wh",
}
_MAPPING_KEYS: Final[tuple[str, ...]] = ("layout", *MEASUREMENT_ROLES, "switches")
_DP_ID = re.compile(r"\d{1,3}")


def _dp_id(key: str, value: object) -> str:
    dp = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(dp, str) or not _DP_ID.fullmatch(dp.strip()) or not 1 <= int(dp) <= 255:
        raise FieldError(key, f"{key!r} must be a DP number from 1 to 255 (got {value!r})")
    return str(int(dp))


def _role_field(role: MeasurementRole, value: object) -> DpField:
    key = f"mapping.{role}"
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise FieldError(key, f"{key!r} must be a string \"dp\", \"dp:scale\" or "
                              f"\"dp:scale:unit\", not {f.type_name(value)}")
    parts = [part.strip() for part in value.split(":")]
    if len(parts) > 3:
        raise FieldError(key, f"{key!r} must look like \"19\", \"19:1\" or \"19:1:W\" "
                              f"(got {value!r})")
    dp = _dp_id(key, parts[0])
    scale = _DEFAULT_SCALE[role]
    if len(parts) > 1:
        if not (parts[1].isascii() and parts[1].isdigit()) or int(parts[1]) > _MAX_SCALE:
            raise FieldError(key, f"the scale in {key!r} must be 0 to {_MAX_SCALE} "
                                  f"(got {parts[1]!r})")
        scale = int(parts[1])
    unit = _DEFAULT_UNIT[role]
    if len(parts) > 2:
        units = [_UNIT_SPELLING.get(u, u) for u in _ROLE_UNITS[role]]
        unit = next((u for u in units if u.lower() == parts[2].lower()), "")
        if not unit:
            raise FieldError(key, f"unknown unit {parts[2]!r} for {role}: use "
                                  f"{' or '.join(units)}")
    return DpField(dp, scale, unit)


def _compact_mapping(source: Mapping[str, Any]) -> DpMapping:
    f.check_keys(source, _MAPPING_KEYS, "mapping", "mapping.")
    base = DpMapping()
    layout = source.get("layout")
    if layout is not None:
        if not isinstance(layout, str) or layout not in LAYOUTS:
            raise FieldError("mapping.layout", f"unknown layout {layout!r}: use one of "
                                               f"{', '.join(LAYOUTS)}")
        base = LAYOUTS[layout]
    fields: dict[MeasurementRole, DpField | None] = {r: base.field_for(r) for r in MEASUREMENT_ROLES}
    for role in MEASUREMENT_ROLES:
        if role in source:
            fields[role] = _role_field(role, source[role])
    switches = base.switches
    if "switches" in source:
        raw = source["switches"]
        if not isinstance(raw, list):
            raise FieldError("mapping.switches", "'mapping.switches' must be an array of DP "
                                                 "numbers such as [\"1\", \"2\"]")
        switches = tuple(_dp_id("mapping.switches", dp) for dp in raw)
        if len(set(switches)) != len(switches):
            raise FieldError("mapping.switches", "'mapping.switches' lists a DP twice")
    used: dict[str, str] = {}
    for role in MEASUREMENT_ROLES:
        dp_field = fields[role]
        if dp_field is None:
            continue
        if dp_field.dp in used:
            raise FieldError(f"mapping.{role}", f"DP {dp_field.dp} is mapped to both "
                                                f"{used[dp_field.dp]} and {role}")
        used[dp_field.dp] = role
    for dp in switches:
        if dp in used:
            raise FieldError("mapping.switches", f"DP {dp} is both a switch and {used[dp]}")
    if not used:
        raise FieldError("mapping", "the mapping names no power DP: give at least one of "
                                    f"{', '.join(MEASUREMENT_ROLES)} (or a layout)")
    overridden = any(role in source for role in (*MEASUREMENT_ROLES, "switches"))
    return DpMapping(
        current=fields["current"], power=fields["power"], voltage=fields["voltage"],
        energy_increment=fields["energy_increment"], energy_total=fields["energy_total"],
        switches=switches, name="custom" if overridden or layout is None else str(layout),
    )


def _tinytuya_mapping(source: Mapping[str, Any]) -> DpMapping:
    for dp, entry in source.items():
        if not _DP_ID.fullmatch(dp):
            raise FieldError(f"mapping.{dp}", f"a tinytuya-style mapping has DP numbers as keys, "
                                              f"not {dp!r}")
        if not isinstance(entry, Mapping) or not isinstance(entry.get("code"), str):
            raise FieldError(f"mapping.{dp}", f"mapping entry {dp!r} must be a table with a "
                                              "'code', e.g. { code = \"cur_power\", ... }")
    mapping = mapping_from_tinytuya(source)
    if not mapping.has_measurements:
        raise FieldError("mapping", "the mapping has none of the codes cur_power, cur_current, "
                                    "cur_voltage or add_ele (not an energy-monitoring plug?)")
    return mapping


def parse_mapping(source: object) -> DpMapping:
    """A :class:`DpMapping` from a config ``mapping`` value; raises :class:`ConfigError`.

    Two shapes: ours, ``{ power = "19:1", current = "18", layout = "cz", switches = ["1"] }``
    (``"dp"``, ``"dp:scale"`` or ``"dp:scale:unit"``; a missing scale or unit is the Tuya
    default for the role: mA/0, W/1, V/1, kWh/3), and tinytuya's ``devices.json`` mapping
    ``{ "19" = { code = "cur_power", type = "Integer", values = { scale = 1 } }, ... }``,
    recognised by its numeric keys.
    """
    try:
        return _parse_mapping(source)
    except FieldError as exc:
        raise ConfigError(exc.message) from None


def _parse_mapping(source: object) -> DpMapping:
    if not isinstance(source, Mapping):
        raise FieldError("mapping", "'mapping' must be a table such as "
                                    "{ power = \"19:1\", current = \"18:0\", voltage = \"20:1\" }")
    if not source:
        raise FieldError("mapping", "'mapping' is empty: remove it to detect the DPs")
    check_depth(source)
    if any(_DP_ID.fullmatch(str(key)) for key in source):
        return _tinytuya_mapping(source)
    return _compact_mapping(source)


def mapping_to_source(mapping: DpMapping) -> dict[str, Any]:
    """The compact config form of ``mapping`` (what :func:`parse_mapping` reads back)."""
    if mapping.name in LAYOUTS and LAYOUTS[mapping.name] == mapping:
        return {"layout": mapping.name}
    source: dict[str, Any] = {}
    for role in MEASUREMENT_ROLES:
        dp_field = mapping.field_for(role)
        if dp_field is None:
            continue
        text = f"{dp_field.dp}:{dp_field.scale}"
        if dp_field.unit and dp_field.unit.lower() != _DEFAULT_UNIT[role].lower():
            text += f":{dp_field.unit}"
        source[role] = text
    if mapping.switches:
        source["switches"] = list(mapping.switches)
    return source


MAX_MAPPING_DEPTH: Final = 8
"""A DP mapping is at most a few levels deep (DP → { values = { scale } }); deeper is hostile."""


def check_depth(value: Any, key: str = "mapping") -> None:
    """Refuse a value nested more than :data:`MAX_MAPPING_DEPTH` levels (iteratively: a
    hostile file must not reach the recursion limit)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, Mapping) else (
            item if isinstance(item, list) else ())
        for child in children:
            if isinstance(child, (Mapping, list)):
                if depth + 1 >= MAX_MAPPING_DEPTH:
                    raise FieldError(key, f"{key!r} is nested too deeply (more than "
                                          f"{MAX_MAPPING_DEPTH} levels)")
                stack.append((child, depth + 1))


def without_nulls(value: Any) -> Any:
    """JSON (tinytuya) data made TOML-safe: TOML has no null, so null entries are dropped.
    Call :func:`check_depth` first on data from outside."""
    if isinstance(value, Mapping):
        return {str(k): without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value if v is not None]
    return value


def _mapping_source_for(plug: PlugConfig) -> dict[str, Any] | None:
    if plug.mapping is None:
        return None
    source = plug.mapping_source
    if source is not None:
        try:
            if _parse_mapping(without_nulls(source)) == plug.mapping:
                return dict(without_nulls(source))
        except FieldError:
            pass
    # The source is stale (the mapping was replaced in code) or absent: write the mapping.
    return mapping_to_source(plug.mapping)


def tidy_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def plug_document(plug: PlugConfig, *, mask: bool = False
                  ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the plug's keys, its mapping source or None) as written to the file; ``mask`` shows
    the key as first 2 and last 2 characters (``config show``)."""
    doc: dict[str, Any] = {"name": plug.name, "id": plug.device_id, "host": plug.host}
    if plug.port != DEFAULT_PORT or mask:
        doc["port"] = plug.port
    if plug.local_key:
        doc["key"] = plug.masked_key if mask else plug.local_key
    doc["version"] = plug.version
    if plug.product_id:
        doc["product_id"] = plug.product_id
    if plug.poll_interval is not None:
        doc["poll_interval"] = tidy_number(plug.poll_interval)
    if plug.refresh is not None:
        doc["refresh"] = plug.refresh
    return doc, _mapping_source_for(plug)
