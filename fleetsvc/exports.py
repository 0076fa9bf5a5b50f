"""Safe cells for every CSV and XLSX export.

A cell that starts with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage
return) is a formula to a spreadsheet; supplier files and user input can carry
such text, so every exported text cell is prefixed with an apostrophe, which
spreadsheets show as plain text. Numbers are left as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value to write to a spreadsheet cell; text that could run is neutralised."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A whole CSV document (UTF-8 text, CRLF line ends as Excel expects), made safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow(["" if v is None else safe_cell(v) for v in row])
    return out.getvalue()
