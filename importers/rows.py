"""One data row: its typed values, its original text and what went wrong, and the hot loop
that converts a raw row's cells by the columns the header planned."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from importers.fields import (
    CELL,
    DIRECT_PARSERS,
    PAIR,
    TEXT,
    CellValue,
    Converter,
    FieldError,
    cell_text,
)
from importers.profiles import FieldSpec, header_key
from importers.reader import RawRow

ISSUE_VALUE_CHARS: Final = 200
TOTAL_LABELS: Final = frozenset({"total", "totals", "grand total", "total:", "totals:"})
# A row carrying any of these is an item, whatever its first cell says.
_ITEM_FIELDS: Final = frozenset({"serial_number", "imei", "licence_key", "tablet_serial", "iccid"})


@dataclass(frozen=True)
class RowIssue:
    """An error or warning about one cell, one row (column None) or the file (row None)."""

    row: int | None
    column: str | None  # the header text as it appears in the file
    value: str | None  # the original cell text, truncated
    message: str
    severity: Literal["error", "warning"]


@dataclass
class ParsedRow:
    """One data row: typed values by canonical field, the original text, and what went wrong."""

    row: int  # the row number as the spreadsheet shows it (title rows and header counted)
    values: dict[str, object]  # every profile field; None when empty or not in the file
    raw: dict[str, str]  # original cell text of each field whose column is in the file
    errors: list[RowIssue] = field(default_factory=list)
    warnings: list[RowIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# How a column's cells are converted (see fields.DIRECT_PARSERS); GENERIC: through PARSERS.
GENERIC: Final = 3


@dataclass(frozen=True)
class Column:
    spec: FieldSpec
    index: int
    header: str
    convert: Converter
    options: Mapping[str, str]

    def step(self) -> Step:
        """What the per-row loop needs, as one tuple (unpacked, not looked up, per cell)."""
        mode, parse = DIRECT_PARSERS.get(self.spec.parser, (GENERIC, self.convert))
        return self.index, self.spec.name, self.spec.required_value, mode, parse, self, [None]


# The per-row loop's view of a column: position, field, required, parser mode, parser, the
# column, and the column's last converted cell: [text, value, warning] (a parser is a pure
# function of the text, and a delivery file repeats most of its columns row after row).
Step = tuple[int, str, bool, int, Callable[..., object], Column, list[Any]]


def has_text(cell: CellValue) -> bool:
    text = cell_text(cell)
    return bool(text) and not text.isspace()  # isspace() covers NBSP, without copying


def is_blank(cells: Sequence[CellValue]) -> bool:
    return not any(map(has_text, cells))


def column_letter(index: int) -> str:
    """A 0-based column position as a spreadsheet names it: 0 -> A, 26 -> AA."""
    letters = ""
    number = index + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def is_totals(cells: Sequence[CellValue], parsed: ParsedRow) -> bool:
    first = cells[0] if cells else None
    if not (type(first) is str and first and not first.isspace()):
        first = next((cell_text(cell) for cell in cells if has_text(cell)), "")
    # Cheap test first: this runs on every row.
    if first.lstrip()[:1] not in ("t", "T", "g", "G") or header_key(first) not in TOTAL_LABELS:
        return False
    return not any(parsed.raw.get(name, "").strip() for name in _ITEM_FIELDS)


def truncate(text: str) -> str:
    return text if len(text) <= ISSUE_VALUE_CHARS else text[: ISSUE_VALUE_CHARS - 1] + "…"


def parse_row(
    raw: RawRow,
    steps: list[Step],
    values: dict[str, object],
    max_cell_chars: int,
) -> ParsedRow:
    # The hot loop of every import: one pass per cell, parsers called directly.
    number = raw.number
    row = ParsedRow(number, values, {})
    texts = row.raw
    errors = row.errors
    cells = raw.cells
    width = len(cells)
    for index, name, required, mode, parse, column, last in steps:
        cell = cells[index] if index < width else None
        text = cell if type(cell) is str else cell_text(cell)
        # raw is for re-downloading rejected rows; a huge cell is kept only up to the limit.
        if len(text) > max_cell_chars:
            texts[name] = text[:max_cell_chars]
            message = f"cell is {len(text):,} characters; the limit is {max_cell_chars:,}"
            errors.append(_issue(number, column, text, message, "error"))
            continue
        texts[name] = text
        if not text or text.isspace():
            if required:
                errors.append(_issue(number, column, text, "a value is required", "error"))
            continue
        if text is cell and text == last[0]:
            # The same text as the column's previous cell: the same value (and warning).
            value = last[1]
            warning = last[2]
        else:
            warning = None
            try:
                if mode == TEXT:
                    value = parse(text)
                elif mode == CELL:
                    value = parse(cell)
                elif mode == PAIR:
                    value, warning = parse(text)  # type: ignore[misc]
                else:
                    value, warning = parse(cell, text, column.options)  # type: ignore[misc]
            except FieldError as exc:
                errors.append(_issue(number, column, text, exc.message, "error"))
                continue
            if text is cell:
                last[:] = text, value, warning
        values[name] = value
        if warning is not None:
            row.warnings.append(_issue(number, column, text, warning, "warning"))
    return row


def _issue(
    row: int, column: Column, text: str, message: str, severity: Literal["error", "warning"]
) -> RowIssue:
    return RowIssue(row, column.header, truncate(text), message, severity)
