"""Text from outside (LAN beacons, plug names, config values) made safe to print.

A LAN host or a plug chooses these bytes: printed raw, escape sequences could rewrite the
terminal (move the cursor, hide lines, set the window title) and bidi overrides could disguise
a name. :func:`printable` removes them; every output path (tables, CSV, stderr lines) uses it.
"""

from __future__ import annotations

import re

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, limit: int | None = None) -> str:
    """``text`` without control characters (ESC, newlines, bell, C1, bidi overrides),
    cut to ``limit`` characters when given."""
    cleaned = _UNPRINTABLE.sub("", text)
    return cleaned if limit is None else cleaned[:limit]


__all__ = ["printable"]
