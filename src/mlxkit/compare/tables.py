"""What metrics and params comparisons share: flat values paired across two revisions, the change
between two numbers, and the plain-text forms of a table (a value to a cell, GitHub markdown, CSV).

Values stay exact here and in `--json`; `precision` only shapes the text a person reads. The text
forms are pure functions returning strings, so that the CLI and a script produce the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any, NamedTuple

DEFAULT_PRECISION = 5  # significant digits of a float in text, as DVC's tables show them
Files = Mapping[str, Mapping[str, Any]]  # file -> flat dotted key -> value


def is_number(value: Any) -> bool:
    """An int or a float; a boolean is not a number here (True - False is no metric's change)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def same(old: Any, new: Any) -> bool:
    """Equal values; `True` and `1` differ, `1` and `1.0` do not."""
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new) and old == new
    return bool(old == new)


def change(old: Any, new: Any) -> int | float | None:
    """new - old, when both are numbers."""
    return new - old if is_number(old) and is_number(new) else None


def relative_change(old: Any, new: Any) -> float | None:
    """(new - old) / |old|, when both are numbers: 0.1 means 10 % more. From 0 to 0 it is 0.0; from 0
    to anything else it has no finite value and is None (JSON has no infinity)."""
    if not (is_number(old) and is_number(new)):
        return None
    if old == 0:
        return 0.0 if new == 0 else None
    return (new - old) / abs(old)


class Pair(NamedTuple):
    """One key of one file on both sides; a side that lacks the key holds None."""

    file: str
    key: str
    old: Any
    new: Any
    changed: bool


def key_order(key: str) -> tuple[tuple[int, int, str], ...]:
    """Sorts dotted keys with their numbers as numbers: 'row.2.loss' before 'row.10.loss'."""
    return tuple((0, int(part), "") if part.isascii() and part.isdigit() else (1, 0, part) for part in key.split("."))


def paired(old: Files, new: Files, *, include_unchanged: bool) -> list[Pair]:
    """Every key of either side, sorted by file and key; unchanged keys only with `include_unchanged`.
    A key present on one side only is changed (even when the other side's value is null)."""
    pairs = []
    for file in sorted(set(old) | set(new)):
        before, after = old.get(file, {}), new.get(file, {})
        for key in sorted(set(before) | set(after), key=key_order):
            changed = (key in before) != (key in after) or not same(before.get(key), after.get(key))
            if changed or include_unchanged:
                pairs.append(Pair(file, key, before.get(key), after.get(key), changed))
    return pairs


def cell(value: Any, precision: int | None = DEFAULT_PRECISION) -> str:
    """A value as a table shows it: floats to `precision` significant digits (None: as written, the
    shortest text that reads back the same), None as '-', booleans, lists and mappings as JSON."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return repr(value) if precision is None else f"{value:.{precision}g}"
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def percent(relative: float | None, precision: int = DEFAULT_PRECISION) -> str:
    """A relative change as a signed percentage: 0.0625 -> '+6.25%'; None -> '-'."""
    return "-" if relative is None else f"{relative * 100:+.{precision}g}%"


def markdown(columns: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table (for a CI comment); '|' and line breaks in cells escaped."""
    lines = [_md_row(columns), "| " + " | ".join("---" for _ in columns) + " |"]
    lines += [_md_row(row) for row in rows]
    return "\n".join(lines) + "\n"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(text.replace("|", "\\|").replace("\r", " ").replace("\n", " ") for text in cells) + " |"


def aligned(columns: list[str], rows: list[list[str]]) -> str:
    """Plain columns padded with spaces, a header first: a table for a pipe or a file, where a
    terminal's table would be folded to 80 columns (and costs ~1 s to lay out for 100 commits)."""
    widths = [max(len(text) for text in column) for column in zip(columns, *rows, strict=True)]
    return "".join("  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip() + "\n" for row in [columns, *rows])


def csv_text(columns: list[str], rows: list[list[str]]) -> str:
    """RFC 4180 CSV with a header row, lines ending in '\\n'."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()
