"""Frame payloads as JSON: the fast parser for what plugs send, and the caps checked before and
after parsing (nesting depth, DP count, DP value size; ``limits.py``). Sans-IO and pure: the
:class:`~powermonitor.protocol.connection.Connection` calls these for every frame it opens."""

from __future__ import annotations

import json
import json.scanner
import re
from typing import Any

from ..errors import IntegrityError, LimitExceededError
from ..limits import DEEP_CHECK_BYTES, MAX_DP_VALUE_CHARS, MAX_DPS_PER_PLUG, MAX_JSON_DEPTH

__all__ = ["DPS_CHECK_BYTES", "check_dps", "dumps", "is_text", "parse_json"]

dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
"""Compact JSON text (no spaces, UTF-8 kept), as plugs and apps write it."""
_decoder = json.JSONDecoder()
_decode = _decoder.decode
_scan_json = json.scanner.make_scanner(_decoder)  # type: ignore[arg-type]
"""The decoder's C scanner: one JSON value at an index, no whitespace handling."""


def is_text(data: bytes) -> bool:
    """Printable ASCII: what a device writes as an error message, never a sealed payload."""
    return bool(data) and all(32 <= b < 127 for b in data)


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _check_depth(payload: bytes) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH (before parsing it: json recurses)."""
    if payload.count(b"{") + payload.count(b"[") <= MAX_JSON_DEPTH:
        return
    depth = 0
    for byte in _JSON_STRING.sub(b"", payload).translate(None, _NOT_BRACKETS):
        if byte in b"[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise LimitExceededError(
                    f"payload nests JSON deeper than {MAX_JSON_DEPTH} levels: refused"
                )
        else:
            depth -= 1


DPS_CHECK_BYTES = min(6 * MAX_DPS_PER_PLUG, MAX_DP_VALUE_CHARS)
"""A smaller payload can carry neither more DPs than the cap (``"1":0,`` is 6 bytes) nor a
value longer than the cap: :func:`check_dps` is skipped for it (every usual payload)."""


def check_dps(dps: dict[str, Any]) -> None:
    """Refuse a frame with more DPs or longer DP values than any plug has (big payloads only)."""
    if len(dps) > MAX_DPS_PER_PLUG:
        raise LimitExceededError(
            f"frame carries {len(dps)} data points (at most {MAX_DPS_PER_PLUG}): refused"
        )
    for dp, value in dps.items():
        size = len(value) if isinstance(value, str) else (
            len(dumps(value)) if isinstance(value, dict | list) else 0
        )
        if size > MAX_DP_VALUE_CHARS or len(dp) > MAX_DP_VALUE_CHARS:
            raise LimitExceededError(
                f"data point {dp[:20]!r} holds {size} characters (at most "
                f"{MAX_DP_VALUE_CHARS}): refused"
            )


def _compact_json(payload: bytes) -> Any:
    """``json.loads`` for the compact UTF-8 JSON objects plugs send, minus its overhead.

    ``json.loads(bytes)`` first guesses the encoding; here the text goes straight to the C
    scanner when it is one object with nothing around it, else to the decoder. Raises
    ValueError for anything else (a BOM, UTF-16, not JSON), and the caller then asks
    ``json.loads``, so the result is always what ``json.loads`` would give.
    """
    text = payload.decode("utf-8")
    if text[:1] == "{":
        try:
            value, end = _scan_json(text, 0)
        except StopIteration:
            raise ValueError("not JSON") from None
        if end == len(text):
            return value
    return _decode(text)


def parse_json(payload: bytes) -> dict[str, Any] | None:
    """Parse a frame payload as a JSON object; None for printable text (a device error message).

    Typed errors only: LimitExceededError past the caps, IntegrityError for bytes that are
    neither JSON nor text (wrong key or version)."""
    if len(payload) > DEEP_CHECK_BYTES:
        _check_depth(payload)
    try:
        data = _compact_json(payload)
    except RecursionError:  # cannot happen after _check_depth; kept as the last line
        raise LimitExceededError("payload nests JSON too deeply: refused") from None
    except ValueError:  # UnicodeDecodeError included: json.loads has the final word
        try:
            data = json.loads(payload)
        except RecursionError:
            raise LimitExceededError("payload nests JSON too deeply: refused") from None
        except (ValueError, UnicodeDecodeError):
            if is_text(payload.strip()):
                return None
            raise IntegrityError(
                "payload did not decrypt to valid data: the local key or protocol version "
                "is wrong"
            ) from None
    if not isinstance(data, dict):
        raise IntegrityError("payload is JSON but not an object")
    return data
