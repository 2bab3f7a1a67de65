"""Printing query results as a table, CSV or JSON; crawled text is escaped for the terminal.

Every format writes values the same way: booleans as ``true``/``false``; timestamps, dates and times in ISO 8601
(``2026-10-01T10:00:00+00:00``), intervals as ISO 8601 durations (``P1DT22H50M``; a month
counts as 30 days, as DuckDB hands intervals over), bytes as lowercase hex, UUIDs as text.
Lists and structs are JSON arrays and objects in JSON, and JSON text in a table or CSV cell.
A table clips long values to ``max_width`` characters (``…`` marks the cut) but never a URL
(a value that is one, or a column named ``url`` or ``*_url``): a clipped URL cannot be copied.
CSV and JSON never clip.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal

# Control characters (ANSI escapes included) from hostile pages must not reach a terminal, nor
# what moves or hides text: bidirectional overrides, isolates and marks, line and paragraph
# separators, a byte-order mark, and tabs (a tab in a title broke a table's columns).
_CONTROL = re.compile(
    r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://\S+$")


def terminal_safe(value) -> str:
    text = "" if value is None else str(value)
    return _CONTROL.sub(_escaped, text).replace("\n", " ")


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def iso_duration(delta: timedelta) -> str:
    """``timedelta(days=1, hours=22, minutes=50)`` -> ``P1DT22H50M``; negative -> ``-P...``."""
    sign = "-" if delta < timedelta(0) else ""
    delta = abs(delta)
    days, rest = delta.days, delta.seconds
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds or delta.microseconds:
        sec = (
            f"{seconds}.{delta.microseconds:06d}".rstrip("0")
            if delta.microseconds
            else str(seconds)
        )
        clock += f"{sec}S"
    if clock:
        parts += "T" + clock
    return sign + (parts if parts != "P" else "PT0S")


def plain(value):
    """A value as JSON can hold it (see the module docstring for the conventions)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # NaN/inf are not JSON numbers
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    return str(value)


def cell(value) -> str:
    """A value as one CSV or table cell: the JSON conventions, nested values as JSON text."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"  # as in JSON and the exports' CSV, not True/False
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _unique(columns: list[str]) -> list[str]:
    """Column names as JSON keys: a repeated name gets ``_2``, ``_3``... (none is dropped)."""
    seen: set[str] = set()
    out = []
    for name in columns:
        key, n = name, 1
        while key in seen:
            n += 1
            key = f"{name}_{n}"
        seen.add(key)
        out.append(key)
    return out


def is_url_column(name: str) -> bool:
    low = name.lower()
    return low == "url" or low.endswith("_url")


def render(columns: list[str], rows: list[tuple], fmt: str = "table", max_width: int = 60) -> str:
    if fmt == "json":
        keys = _unique(columns)
        return json.dumps(
            [{k: plain(v) for k, v in zip(keys, row, strict=True)} for row in rows],
            ensure_ascii=False,
            indent=1,
        )
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([cell(v) for v in row] for row in rows)
        return buf.getvalue().rstrip("\n")
    keep = [is_url_column(c) for c in columns]
    cells = [[terminal_safe(c) for c in columns]]
    for row in rows:
        texts = [terminal_safe(cell(v)) for v in row]
        cells.append(
            [
                t if k or _URL.match(t) else _clip(t, max_width)
                for t, k in zip(texts, keep, strict=True)
            ]
        )
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
