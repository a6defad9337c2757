"""The one field validator of the config file: types, ranges, finite numbers, did-you-mean,
and where in the file a key is (for ``file:line`` messages).

Every section and every plug is read through these functions, so a number is checked the same
way everywhere (finite, inside its range, ``nan`` and ``inf`` refused) and an unknown key
always gets the same "did you mean" hint. They raise :class:`FieldError` carrying the dotted
key; :func:`~powermonitor.config.toml_io.parse_config` turns it into a
:class:`~powermonitor.errors.ConfigError` naming the file and the line found by
:class:`Locator`.

The locator is a textual heuristic, good enough for hand-written files: the ``[section]`` or
``[[plugs]]`` block first, then the line of the offending key inside it; for plugs written as an
inline array it falls back to the line of the value or of ``plugs =``.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from ..errors import ConfigError, UnknownVersionError
from ..protocol.versions import normalize_version

__all__ = ["FieldError", "Locator", "Table", "check_keys", "format_listen", "hint", "parse_listen"]


class FieldError(ConfigError):
    """A bad value at ``key`` (dotted, relative to the table being read); located by the caller
    (:func:`~.toml_io.parse_config` adds the file and line)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


ALIASES: Final[Mapping[str, str]] = {
    "ip": "host", "address": "host", "addr": "host", "hostname": "host",
    "local_key": "key", "localkey": "key", "device_id": "id", "devid": "id", "gwid": "id",
    "ver": "version", "protocol": "version", "interval": "poll_interval",
    "add_ele": "energy_increment", "energy": "energy_increment", "cur_power": "power",
    "cur_current": "current", "cur_voltage": "voltage", "switch": "switches",
    "path": "db", "database": "db", "file": "db", "db": "database", "bind": "listen", "port": "listen",
    "productkey": "product_id", "product_key": "product_id", "model": "product_id",
}


def hint(key: str, allowed: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a near miss or a known alias, else the list of keys."""
    allowed = list(allowed)
    alias = ALIASES.get(key.lower())
    if alias in allowed:
        return f" (did you mean {alias!r}?)"
    close = difflib.get_close_matches(key.lower(), allowed, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known keys: {', '.join(allowed)})"


def check_keys(table: Mapping[str, Any], allowed: Sequence[str], where: str, prefix: str = ""
               ) -> None:
    for key in table:
        if key not in allowed:
            raise FieldError(prefix + key, f"unknown key {key!r} in {where}{hint(key, allowed)}")


def type_name(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


def text(key: str, value: object, *, required: bool = False) -> str:
    if value is None:
        if required:
            raise FieldError(key, f"{key!r} is missing")
        return ""
    if not isinstance(value, str):
        raise FieldError(key, f"{key!r} must be a string, not {type_name(value)}")
    stripped = value.strip()
    if required and not stripped:
        raise FieldError(key, f"{key!r} must not be empty")
    if any(not ch.isprintable() for ch in stripped):
        raise FieldError(key, f"{key!r} must not contain control characters")
    return stripped


def number(key: str, value: object, low: float, high: float, unit: str = "",
           why: str = "") -> float:
    """A finite number from ``low`` to ``high`` (``nan``, ``inf`` and booleans refused)."""
    suffix = f" {unit}" if unit else ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(key, f"{key!r} must be a number{' of ' + _UNITS.get(unit, unit) if unit else ''}, "
                              f"not {type_name(value)}")
    result = float(value)
    if not math.isfinite(result):
        raise FieldError(key, f"{key!r} must be a finite number (got {value})")
    if result < low:
        raise FieldError(key, f"{key!r} must be at least {low:g}{suffix}{why} (got {value})")
    if result > high:
        raise FieldError(key, f"{key!r} must be at most {high:g}{suffix} (got {value})")
    return result


_UNITS: Final = {"s": "seconds", "days": "days"}


def integer(key: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FieldError(key, f"{key!r} must be an integer from {low} to {high} (got {value!r})")
    return value


def flag(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise FieldError(key, f"{key!r} must be true or false, not {type_name(value)}")
    return value


def port(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise FieldError(key, f"{key!r} must be a TCP port number from 1 to 65535 (got {value!r})")
    return value


def version(key: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise FieldError(key, f"{key!r} must be a string such as \"3.3\" or \"auto\"")
    try:
        return normalize_version(value)
    except UnknownVersionError as exc:
        raise FieldError(key, str(exc)) from None


def host(key: str, value: str) -> str:
    """An IP address or host name, without a port (IPv6 written bare: ``fe80::1``)."""
    if not value:
        raise FieldError(key, f"{key!r} must not be empty (the plug's IP address or name)")
    if any(ch.isspace() or not ch.isprintable() for ch in value) or "/" in value:
        raise FieldError(key, f"{key!r} is not an IP address or host name: {value!r}")
    if ":" in value:
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            raise FieldError(
                key, f"{key!r} must not include a port ({value!r}): write the port as port = N"
            ) from None
    return value


_HOST_PORT = re.compile(r"^\[?(?P<host>[^\]\s]*)\]?:(?P<port>\d{1,5})$")
OFF: Final = frozenset({"off", "none", "no", "false"})


def parse_listen(value: str, what: str, default_host: str = "0.0.0.0") -> tuple[str, int]:
    """``"127.0.0.1:9108"``, ``":9108"`` (all interfaces) or ``"[::1]:9108"`` → (host, port).

    Raises :class:`FieldError` keyed ``what``."""
    match = _HOST_PORT.match(value.strip())
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise FieldError(what, f"{what!r} must be HOST:PORT such as 127.0.0.1:8000 "
                               f"(got {value!r})")
    return match["host"] or default_host, int(match["port"])


def format_listen(listen: tuple[str, int] | None) -> str:
    """The inverse of :func:`parse_listen`: ``host:port``, ``[v6]:port``, or ``off``."""
    if listen is None:
        return "off"
    host, port = listen
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Table:
    """One config table read with typed accessors; unknown keys refused with did-you-mean.

    ``Table("mqtt", raw, KEYS).integer("qos", 1, 0, 2)``; every accessor raises
    :class:`FieldError` keyed by the dotted name inside the section.
    """

    def __init__(self, name: str, table: object, allowed: Sequence[str]) -> None:
        if table is None:
            table = {}
        if not isinstance(table, Mapping):
            raise FieldError("", f"[{name}] must be a table: write [{name}] on a line of its own")
        self.name = name
        self.raw: Mapping[str, Any] = table
        check_keys(table, allowed, f"[{name}]")

    def __bool__(self) -> bool:
        return bool(self.raw)

    def has(self, key: str) -> bool:
        return key in self.raw

    def error(self, key: str, message: str) -> FieldError:
        return FieldError(key, f"[{self.name}] {key!r} {message}")

    def _wrap(self, exc: FieldError) -> FieldError:
        return FieldError(exc.key, f"[{self.name}] {exc.message}")

    def text(self, key: str, default: str = "") -> str:
        try:
            return text(key, self.raw.get(key, default))
        except FieldError as exc:
            raise self._wrap(exc) from None

    def flag(self, key: str, default: bool) -> bool:
        try:
            return flag(key, self.raw.get(key, default))
        except FieldError as exc:
            raise self._wrap(exc) from None

    def number(self, key: str, default: float, low: float, high: float, unit: str = "") -> float:
        try:
            return number(key, self.raw.get(key, default), low, high, unit)
        except FieldError as exc:
            raise self._wrap(exc) from None

    def optional_number(self, key: str, low: float, high: float, unit: str = "") -> float | None:
        return None if key not in self.raw else self.number(key, 0.0, low, high, unit)

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        try:
            return integer(key, self.raw.get(key, default), low, high)
        except FieldError as exc:
            raise self._wrap(exc) from None

    def choice(self, key: str, default: str, choices: Iterable[str]) -> str:
        options = tuple(choices)
        value = self.text(key, default)
        if value not in options:
            raise self.error(key, f"must be one of {', '.join(options)} (got {value!r})")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key, [])
        if not isinstance(value, list):
            raise self.error(key, f"must be an array of strings, not {type_name(value)}")
        try:
            return tuple(text(key, item, required=True) for item in value)
        except FieldError as exc:
            raise self._wrap(exc) from None

    def listen(self, key: str) -> tuple[str, int] | None:
        """``HOST:PORT``, or ``"off"`` (None)."""
        value = self.text(key)
        if not value or value.lower() in OFF:
            return None
        try:
            return parse_listen(value, key)
        except FieldError as exc:
            raise self._wrap(exc) from None


# --------------------------------------------------------------------------- locating keys

_HEADER = re.compile(r"^\s*(\[\[?)([^\[\]#]+)\]")
_ITEM_KEY = re.compile(r"(?P<name>\w+)\[(?P<index>\d+)\]\.(?P<key>.+)")


class Locator:
    """Finds the line of a key in the raw TOML text (a heuristic: see the module docstring)."""

    def __init__(self, source: str) -> None:
        self.lines = source.splitlines()
        # (0-based line index, is array-of-tables, normalised dotted name)
        self.headers: list[tuple[int, bool, str]] = []
        for index, line in enumerate(self.lines):
            match = _HEADER.match(line)
            if match:
                name = re.sub(r"[\s\"']", "", match.group(2))
                self.headers.append((index, match.group(1) == "[[", name))
        self._arrays: dict[str, list[int]] = {}
        for index, is_array, name in self.headers:
            if is_array:
                self._arrays.setdefault(name, []).append(index)
        self._following = {h[0]: n for n, h in enumerate(self.headers)}

    def _block(self, start: int, owner: str) -> tuple[int, int]:
        """Lines from header ``start`` up to the next header not nested under ``owner``."""
        for index, is_array, name in self.headers[self._following[start] + 1:]:
            if is_array or not name.startswith(owner + "."):
                return start, index
        return start, len(self.lines)

    def _top_block(self) -> tuple[int, int]:
        return 0, (self.headers[0][0] if self.headers else len(self.lines))

    def table(self, name: str) -> tuple[int, int] | None:
        for index, is_array, header in self.headers:
            if header == name and not is_array:
                return self._block(index, name)
        return None

    def array_item(self, name: str, position: int) -> tuple[int, int] | None:
        starts = self._arrays.get(name, [])
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
            if not part:
                continue
            line = self.key_in(block, part)
            if line is not None:
                return line
        sub_table = f"{owner}.{parts[0]}"
        for index, _, name in self.headers:
            if block[0] < index < block[1] and (name == sub_table
                                                or name.startswith(sub_table + ".")):
                return index + 1
        return block[0] + 1

    def in_section(self, section: str, key: str) -> int | None:
        """Line of ``key`` in ``[section]`` (or its header, or ``section = {…}`` inline);
        ``name[i].key`` is ``key`` in the i-th ``[[section.name]]``."""
        item = _ITEM_KEY.fullmatch(key)
        if item is not None:
            owner = f"{section}.{item['name']}"
            line = self.field(self.array_item(owner, int(item["index"])), item["key"], owner)
            if line is not None:
                return line
        line = self.field(self.table(section), key, section)
        return line if line is not None else self.section(section)

    def plug(self, position: int, key: str) -> int | None:
        line = self.field(self.array_item("plugs", position), key, "plugs")
        return line if line is not None else self.section("plugs")
