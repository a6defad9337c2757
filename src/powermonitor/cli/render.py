"""The one renderer: rows (dicts) to a table, JSON, JSON lines or CSV.

Commands return rows and a list of :class:`Column`; nothing else prints data. The column's
``kind`` decides its unit and precision once for every output:

* JSON and CSV carry every column, rounded to what a plug measures: the one rule of
  :mod:`powermonitor.precision`, which the HTTP API uses too. No float noise
  (``106.19999999999999``, ``7e-06``), no ``-0.0``; a non-finite value is ``null``.
* Tables fit 80 columns: ids are shortened in the middle (``bf12…9a3f``) and other cells wrap,
  never cut, so an address keeps its port; titles are words with units; money has 2 decimals.
* Text from outside (names, beacon fields) is printed without control characters, so a plug or
  a LAN host cannot send escape sequences to the terminal; rich markup in it is not interpreted.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..precision import DECIMALS, measured
from ..sanitize import printable

Kind = Literal["text", "id", "time", "bool", "power", "voltage", "current_ma", "current_a",
               "pf", "wh", "kwh", "cost", "percent", "seconds"]

TABLE_DECIMALS: dict[str, int] = {**DECIMALS, "cost": 2}

_NUMERIC_KINDS = frozenset(DECIMALS)
ID_KEEP = 4  # characters kept at each end of a shortened id
MIN_TEXT_WIDTH = 22  # text up to this wide is not wrapped: numeric titles give way first


@dataclass(frozen=True, slots=True)
class Column:
    """One output column: ``key`` in the row dicts, the table ``title`` (words and a unit)."""

    key: str
    title: str
    kind: Kind = "text"
    table: bool = True  # shown in tables
    data: bool = True  # carried by JSON and CSV (False: a table-only rendering of another key)


def clean(text: str) -> str:
    """``text`` without control characters (see :mod:`powermonitor.sanitize`)."""
    return printable(text)


def short_id(device_id: str, keep: int = ID_KEEP) -> str:
    """``bf1f6d1e0f8c3a2b4d5e`` → ``bf1f…4d5e``: both ends stay, which is how ids are compared."""
    text = clean(device_id)
    return text if len(text) <= 2 * keep + 1 else f"{text[:keep]}…{text[-keep:]}"


def data_value(value: Any, kind: str) -> Any:
    """A cell for JSON/CSV: numbers rounded by kind, text cleaned, the rest as is."""
    if kind in _NUMERIC_KINDS:
        return measured(value, kind)
    if isinstance(value, Text):
        return clean(value.plain)
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def cell(value: Any, kind: str) -> Text:
    """A table cell: fixed decimals per kind, short ids, on/off for booleans, "" for missing."""
    if isinstance(value, Text):
        return value
    if value is None:
        return Text("")
    if kind in _NUMERIC_KINDS:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return Text("")
        return Text(f"{value:.{TABLE_DECIMALS[kind]}f}")
    if isinstance(value, bool):
        return Text("on" if value else "off")
    if kind == "id":
        return Text(short_id(str(value)))
    return Text(clean(str(value)))


def data_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> list[dict[str, Any]]:
    return [{c.key: data_value(r.get(c.key), c.kind) for c in columns if c.data} for r in rows]


def dumps(value: Any) -> str:
    """Compact JSON, never ``NaN`` (callers pass values through :func:`data_value` first)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], *, title: str = "",
          caption: str = "", width: int | None = None) -> Table:
    """A rich table of the table columns (also used by live views), for ``width`` columns
    (default: the terminal's, 80 for a pipe). Numbers and short text are not wrapped while that
    fits; when it cannot fit, everything may wrap: a cell is folded, never cut."""
    out = Table(title=Text(clean(title), overflow="fold") if title else None,
                caption=Text(clean(caption), overflow="fold") if caption else None,
                box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    shown = [c for c in columns if c.table]
    cells = [[cell(r.get(c.key), c.kind) for c in shown] for r in rows]
    widest = [max((len(row[i].plain) for row in cells), default=0) for i in range(len(shown))]
    spaced = [any(" " in row[i].plain for row in cells) for i in range(len(shown))]
    # how narrow a wrapped column may get: its longest word (text with spaces), else its title's
    words = [min(MIN_TEXT_WIDTH, max(len(word) for text in (c.title, *(
        row[i].plain for row in cells if spaced[i])) for word in text.split() or [""]))
        for i, c in enumerate(shown)]
    keep = [c.kind == "id" or c.kind in _NUMERIC_KINDS or w <= MIN_TEXT_WIDTH
            for c, w in zip(shown, widest, strict=True)]

    def needed() -> int:  # cells, then 1 + 1 padding and a separator between columns
        return sum(max(w, h) if k else h for w, h, k in zip(widest, words, keep, strict=True)
                   ) + 3 * len(shown) - 3

    limit = width or Console().width
    text_kept = sorted((i for i, c in enumerate(shown) if keep[i] and c.kind == "text"),
                       key=lambda i: (spaced[i], widest[i]))
    while needed() > limit and text_kept:  # words wrap first, then the widest text
        keep[text_kept.pop()] = False
    fits = needed() <= limit  # else numbers and ids may wrap too
    for c, w, h, k in zip(shown, widest, words, keep, strict=True):
        numeric = c.kind in _NUMERIC_KINDS
        out.add_column(c.title, justify="right" if numeric else "left", overflow="fold",
                       no_wrap=c.kind == "id" or (k and not numeric),
                       min_width=(max(w, h) if numeric else h) if fits else None)
    for row in cells:
        out.add_row(*row)
    return out


def emit(
    rows: Sequence[Mapping[str, Any]],
    fmt: str,
    columns: Sequence[Column],
    *,
    title: str = "",
    caption: str = "",
    out: TextIO | None = None,
) -> None:
    """Print ``rows`` as ``fmt``: "table", "json" (one list), "jsonl" (a line per row) or "csv"."""
    out = out or sys.stdout
    if fmt == "json":
        out.write(dumps(data_rows(rows, columns)) + "\n")
    elif fmt == "jsonl":
        for r in data_rows(rows, columns):
            out.write(dumps(r) + "\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        keys = [c.key for c in columns if c.data]
        writer.writerow(keys)
        for r in data_rows(rows, columns):
            writer.writerow(["" if r[k] is None else r[k] for k in keys])
    else:
        console = Console(file=out) if out is not sys.stdout else Console()
        console.print(table(rows, columns, title=title, caption=caption, width=console.width))


__all__ = ["Column", "Kind", "cell", "clean", "data_rows", "data_value", "dumps",
           "emit", "short_id", "table"]
