"""The configuration file: plugs to watch and global defaults (TOML).

Location: ``--config PATH``, else ``$POWERMONITOR_CONFIG``, else ``config.toml`` in the user's
config dir (``$XDG_CONFIG_HOME/powermonitor``, ``~/.config/powermonitor``). A missing file is an
empty configuration. Files holding keys are written 0600, atomically; keys are masked in every
listing.

Example::

    [defaults]
    poll_interval = 10        # seconds; never below 1
    timeout = 5
    heartbeat_interval = 10
    refresh = true            # optional: ask plugs to re-measure before each poll

    [[plugs]]
    name = "fridge"
    id = "bf1f6d1e0f8c3a2b4d5e"
    host = "192.168.1.50"
    key = "0123456789abcdef"
    version = "3.3"           # 3.1 3.2 3.3 3.4 3.5 or "auto" (the default)
    port = 6668               # optional
    poll_interval = 5         # optional, else [defaults]
    # optional DP mapping override: role = "dp", "dp:scale" or "dp:scale:unit"
    mapping = { power = "19:1", current = "18:0", voltage = "20:1", switches = ["1"] }

    [[plugs]]
    name = "boiler"
    id = "bf00000000000000beef"
    host = "192.168.1.51"
    key = "fedcba9876543210"
    mapping = { layout = "switch20" }     # a known layout, optionally with overrides

    [[plugs]]
    name = "heater"
    id = "bf00000000000000cafe"
    host = "192.168.1.52"
    key = "0011223344556677"
    [plugs.mapping]                       # tinytuya's devices.json mapping, as imported
    19 = { code = "cur_power", type = "Integer", values = { unit = "W", scale = 1 } }

    [storage]                 # sections of later features are kept verbatim
    path = "~/powermonitor.db"

Design rules for this module:

* **Validate everything on load, with the file and line in the message.** TOML syntax errors
  carry tomllib's line and column. Semantic errors (a duplicate name, a short key) are located
  by looking in the raw text: the ``[[plugs]]`` block of the offending plug, then the line of the
  offending key inside it (``name = "x"`` for a duplicate name). That is a textual heuristic,
  good enough for hand-written files; for plugs written as an inline array it falls back to the
  line of the value or of ``plugs =``.
* **Never write a file we cannot read back.** :func:`save_config` renders the TOML, parses it
  again with the same validator, and only then replaces the file: temp file in the same
  directory created 0600, fsync, ``os.replace``. A failed write leaves the old file untouched.
  Comments in a hand-edited file are not kept by a save (tomli-w writes data, not layout).
* **Pure edits.** :func:`add_plug`, :func:`remove_plug` and :func:`merge_plugs` return a new
  :class:`Config`; only :func:`save_config` touches the disk.
* **Keys never leave in clear.** ``PlugConfig`` keeps the key out of ``repr``; no message of
  this module contains a key.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import json
import logging
import math
import os
import re
import secrets
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import tomli_w

from .dps import (
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
from .errors import ConfigError, UnknownVersionError
from .models import DeviceInfo, mask_key
from .protocol.versions import normalize_version

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_PORT",
    "KNOWN_SECTIONS",
    "MAX_POLL_INTERVAL",
    "MIN_POLL_INTERVAL",
    "RESERVED_SECTIONS",
    "Config",
    "Defaults",
    "ImportResult",
    "MergeReport",
    "PlugConfig",
    "add_plug",
    "default_config_path",
    "import_devices",
    "load_config",
    "mapping_to_source",
    "merge_plugs",
    "parse_config",
    "parse_mapping",
    "remove_plug",
    "save_config",
    "validate_plug",
]

log = logging.getLogger(__name__)

MIN_POLL_INTERVAL = 1.0
"""No plug is ever polled faster than once a second (real plugs hang or reset)."""
MAX_POLL_INTERVAL: Final = 86_400.0
DEFAULT_PORT: Final = 6668
CONFIG_ENV: Final = "POWERMONITOR_CONFIG"

KNOWN_SECTIONS: Final[tuple[str, ...]] = ("defaults", "plugs")
RESERVED_SECTIONS: Final[tuple[str, ...]] = (
    "storage", "tariff", "web", "mqtt", "influx", "prometheus", "energy", "alerts", "notify",
)
"""Top-level sections owned by later features: accepted and kept verbatim in ``Config.extra``."""

_KEY_LENGTH: Final = 16
_KEYLESS_VERSIONS: Final = frozenset({"3.1", "auto"})


@dataclass(frozen=True, slots=True)
class Defaults:
    poll_interval: float = 10.0
    timeout: float = 5.0
    heartbeat_interval: float = 10.0
    refresh: bool | None = None  # send UPDATEDPS before polls: True/False, None = learn per plug


@dataclass(frozen=True, slots=True)
class PlugConfig:
    """One plug to watch. ``local_key`` stays out of repr."""

    name: str
    device_id: str
    host: str
    local_key: str = field(default="", repr=False)
    version: str = "auto"
    port: int = DEFAULT_PORT
    poll_interval: float | None = None  # None: the defaults' value
    refresh: bool | None = None  # None: the defaults' value
    mapping: DpMapping | None = None
    mapping_source: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    """The mapping as written in the file (or imported), kept so it can be saved back."""

    @property
    def masked_key(self) -> str:
        return mask_key(self.local_key)

    def device_info(self) -> DeviceInfo:
        """How to reach this plug, for :class:`~powermonitor.client.plug.Plug`."""
        return DeviceInfo(
            device_id=self.device_id, host=self.host, local_key=self.local_key,
            version=self.version, port=self.port, name=self.name,
        )


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None = None
    defaults: Defaults = Defaults()
    plugs: tuple[PlugConfig, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    """Sections owned by later features (storage, tariff, web, mqtt...), kept verbatim."""

    def plug(self, name_or_id: str) -> PlugConfig:
        """Find a plug by device id or name, then by name ignoring case (KeyError if unknown)."""
        for plug in self.plugs:
            if name_or_id in (plug.device_id, plug.name):
                return plug
        folded = name_or_id.casefold()
        for plug in self.plugs:
            if plug.name.casefold() == folded:
                return plug
        raise KeyError(name_or_id)

    def interval_for(self, plug: PlugConfig) -> float:
        """Seconds between polls of ``plug``: its own value or the default, never below 1 s."""
        interval = plug.poll_interval if plug.poll_interval is not None else (
            self.defaults.poll_interval
        )
        return max(MIN_POLL_INTERVAL, interval)

    def refresh_for(self, plug: PlugConfig) -> bool | None:
        """Whether to ask ``plug`` to re-measure before polls (None: learn it per plug)."""
        return plug.refresh if plug.refresh is not None else self.defaults.refresh


# --------------------------------------------------------------------------- locations


def default_config_path() -> Path:
    """``$POWERMONITOR_CONFIG``, else ``$XDG_CONFIG_HOME/powermonitor/config.toml``, else
    ``~/.config/powermonitor/config.toml`` (a relative or empty XDG_CONFIG_HOME is ignored, as
    the XDG spec says)."""
    explicit = os.environ.get(CONFIG_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME", "").strip()
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config"
    return base / "powermonitor" / "config.toml"


def _resolve_path(path: Path | str | os.PathLike[str] | None) -> Path:
    return default_config_path() if path is None else Path(path).expanduser()


# --------------------------------------------------------------------------- field checks


class _FieldError(Exception):
    """A bad value at ``key`` (dotted, relative to the table being read); located by the caller."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


_ALIASES: Final[Mapping[str, str]] = {
    "ip": "host", "address": "host", "addr": "host", "hostname": "host",
    "local_key": "key", "localkey": "key", "device_id": "id", "devid": "id", "gwid": "id",
    "ver": "version", "protocol": "version", "interval": "poll_interval",
    "add_ele": "energy_increment", "energy": "energy_increment", "cur_power": "power",
    "cur_current": "current", "cur_voltage": "voltage", "switch": "switches",
}


def _hint(key: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    alias = _ALIASES.get(key.lower())
    if alias in allowed:
        return f" (did you mean {alias!r}?)"
    close = difflib.get_close_matches(key.lower(), allowed, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known keys: {', '.join(allowed)})"


def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], where: str, prefix: str = ""
                ) -> None:
    for key in table:
        if key not in allowed:
            raise _FieldError(prefix + key, f"unknown key {key!r} in {where}{_hint(key, allowed)}")


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


def _text(key: str, value: object, *, required: bool = False) -> str:
    if value is None:
        if required:
            raise _FieldError(key, f"{key!r} is missing")
        return ""
    if not isinstance(value, str):
        raise _FieldError(key, f"{key!r} must be a string, not {_type_name(value)}")
    text = value.strip()
    if required and not text:
        raise _FieldError(key, f"{key!r} must not be empty")
    return text


def _key_text(value: object) -> str:
    # Not stripped: keys are used byte for byte, and a stray space must show as a length error.
    if not isinstance(value, str):
        raise _FieldError("key", f"'key' must be a string, not {_type_name(value)}")
    return value


def _number(key: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _FieldError(key, f"{key!r} must be a number of seconds, not {_type_name(value)}")
    number = float(value)
    if math.isnan(number) or number < low:
        why = " (plugs hang or reset when polled faster)" if key == "poll_interval" else ""
        raise _FieldError(key, f"{key!r} must be at least {low:g} s{why} (got {value})")
    if number > high:
        raise _FieldError(key, f"{key!r} must be at most {high:g} s (got {value})")
    return number


def _flag(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise _FieldError(key, f"{key!r} must be true or false, not {_type_name(value)}")
    return value


def _port(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _FieldError(key, f"{key!r} must be a TCP port number from 1 to 65535 (got {value!r})")
    return value


def _version(key: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _FieldError(key, f"{key!r} must be a string such as \"3.3\" or \"auto\"")
    try:
        return normalize_version(value)
    except UnknownVersionError as exc:
        raise _FieldError(key, str(exc)) from None


def _check_host(host: str) -> None:
    if not host:
        raise _FieldError("host", "'host' must not be empty (the plug's IP address or name)")
    if any(ch.isspace() for ch in host) or "/" in host:
        raise _FieldError("host", f"'host' is not an IP address or host name: {host!r}")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _FieldError(
                "host", f"'host' must not include a port ({host!r}): write the port as port = N"
            ) from None


def _check_plug(plug: PlugConfig) -> PlugConfig:
    """Semantic checks shared by the file loader and programmatic edits; normalises version."""
    for key, value in (("name", plug.name), ("id", plug.device_id)):
        if not isinstance(value, str) or not value.strip():
            raise _FieldError(key, f"{key!r} must not be empty")
        if any(not ch.isprintable() for ch in value):
            raise _FieldError(key, f"{key!r} must not contain control characters")
    if any(ch.isspace() for ch in plug.device_id):
        raise _FieldError("id", f"'id' must not contain spaces: {plug.device_id!r}")
    _check_host(plug.host)
    version = _version("version", plug.version)
    key = plug.local_key
    if not isinstance(key, str):
        raise _FieldError("key", "'key' must be a string")
    if key and len(key) != _KEY_LENGTH:
        raise _FieldError(
            "key",
            f"the local key must be exactly {_KEY_LENGTH} characters (got {len(key)}; "
            "check for stray spaces or quotes)",
        )
    if not key and version not in _KEYLESS_VERSIONS:
        raise _FieldError("key", f"protocol {version} needs the plug's 16-character local key")
    _port("port", plug.port)
    if plug.poll_interval is not None:
        _number("poll_interval", plug.poll_interval, MIN_POLL_INTERVAL, MAX_POLL_INTERVAL)
    if plug.refresh is not None:
        _flag("refresh", plug.refresh)
    return plug if version == plug.version else replace(plug, version=version)


def validate_plug(plug: PlugConfig) -> PlugConfig:
    """Check one plug built in code (empty fields, key length, version, port, interval).

    Returns it with the version normalised ("33" → "3.3"); raises :class:`ConfigError`.
    """
    try:
        return _check_plug(plug)
    except _FieldError as exc:
        raise ConfigError(f"plug {plug.name!r}: {exc.message}") from None


# --------------------------------------------------------------------------- DP mappings

_UNIT_SPELLING: Final[Mapping[str, str]] = {
    "ma": "mA", "a": "A", "w": "W", "kw": "kW", "v": "V", "mv": "mV", "kwh": "kWh", "wh": "Wh",
}
_MAPPING_KEYS: Final[tuple[str, ...]] = ("layout", *MEASUREMENT_ROLES, "switches")
_DP_ID = re.compile(r"\d{1,3}")


def _dp_id(key: str, value: object) -> str:
    dp = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(dp, str) or not _DP_ID.fullmatch(dp.strip()) or not 1 <= int(dp) <= 255:
        raise _FieldError(key, f"{key!r} must be a DP number from 1 to 255 (got {value!r})")
    return str(int(dp))


def _role_field(role: MeasurementRole, value: object) -> DpField:
    key = f"mapping.{role}"
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _FieldError(key, f"{key!r} must be a string \"dp\", \"dp:scale\" or "
                               f"\"dp:scale:unit\", not {_type_name(value)}")
    parts = [part.strip() for part in value.split(":")]
    if len(parts) > 3:
        raise _FieldError(key, f"{key!r} must look like \"19\", \"19:1\" or \"19:1:W\" "
                               f"(got {value!r})")
    dp = _dp_id(key, parts[0])
    scale = _DEFAULT_SCALE[role]
    if len(parts) > 1:
        if not (parts[1].isascii() and parts[1].isdigit()) or int(parts[1]) > _MAX_SCALE:
            raise _FieldError(key, f"the scale in {key!r} must be 0 to {_MAX_SCALE} "
                                   f"(got {parts[1]!r})")
        scale = int(parts[1])
    unit = _DEFAULT_UNIT[role]
    if len(parts) > 2:
        units = [_UNIT_SPELLING.get(u, u) for u in _ROLE_UNITS[role]]
        unit = next((u for u in units if u.lower() == parts[2].lower()), "")
        if not unit:
            raise _FieldError(key, f"unknown unit {parts[2]!r} for {role}: use "
                                   f"{' or '.join(units)}")
    return DpField(dp, scale, unit)


def _compact_mapping(source: Mapping[str, Any]) -> DpMapping:
    _check_keys(source, _MAPPING_KEYS, "mapping", "mapping.")
    base = DpMapping()
    layout = source.get("layout")
    if layout is not None:
        if not isinstance(layout, str) or layout not in LAYOUTS:
            raise _FieldError("mapping.layout", f"unknown layout {layout!r}: use one of "
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
            raise _FieldError("mapping.switches", "'mapping.switches' must be an array of DP "
                                                  "numbers such as [\"1\", \"2\"]")
        switches = tuple(_dp_id("mapping.switches", dp) for dp in raw)
        if len(set(switches)) != len(switches):
            raise _FieldError("mapping.switches", "'mapping.switches' lists a DP twice")
    used: dict[str, str] = {}
    for role in MEASUREMENT_ROLES:
        dp_field = fields[role]
        if dp_field is None:
            continue
        if dp_field.dp in used:
            raise _FieldError(f"mapping.{role}", f"DP {dp_field.dp} is mapped to both "
                                                 f"{used[dp_field.dp]} and {role}")
        used[dp_field.dp] = role
    for dp in switches:
        if dp in used:
            raise _FieldError("mapping.switches", f"DP {dp} is both a switch and {used[dp]}")
    if not used:
        raise _FieldError("mapping", "the mapping names no power DP: give at least one of "
                                     f"{', '.join(MEASUREMENT_ROLES)} (or a layout)")
    overridden = any(role in source for role in (*MEASUREMENT_ROLES, "switches"))
    return DpMapping(
        current=fields["current"], power=fields["power"], voltage=fields["voltage"],
        energy_increment=fields["energy_increment"], switches=switches,
        name="custom" if overridden or layout is None else str(layout),
    )


def _tinytuya_mapping(source: Mapping[str, Any]) -> DpMapping:
    for dp, entry in source.items():
        if not _DP_ID.fullmatch(dp):
            raise _FieldError(f"mapping.{dp}", f"a tinytuya-style mapping has DP numbers as keys, "
                                               f"not {dp!r}")
        if not isinstance(entry, Mapping) or not isinstance(entry.get("code"), str):
            raise _FieldError(f"mapping.{dp}", f"mapping entry {dp!r} must be a table with a "
                                               "'code', e.g. { code = \"cur_power\", ... }")
    mapping = mapping_from_tinytuya(source)
    if not mapping.has_measurements:
        raise _FieldError("mapping", "the mapping has none of the codes cur_power, cur_current, "
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
    except _FieldError as exc:
        raise ConfigError(exc.message) from None


def _parse_mapping(source: object) -> DpMapping:
    if not isinstance(source, Mapping):
        raise _FieldError("mapping", "'mapping' must be a table such as "
                                     "{ power = \"19:1\", current = \"18:0\", voltage = \"20:1\" }")
    if not source:
        raise _FieldError("mapping", "'mapping' is empty: remove it to detect the DPs")
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


def _without_nulls(value: Any) -> Any:
    """JSON (tinytuya) data made TOML-safe: TOML has no null, so null entries are dropped."""
    if isinstance(value, Mapping):
        return {str(k): _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value if v is not None]
    return value


# --------------------------------------------------------------------------- reading files


_HEADER = re.compile(r"^\s*(\[\[?)([^\[\]#]+)\]")
_TOML_ERROR_AT = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_TOML_ERROR_END = re.compile(r"^(?P<msg>.*?)\s*\(at end of document\)$")


class _Locator:
    """Finds the line of a key in the raw TOML text (a heuristic: see the module docstring)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        # (0-based line index, is array-of-tables, normalised dotted name)
        self.headers: list[tuple[int, bool, str]] = []
        for index, line in enumerate(self.lines):
            match = _HEADER.match(line)
            if match:
                name = re.sub(r"[\s\"']", "", match.group(2))
                self.headers.append((index, match.group(1) == "[[", name))

    def _block(self, start: int, owner: str) -> tuple[int, int]:
        """Lines from header ``start`` up to the next header not nested under ``owner``."""
        end = len(self.lines)
        for index, is_array, name in self.headers:
            if index > start and (is_array or not name.startswith(owner + ".")):
                end = index
                break
        return start, end

    def _top_block(self) -> tuple[int, int]:
        return 0, (self.headers[0][0] if self.headers else len(self.lines))

    def table(self, name: str) -> tuple[int, int] | None:
        for index, is_array, header in self.headers:
            if header == name and not is_array:
                return self._block(index, name)
        return None

    def array_item(self, name: str, position: int) -> tuple[int, int] | None:
        starts = [index for index, is_array, header in self.headers if is_array and header == name]
        if position < len(starts):
            return self._block(starts[position], name)
        return None

    def key_in(self, block: tuple[int, int], key: str) -> int | None:
        pattern = re.compile(r"(?:^|[{,\s.])[\"']?" + re.escape(key) + r"[\"']?\s*=")
        for index in range(*block):
            line = self.lines[index]
            if line.lstrip().startswith("#"):
                continue
            if pattern.search(line.split("#", 1)[0]):
                return index + 1
        return None

    def value_line(self, key: str, value: str, occurrence: int) -> int | None:
        pattern = re.compile(re.escape(key) + r"\s*=\s*[\"']" + re.escape(value) + r"[\"']")
        hits = [i + 1 for i, line in enumerate(self.lines) if pattern.search(line)]
        return hits[occurrence] if occurrence < len(hits) else (hits[-1] if hits else None)

    def section(self, name: str) -> int | None:
        for index, _, header in self.headers:
            if header == name or header.startswith(name + "."):
                return index + 1
        return self.key_in(self._top_block(), name)

    def field(self, block: tuple[int, int] | None, key: str, owner: str) -> int | None:
        """Line of dotted ``key`` inside ``block``: its last part, then its first, then a
        sub-table header such as ``[plugs.mapping]``, then the block's header."""
        if block is None:
            return None
        parts = key.split(".")
        for part in (parts[-1], parts[0]):
            line = self.key_in(block, part)
            if line is not None:
                return line
        sub_table = f"{owner}.{parts[0]}"
        for index, _, name in self.headers:
            if block[0] < index < block[1] and (name == sub_table
                                                or name.startswith(sub_table + ".")):
                return index + 1
        return block[0] + 1

    def plug(self, position: int, key: str) -> int | None:
        line = self.field(self.array_item("plugs", position), key, "plugs")
        return line if line is not None else self.section("plugs")


_PLUG_KEYS: Final[tuple[str, ...]] = (
    "name", "id", "host", "key", "version", "port", "poll_interval", "refresh", "mapping",
)
_DEFAULTS_KEYS: Final[tuple[str, ...]] = ("poll_interval", "timeout", "heartbeat_interval", "refresh")


def _defaults_from(table: Mapping[str, Any]) -> Defaults:
    _check_keys(table, _DEFAULTS_KEYS, "[defaults]")
    base = Defaults()
    refresh = table.get("refresh")
    return Defaults(
        poll_interval=_number("poll_interval", table.get("poll_interval", base.poll_interval),
                              MIN_POLL_INTERVAL, MAX_POLL_INTERVAL),
        timeout=_number("timeout", table.get("timeout", base.timeout), 0.1, 600.0),
        heartbeat_interval=_number("heartbeat_interval",
                                   table.get("heartbeat_interval", base.heartbeat_interval),
                                   1.0, 3600.0),
        refresh=None if refresh is None else _flag("refresh", refresh),
    )


def _plug_from(table: Mapping[str, Any]) -> PlugConfig:
    _check_keys(table, _PLUG_KEYS, "a [[plugs]] entry")
    poll_interval = table.get("poll_interval")
    refresh = table.get("refresh")
    source = table.get("mapping")
    mapping = None if source is None else _parse_mapping(source)
    plug = PlugConfig(
        name=_text("name", table.get("name"), required=True),
        device_id=_text("id", table.get("id"), required=True),
        host=_text("host", table.get("host"), required=True),
        local_key=_key_text(table.get("key", "")),
        version=_version("version", table.get("version", "auto")),
        port=_port("port", table.get("port", DEFAULT_PORT)),
        poll_interval=None if poll_interval is None else _number(
            "poll_interval", poll_interval, MIN_POLL_INTERVAL, MAX_POLL_INTERVAL),
        refresh=None if refresh is None else _flag("refresh", refresh),
        mapping=mapping,
        mapping_source=None if source is None else dict(source),
    )
    return _check_plug(plug)


def _clashes(plugs: Sequence[PlugConfig]) -> tuple[int, str, str, str] | None:
    """First (position, key, value, message) that makes a lookup by name or id ambiguous."""
    names: dict[str, PlugConfig] = {}
    ids: dict[str, PlugConfig] = {}
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
        ids[plug.device_id] = plug
        names[folded] = plug
    by_id = {plug.device_id: plug for plug in plugs}
    for position, plug in enumerate(plugs):
        other = by_id.get(plug.name)
        if other is not None and other is not plug:
            return position, "name", plug.name, (
                f"name {plug.name!r} is the id of plug {other.name!r}: lookups would be ambiguous")
    return None


def parse_config(text: str, path: Path | str | None = None) -> Config:
    """Validate TOML ``text`` into a :class:`Config`; errors name ``path`` and the line."""
    where = None if path is None else Path(path)
    label = where if where is not None else "<config>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_ERROR_AT.match(str(exc))
        if match:
            raise ConfigError(f"invalid TOML: {match['msg']}", label, int(match["line"]),
                              int(match["col"])) from None
        match = _TOML_ERROR_END.match(str(exc))
        if match:
            raise ConfigError(f"invalid TOML: {match['msg']} at the end of the file", label,
                              len(text.splitlines()) or 1) from None
        raise ConfigError(f"invalid TOML: {exc}", label) from None
    locate = _Locator(text)

    def fail(message: str, line: int | None) -> ConfigError:
        return ConfigError(message, label, line)

    known = (*KNOWN_SECTIONS, *RESERVED_SECTIONS)
    for section in data:
        if section not in known:
            raise fail(f"unknown section {section!r}{_hint(section, known)}",
                       locate.section(section))

    defaults = Defaults()
    raw_defaults = data.get("defaults")
    if raw_defaults is not None:
        if not isinstance(raw_defaults, dict):
            raise fail("'defaults' must be a table: write [defaults]", locate.section("defaults"))
        try:
            defaults = _defaults_from(raw_defaults)
        except _FieldError as exc:
            raise fail(exc.message, locate.field(locate.table("defaults"), exc.key, "defaults")
                       or locate.section("defaults")) from None

    raw_plugs = data.get("plugs", [])
    if not isinstance(raw_plugs, list):
        raise fail("'plugs' must be an array of tables: write [[plugs]] (two brackets) before "
                   "each plug", locate.section("plugs"))
    plugs: list[PlugConfig] = []
    for position, table in enumerate(raw_plugs):
        if not isinstance(table, dict):
            raise fail(f"plug #{position + 1} must be a table", locate.section("plugs"))
        raw_name = table.get("name")
        who = f"plug {raw_name.strip()!r}" if isinstance(raw_name, str) and raw_name.strip() \
            else f"plug #{position + 1}"
        try:
            plugs.append(_plug_from(table))
        except _FieldError as exc:
            raise fail(f"{who}: {exc.message}", locate.plug(position, exc.key)) from None

    clash = _clashes(plugs)
    if clash is not None:
        position, key, value, message = clash
        line = locate.plug(position, key) if locate.array_item("plugs", position) else None
        if line is None:
            earlier = sum(1 for p in plugs[:position]
                          if (p.device_id if key == "id" else p.name) == value)
            line = locate.value_line(key, value, earlier) or locate.section("plugs")
        raise fail(message, line)

    extra = {name: data[name] for name in data if name in RESERVED_SECTIONS}
    if "alerts" in data or "notify" in data:
        from .alerts.rules import RuleError, parse_sections

        try:
            extra["alert_config"] = parse_sections(data.get("notify"), data.get("alerts"))
        except RuleError as exc:
            block = locate.array_item(exc.section, exc.position)
            name = data[exc.section][exc.position].get("name") \
                if isinstance(data[exc.section], list) and exc.position < len(
                    data[exc.section]) and isinstance(data[exc.section][exc.position], dict) \
                else None
            who = f"{exc.section} {name!r}" if isinstance(name, str) else \
                f"{exc.section} #{exc.position + 1}"
            raise fail(f"{who}: {exc.message}", locate.field(block, exc.key, exc.section)
                       or locate.section(exc.section)) from None
    return Config(path=where, defaults=defaults, plugs=tuple(plugs), extra=extra)


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate the config file; a missing file is an empty :class:`Config`.

    Raises :class:`ConfigError` naming the file (and the line, where there is one).
    """
    target = _resolve_path(path)
    try:
        raw = target.read_bytes()
    except FileNotFoundError:
        return Config(path=target)
    except IsADirectoryError:
        raise ConfigError("is a directory, not a config file", target) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror or exc}", target) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError("the file is not UTF-8 text", target, line) from None
    config = parse_config(text, target)
    _warn_if_readable(target, config)
    return config


def _warn_if_readable(path: Path, config: Config) -> None:
    if os.name != "posix" or not any(plug.local_key for plug in config.plugs):
        return
    with contextlib.suppress(OSError):
        if path.stat().st_mode & 0o077:
            log.warning("%s holds local keys but other users may read it: chmod 600 %s",
                        path, path)


# --------------------------------------------------------------------------- writing files

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_HEADER_COMMENT = (
    "# powermonitor configuration (TOML). Holds local keys: keep it private (mode 0600).\n"
    "# Rewritten by `powermonitor devices add/remove/import`: comments are not kept.\n\n"
)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _inline(value: Any) -> str:
    """One TOML value on one line (inline tables cannot span lines in TOML 1.0)."""
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        items = ", ".join(f"{_toml_key(str(k))} = {_inline(v)}" for k, v in value.items())
        return "{ " + items + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def _plug_document(plug: PlugConfig) -> tuple[dict[str, Any], dict[str, Any] | None]:
    doc: dict[str, Any] = {"name": plug.name, "id": plug.device_id, "host": plug.host}
    if plug.port != DEFAULT_PORT:
        doc["port"] = plug.port
    if plug.local_key:
        doc["key"] = plug.local_key
    doc["version"] = plug.version
    if plug.poll_interval is not None:
        doc["poll_interval"] = _tidy_number(plug.poll_interval)
    if plug.refresh is not None:
        doc["refresh"] = plug.refresh
    return doc, _mapping_source_for(plug)


def _mapping_source_for(plug: PlugConfig) -> dict[str, Any] | None:
    if plug.mapping is None:
        return None
    source = plug.mapping_source
    if source is not None:
        try:
            if _parse_mapping(_without_nulls(source)) == plug.mapping:
                return dict(_without_nulls(source))
        except _FieldError:
            pass
    # The source is stale (the mapping was replaced in code) or absent: write the mapping.
    return mapping_to_source(plug.mapping)


def _tidy_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def render_config(config: Config) -> str:
    """The TOML text :func:`save_config` writes (sections of later features kept verbatim)."""
    head: dict[str, Any] = {}
    d = config.defaults
    defaults: dict[str, Any] = {
        "poll_interval": _tidy_number(d.poll_interval),
        "timeout": _tidy_number(d.timeout),
        "heartbeat_interval": _tidy_number(d.heartbeat_interval),
    }
    if d.refresh is not None:
        defaults["refresh"] = d.refresh
    head["defaults"] = defaults
    for name in RESERVED_SECTIONS:
        if name in config.extra:
            head[name] = config.extra[name]
    chunks = [_HEADER_COMMENT, tomli_w.dumps(head)]
    for plug in config.plugs:
        doc, mapping = _plug_document(plug)
        chunk = "\n[[plugs]]\n" + tomli_w.dumps(doc)
        if mapping is not None:
            nested = any(isinstance(v, Mapping) for v in mapping.values())
            if nested:  # tinytuya style: one line per DP under a [plugs.mapping] table
                chunk += "\n[plugs.mapping]\n" + "".join(
                    f"{_toml_key(str(k))} = {_inline(v)}\n" for k, v in mapping.items())
            else:
                chunk += f"mapping = {_inline(mapping)}\n"
        chunks.append(chunk)
    return "".join(chunks)


def _write_atomic(target: Path, data: bytes) -> None:
    """Temp file (0600) beside ``target``, fsync, rename over it: all or nothing."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # whatever the umask did
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (best effort)
        with contextlib.suppress(OSError):
            dir_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def save_config(config: Config, path: Path | None = None) -> Path:
    """Write ``config`` (to ``path``, else ``config.path``, else the default) atomically, 0600.

    The text is validated by reading it back before anything is written; a failed write
    (disk full, read-only directory) raises :class:`ConfigError` and leaves the old file as
    it was. A symlinked config file is written through to its target. Returns the path.
    """
    target = _resolve_path(path if path is not None else config.path)
    if target.is_symlink():
        target = target.resolve()
    text = render_config(config)
    try:
        parse_config(text, target)
    except ConfigError as exc:
        raise ConfigError(f"refusing to save an invalid configuration: {exc.reason}",
                          target) from None
    try:
        _write_atomic(target, text.encode("utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot save the configuration: {exc.strerror or exc}; the file on disk is unchanged",
            target,
        ) from exc
    return target


# --------------------------------------------------------------------------- pure edits


def _position(config: Config, name_or_id: str) -> int:
    try:
        found = config.plug(name_or_id)
    except KeyError:
        where = f" in {config.path}" if config.path else ""
        raise ConfigError(f"no plug named {name_or_id!r} (or with that id){where}") from None
    return config.plugs.index(found)


def _with_plugs(config: Config, plugs: Sequence[PlugConfig]) -> Config:
    clash = _clashes(plugs)
    if clash is not None:
        raise ConfigError(clash[3], config.path)
    return replace(config, plugs=tuple(plugs))


def add_plug(config: Config, plug: PlugConfig) -> Config:
    """A new Config with ``plug`` appended; ConfigError if invalid or its name/id is taken."""
    return _with_plugs(config, [*config.plugs, validate_plug(plug)])


def remove_plug(config: Config, name_or_id: str) -> Config:
    """A new Config without the plug called (or with id) ``name_or_id``; ConfigError if none."""
    position = _position(config, name_or_id)
    return replace(config, plugs=config.plugs[:position] + config.plugs[position + 1:])


@dataclass(frozen=True, slots=True)
class MergeReport:
    """What :func:`merge_plugs` did, by plug name (keys never appear here)."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()


_ALREADY_CONFIGURED: Final = "already configured (use --replace-existing to update it)"


def _unique_name(name: str, device_id: str, taken: set[str]) -> str:
    for candidate in (name, f"{name}-{device_id[-4:]}", f"{name}-{device_id}"):
        if candidate.casefold() not in taken:
            return candidate
    counter = 2
    while f"{name}-{device_id}-{counter}".casefold() in taken:
        counter += 1
    return f"{name}-{device_id}-{counter}"


def merge_plugs(
    config: Config, plugs: Iterable[PlugConfig], *, replace_existing: bool = False
) -> tuple[Config, MergeReport]:
    """Merge imported plugs into ``config`` by device id.

    A new id is added (its name gets an id suffix if another plug already uses it). A known id
    is skipped, or with ``replace_existing`` has its connection fields (host, port, key,
    version, mapping) updated from the import, except where the import does not know them (no
    key, version "auto", no mapping); its name, interval and refresh stay as configured.
    """
    current = list(config.plugs)
    added: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    skipped: list[tuple[str, str]] = []
    renamed: list[tuple[str, str]] = []
    for plug in plugs:
        plug = validate_plug(plug)
        index = next((i for i, p in enumerate(current) if p.device_id == plug.device_id), None)
        if index is not None:
            old = current[index]
            if not replace_existing:
                skipped.append((old.name, _ALREADY_CONFIGURED))
                continue
            new = replace(
                old, host=plug.host, port=plug.port,
                # An import that does not know the key or version does not erase ours.
                local_key=plug.local_key or old.local_key,
                version=plug.version if plug.version != "auto" else old.version,
                mapping=plug.mapping if plug.mapping is not None else old.mapping,
                mapping_source=plug.mapping_source if plug.mapping is not None
                else old.mapping_source,
            )
            same = new == old and new.local_key == old.local_key
            (unchanged if same else updated).append(old.name)
            current[index] = new
            continue
        taken = {p.name.casefold() for p in current} | {p.device_id.casefold() for p in current}
        name = _unique_name(plug.name, plug.device_id, taken)
        if name != plug.name:
            renamed.append((plug.name, name))
            plug = replace(plug, name=name)
        current.append(plug)
        added.append(plug.name)
    report = MergeReport(tuple(added), tuple(updated), tuple(unchanged), tuple(skipped),
                         tuple(renamed))
    return _with_plugs(config, current), report


# --------------------------------------------------------------------------- imports


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
    if raw_version is None or str(raw_version).strip().lower() in _UNKNOWN_VERSIONS:
        version = "auto"
    else:
        try:
            version = _version("version", raw_version)
        except _FieldError as exc:
            raise ValueError(exc.message) from None
    key = entry.get("key", entry.get("local_key")) or ""
    port = entry.get("port", DEFAULT_PORT)
    mapping = None
    source: dict[str, Any] = {}
    if isinstance(entry.get("mapping"), Mapping):
        source = _without_nulls(entry["mapping"])
    if source:
        mapping = mapping_from_tinytuya(source)
        if not mapping.has_measurements:
            raise ValueError("its DP mapping has no power data points (cur_power, cur_current, "
                             "cur_voltage): not an energy-monitoring plug")
    try:
        return _check_plug(PlugConfig(
            name=name, device_id=device_id.strip(), host=ip.strip(), local_key=key,
            version=version, port=port, mapping=mapping,
            mapping_source=source if mapping is not None else None,
        ))
    except _FieldError as exc:
        raise ValueError(exc.message) from None


def import_devices(path: Path | str) -> ImportResult:
    """Read a tinytuya ``devices.json`` or ``snapshot.json``, or our simulator's devices file.

    Entries that cannot be watched are skipped with a reason (no LAN IP, gateway sub-device,
    no power DPs in the mapping, bad key or version, duplicate id); two entries with one name
    get an id suffix. Versions "3.3", 3.3, "" and 0 (tinytuya's "unknown") are normalised.
    Raises :class:`ConfigError` when the file cannot be read or is not such a file.
    """
    source_path = Path(path).expanduser()
    try:
        text = source_path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read the devices file: {exc.strerror or exc}",
                          source_path) from None
    except UnicodeDecodeError:
        raise ConfigError("the devices file is not UTF-8 JSON", source_path) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", source_path, exc.lineno,
                          exc.colno) from None
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
    taken: set[str] = set()
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
        name = _unique_name(plug.name, plug.device_id, taken | {i.casefold() for i in seen_ids})
        if name != plug.name:
            renamed.append((plug.name, name))
            plug = replace(plug, name=name)
        seen_ids.add(plug.device_id)
        taken.add(plug.name.casefold())
        plugs.append(plug)
    return ImportResult(tuple(plugs), tuple(skipped), source_format, tuple(renamed))
