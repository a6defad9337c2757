"""What both cloud routes hand back: :class:`CloudDevice`, and DP specifications as mappings.

The routes differ only in how they talk to Tuya; everything after that (config merge,
devices.json, LAN scan) works on a list of CloudDevice. Cloud replies are hostile input: every
field is type-checked and bounded here, and a malformed entry is dropped, never raised.

``mapping`` is kept in tinytuya's ``devices.json`` shape (``{"19": {"code": "cur_power",
"type": "Integer", "values": {"unit": "W", "scale": 1, ...}}}``) because that is what
:func:`powermonitor.dps.mapping_from_tinytuya` and the config already read, and what a
devices.json must contain.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ..models import mask_key

__all__ = [
    "MAX_DEVICES",
    "CloudDevice",
    "device_from_cloud",
    "mapping_from_specifications",
    "safe_path_part",
    "valid_local_key",
]

MAX_DEVICES: Final = 5000
"""More devices than any home has: a reply listing more is cut (and said so)."""
_MAX_DPS: Final = 255
_MAX_TEXT: Final = 128
_MAX_VALUES_JSON: Final = 8192
_KEY_LENGTH: Final = 16
_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_PATH_PART = re.compile(r"[A-Za-z0-9_.\-]{1,256}")


def safe_path_part(value: object) -> str:
    """``value`` if it can go into a URL path as one segment (ids, tokens), else "".

    Ids and tokens from the user or the cloud end up in paths: a "/" or "?" in one must not be
    able to turn a request into another.
    """
    return value if isinstance(value, str) and _PATH_PART.fullmatch(value) else ""


def valid_local_key(key: str) -> bool:
    """16 printable ASCII characters; punctuation such as ``<+`^$`` is normal since 2023."""
    return len(key) == _KEY_LENGTH and all(" " <= ch <= "~" for ch in key)


@dataclass(frozen=True, slots=True)
class CloudDevice:
    """One device as the cloud (and optionally a LAN scan) knows it. The key stays out of repr.

    ``ip``/``version``/``port`` come from a LAN scan only: the cloud's own ``ip`` field is the
    home's public address, useless on the LAN (tinytuya ignores it too).
    """

    device_id: str
    name: str
    local_key: str = field(default="", repr=False)
    product_id: str = ""
    product_name: str = ""
    category: str = ""
    uuid: str = ""
    mac: str = ""
    sn: str = ""
    model: str = ""
    sub: bool = False
    gateway_id: str = ""
    node_id: str = ""
    mapping: dict[str, Any] | None = field(default=None, repr=False)
    ip: str = ""
    version: str = ""
    port: int | None = None

    @property
    def masked_key(self) -> str:
        return mask_key(self.local_key)


def _text(value: object, limit: int = _MAX_TEXT) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    text = str(value).strip()
    return text[:limit] if text.isprintable() else ""


def device_from_cloud(entry: object) -> CloudDevice | None:
    """A CloudDevice from one list entry of either route (snake or camel case), else None."""
    if not isinstance(entry, Mapping):
        return None
    device_id = _text(entry.get("id") or entry.get("devId"))
    if not _ID.fullmatch(device_id):
        return None
    key = entry.get("local_key", entry.get("localKey", ""))
    key = key if isinstance(key, str) and valid_local_key(key) else ""
    gateway = _text(entry.get("gateway_id") or entry.get("gatewayId") or entry.get("parent_id"))
    sub = entry.get("sub") is True or bool(gateway and gateway != device_id)
    return CloudDevice(
        device_id=device_id,
        name=_text(entry.get("name")) or device_id,
        local_key=key,
        product_id=_text(entry.get("product_id") or entry.get("productId"), 64),
        product_name=_text(entry.get("product_name") or entry.get("productName")),
        category=_text(entry.get("category"), 32),
        uuid=_text(entry.get("uuid"), 64),
        mac=_text(entry.get("mac"), 32),
        sn=_text(entry.get("sn"), 64),
        model=_text(entry.get("model")),
        sub=sub,
        gateway_id=gateway,
        node_id=_text(entry.get("node_id") or entry.get("nodeId"), 64),
    )


def _values(raw: object) -> dict[str, Any]:
    """The ``values`` of a specification entry: JSON text (OpenAPI) or an object (QR route)."""
    if isinstance(raw, str):
        if len(raw) > _MAX_VALUES_JSON:
            return {}
        try:
            raw = json.loads(raw, parse_constant=lambda _: None)
        except (ValueError, RecursionError):
            return {}
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, Any] = {}
    for name in ("unit", "scale", "min", "max", "step"):
        value = raw.get(name)
        text_ok = isinstance(value, str) and len(value) <= 32 and value.isprintable()
        number_ok = (isinstance(value, int) and not isinstance(value, bool)
                     and abs(value) < 10**12)
        if text_ok or number_ok:
            out[name] = value
    return out


def mapping_from_specifications(result: object) -> dict[str, Any] | None:
    """``/v1.1/.../specifications`` → a tinytuya-style mapping, or None when it has no DPs.

    Entries come from ``status`` then ``functions`` (the first one seen for a DP wins), with
    ``dp_id`` 1-255, a ``code`` and ``type``; bad entries are left out.
    """
    if not isinstance(result, Mapping):
        return None
    mapping: dict[str, Any] = {}
    for section in ("status", "functions"):
        entries = result.get(section)
        if not isinstance(entries, list):
            continue
        for entry in entries[: _MAX_DPS * 2]:
            if not isinstance(entry, Mapping):
                continue
            dp = entry.get("dp_id", entry.get("dpId"))
            code = _text(entry.get("code") or entry.get("dpCode"), 64)
            if isinstance(dp, bool) or not isinstance(dp, int) or not 1 <= dp <= _MAX_DPS:
                continue
            if not code or str(dp) in mapping:
                continue
            mapping[str(dp)] = {
                "code": code,
                "type": _text(entry.get("type") or entry.get("valueType"), 32),
                "values": _values(entry.get("values", entry.get("valueDesc"))),
            }
    return mapping or None
