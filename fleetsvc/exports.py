"""Safe cells for every CSV and XLSX export.

A cell that starts with ``=``, ``+``, ``-``, ``@`` — after leading white space, and in
their full-width forms too — or with a tab or line break is a formula to a spreadsheet
(``importers.fields.looks_like_formula``); supplier files and user input can carry such
text, so every such exported text cell is prefixed with an apostrophe, which spreadsheets
show as plain text. Numbers are left as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from importers.fields import looks_like_formula


def safe_cell(value: Any) -> Any:
    """The value to write to a spreadsheet cell; text that could run is neutralised."""
    if isinstance(value, str) and looks_like_formula(value):
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
