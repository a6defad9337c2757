"""``simulate --spec FILE``: plugs described by their raw data, so anyone can replay a real plug.

The file is a JSON list of entries::

    [{"id": "bf...", "key": "0123456789abcdef", "version": "3.3",
      "product_key": "keyjup78v54myhan", "name": "kettle",
      "dps": {"1": true, "18": 412, "19": 890, "20": 2301}}]

An entry may carry ``"power_schedule": [[seconds_from_start, watts], ...]`` (piecewise constant,
``"repeat": true`` to loop it): DPs 18/19/20 (current, power, voltage, as "cz" plugs report
them) then follow the schedule, so a washing-machine cycle with its pauses can be replayed.

An entry may carry ``"latency": "5ms"`` (or a range, ``"5ms..20ms"``, the same text as
``simulate --latency``): that plug answers after it, whatever ``--latency`` says.

``id``, ``key`` and ``dps`` are required; ``version`` defaults to 3.3. The raw values are served
as given (NaN and Infinity included: the file is read the way plugs' JSON is); the boolean
DPs are the plug's switches and stay switchable; ``product_key`` goes into the plug's LAN
broadcasts and its devices-file entry (``product_id``).

Parsing is a table of fields (:data:`FIELDS`), each with its own check, so a new optional
field is one row and one function. Every problem is one :class:`UsageError` line naming the
file, the entry and the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..errors import UsageError
from ..protocol.versions import normalize_version
from .latency import Latency, parse_latency
from .plug import PlugSpec
from .profiles import MAX_SCHEDULE_STEPS, schedule_spec

__all__ = ["FIELDS", "MAX_DPS", "MAX_ENTRIES", "load_spec", "parse_spec"]

MAX_ENTRIES: Final = 5000
MAX_DPS: Final = 255
_MAX_FILE_BYTES: Final = 16 * 1024 * 1024
_MAX_TEXT: Final = 64


class _SpecError(Exception):
    """A problem in one field, turned into one UsageError line by :func:`parse_spec`."""


def _text(value: object, field: str, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str) or len(value) > _MAX_TEXT or (not value and not empty_ok):
        raise _SpecError(f"{field!r} must be a string of 1 to {_MAX_TEXT} characters")
    if not value.isprintable():
        raise _SpecError(f"{field!r} must be printable text")
    return value


def _key(value: object, field: str) -> str:
    key = _text(value, field)
    try:
        ok = len(key.encode("latin-1")) == 16
    except UnicodeEncodeError:
        ok = False
    if not ok:
        raise _SpecError(f"{field!r} must be 16 characters (the plug's local key)")
    return key


def _version(value: object, field: str) -> str:
    try:
        version = normalize_version(value if isinstance(value, str | float) else "")
    except Exception:  # noqa: BLE001 - any failure is the same user error
        version = "auto"
    if version == "auto":
        raise _SpecError(f"{field!r} must be a protocol version such as \"3.3\" (not auto)")
    return version


def _dps(value: object, field: str) -> tuple[tuple[str, Any], ...]:
    if not isinstance(value, Mapping) or not value:
        raise _SpecError(f"{field!r} must be a non-empty object of DP number → raw value")
    if len(value) > MAX_DPS:
        raise _SpecError(f"{field!r} has {len(value)} DPs; at most {MAX_DPS}")
    out = []
    for dp, raw in value.items():
        if not (isinstance(dp, str) and dp.isascii() and dp.isdigit() and 1 <= int(dp) <= 255):
            raise _SpecError(f"{field!r}: DP ids are numbers from 1 to 255 (got {dp!r})")
        out.append((str(int(dp)), raw))
    return tuple(sorted(out, key=lambda item: int(item[0])))


def _schedule(value: object, field: str) -> list[tuple[float, float]]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SCHEDULE_STEPS:
        raise _SpecError(f"{field!r} must be a list of 1 to {MAX_SCHEDULE_STEPS} "
                         "[seconds_from_start, watts] pairs")
    out = []
    for step in value:
        if not (isinstance(step, list) and len(step) == 2 and all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in step)):
            raise _SpecError(f"{field!r}: each step is [seconds_from_start, watts] (got {step!r})")
        out.append((float(step[0]), float(step[1])))
    return out


def _latency(value: object, field: str) -> Latency:
    if not isinstance(value, str):
        raise _SpecError(f"{field!r} must be text such as \"5ms\" or \"5ms..20ms\"")
    try:
        return parse_latency(value)
    except UsageError as exc:
        raise _SpecError(f"{field!r}: {exc}") from None


def _flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise _SpecError(f"{field!r} must be true or false")
    return value


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    spec_arg: str
    check: Callable[[object, str], Any]
    required: bool = False


#: The fields of one entry: name in the file, PlugSpec argument, check, required.
FIELDS: Final[tuple[_Field, ...]] = (
    _Field("id", "device_id", _text, required=True),
    _Field("key", "local_key", _key, required=True),
    _Field("dps", "raw_dps", _dps, required=True),
    _Field("version", "version", _version),
    _Field("product_key", "product_key", lambda v, f: _text(v, f, empty_ok=True)),
    _Field("name", "name", lambda v, f: _text(v, f, empty_ok=True)),
    _Field("power_schedule", "profile", _schedule),
    _Field("repeat", "repeat", _flag),
    _Field("latency", "latency", _latency),
)
_KNOWN: Final = frozenset(f.name for f in FIELDS)


def _entry(raw: object) -> PlugSpec:
    if not isinstance(raw, Mapping):
        raise _SpecError("each entry must be an object with id, key and dps")
    unknown = sorted(str(k) for k in raw if k not in _KNOWN)
    if unknown:
        raise _SpecError(f"unknown field {unknown[0]!r} (known: {', '.join(sorted(_KNOWN))})")
    kwargs: dict[str, Any] = {}
    for field in FIELDS:
        if field.name in raw:
            kwargs[field.spec_arg] = field.check(raw[field.name], field.name)
        elif field.required:
            raise _SpecError(f"missing {field.name!r}")
    repeat = kwargs.pop("repeat", False)
    if "profile" in kwargs:
        # the measured DPs (18/19/20, as the common "cz" plugs report them) follow the
        # schedule, voltage and current with them; every other raw DP is served as given
        try:
            kwargs["profile"] = schedule_spec(kwargs["profile"], repeat)
        except ValueError as exc:
            raise _SpecError(f"'power_schedule': {exc}") from None
    elif repeat:
        raise _SpecError("'repeat' needs a 'power_schedule'")
    return PlugSpec(layout="nopower", **kwargs)


def parse_spec(data: object, where: str = "spec") -> list[PlugSpec]:
    """Plug specs from parsed JSON; :class:`UsageError` naming ``where`` and the entry."""
    if not isinstance(data, list) or not data:
        raise UsageError(f"{where}: expected a non-empty JSON list of plugs")
    if len(data) > MAX_ENTRIES:
        raise UsageError(f"{where}: {len(data)} plugs; at most {MAX_ENTRIES}")
    specs = []
    seen: set[str] = set()
    for index, raw in enumerate(data, 1):
        try:
            spec = _entry(raw)
        except _SpecError as exc:
            raise UsageError(f"{where}: plug {index}: {exc}") from None
        if spec.device_id in seen:
            raise UsageError(f"{where}: plug {index}: id {spec.device_id!r} appears twice")
        seen.add(spec.device_id)
        specs.append(spec)
    return specs


def load_spec(path: str | Path) -> list[PlugSpec]:
    """Read and check a spec file (one UsageError line for any problem)."""
    target = Path(path)
    try:
        with target.open("rb") as fh:
            text = fh.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read the spec file {target}: {exc.strerror or exc}") from None
    if len(text) > _MAX_FILE_BYTES:
        raise UsageError(f"{target}: larger than {_MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{target}: not valid JSON ({exc})") from None
    return parse_spec(data, str(target))
