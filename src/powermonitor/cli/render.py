"""The one renderer: rows (lists of dicts) to a rich table, JSON or CSV.

Commands return data; this module prints it. JSON is typed (numbers stay numbers, times are
ISO-8601 UTC with ``Z``); CSV has a header row and the same columns.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def emit(
    rows: Sequence[dict[str, Any]],
    fmt: str,
    columns: Sequence[str],
    *,
    title: str = "",
    caption: str = "",
    out: TextIO | None = None,
) -> None:
    """Print ``rows`` as ``fmt`` ("table", "json" or "csv") with the given column order."""
    out = out or sys.stdout
    if fmt == "json":
        out.write(json.dumps([{c: r.get(c) for c in columns} for r in rows],
                             separators=(",", ":"), allow_nan=False) + "\n")
    elif fmt == "jsonl":
        for r in rows:
            out.write(json.dumps({c: r.get(c) for c in columns}, separators=(",", ":"),
                                 allow_nan=False) + "\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    else:
        table = Table(title=title or None, caption=caption or None)
        for c in columns:
            table.add_column(c, justify="left" if c in ("name", "id", "start", "time") else "right")
        for r in rows:
            table.add_row(*(_cell(r.get(c)) for c in columns))
        Console(file=out).print(table)
