"""The columnar fast path: a batch of CSV rows converted a column at a time.

A delivery file repeats most of its columns row after row (one despatch date, one order, one
product), and its other columns (IMEI, serial, ICCID, number) are almost always already
clean. So a column's distinct texts are parsed once each, by the very parsers the per-row path
calls, and the identifier columns are first checked whole, in C (one string joined from the
column, checked and converted at once; the Luhn digits of every IMEI summed as one big
integer). What this path cannot prove clean it leaves alone: a cell that is empty where a
value is required, only white space, too long, refused by its parser or given a warning
makes its row "bad", and a bad row is parsed again by the per-row path, which says what is
wrong. So the rows this path converts have the values the per-row path gives them, and no
errors or warnings; tests/importers/test_columns.py checks that with generated files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from importers.fields import CELL, PAIR, TEXT, FieldError
from importers.rows import ParsedRow, Step

# What a cell converts to when its row must be parsed again by the per-row path.
BAD: Final = object()

Cells = Sequence[str]


@dataclass
class CleanRows:
    """Data rows that parsed without an error or a warning, held by column."""

    defaults: dict[str, object]  # every profile field, None
    numbers: list[int] = field(default_factory=list)
    values: dict[str, list[object]] = field(default_factory=dict)  # fields with a column
    raw: dict[str, list[str]] = field(default_factory=dict)  # their original cells

    def __len__(self) -> int:
        return len(self.numbers)

    def extend(
        self, numbers: list[int], values: dict[str, list[object]], raw: dict[str, Cells]
    ) -> None:
        self.numbers.extend(numbers)
        for name, column in values.items():
            self.values.setdefault(name, []).extend(column)
        for name, cells in raw.items():
            self.raw.setdefault(name, []).extend(cells)

    def row(self, position: int) -> ParsedRow:
        """The ParsedRow the per-row path makes of this row."""
        values = dict(self.defaults)
        for name, column in self.values.items():
            values[name] = column[position]
        raw = {name: cells[position] for name, cells in self.raw.items()}
        return ParsedRow(self.numbers[position], values, raw)


@dataclass
class RowBatch:
    """The data rows of a stretch of the file: those converted by column, and the others
    (rows with errors or warnings, and every row when the file is read row by row)."""

    clean: CleanRows
    others: list[ParsedRow]

    def __len__(self) -> int:
        return len(self.clean) + len(self.others)

    def rows(self) -> list[ParsedRow]:
        """Every data row as a ParsedRow, in the file's order."""
        rows = [self.clean.row(i) for i in range(len(self.clean))]
        if not rows:
            return self.others
        return sorted(rows + self.others, key=lambda row: row.row) if self.others else rows


def has_text_at(cells: Cells) -> list[int]:
    """Positions of the cells that have text (not empty, not only white space)."""
    if not "".join(cells).strip():
        return []
    return [i for i, cell in enumerate(cells) if cell.strip()]


def convert(step: Step, cells: Cells, max_cell_chars: int) -> tuple[list[object], list[int]]:
    """A column's values, and the positions of its bad cells (their values are BAD)."""
    required, spec = step[2], step[5].spec
    if "\x00" in "".join(cells):
        # Staging writes NUL differently from what a parser may have accepted: per row.
        return [BAD] * len(cells), list(range(len(cells)))
    bulk = _BULK.get(spec.parser)
    if bulk is not None and max(map(len, cells), default=0) <= max_cell_chars:
        if "" not in cells:
            values = bulk(cells)
            if values is not None:
                return values, _bad_positions(values)
        elif not required:
            # Optional and partly empty: the cells with text converted by themselves.
            filled = [i for i, cell in enumerate(cells) if cell]
            some = bulk([cells[i] for i in filled]) if filled else []
            if some is not None:
                values = [None] * len(cells)
                for i, value in zip(filled, some, strict=True):
                    values[i] = value
                return values, _bad_positions(values)
    return _by_distinct(step, cells, max_cell_chars)


def _bad_positions(values: list[object]) -> list[int]:
    # "in" tests identity first, and no value a parser returns equals a plain object().
    if BAD not in values:
        return []
    return [i for i, value in enumerate(values) if value is BAD]


def _by_distinct(step: Step, cells: Cells, max_cell_chars: int) -> tuple[list[object], list[int]]:
    """Each distinct text converted once, by the per-row path's parser."""
    _, _, required, mode, parse, column, _ = step
    seen: dict[str, object] = {}
    for text in dict.fromkeys(cells):
        value: object
        if not text:
            value = BAD if required else None
        elif len(text) > max_cell_chars or text.isspace():
            # White space alone: a value or not depending on the cells after it (the reader
            # drops a row's blank cells at its end), so the per-row path decides.
            value = BAD
        else:
            warning = None
            try:
                if mode in (TEXT, CELL):  # a CSV cell is its text
                    value = parse(text)
                elif mode == PAIR:
                    value, warning = parse(text)  # type: ignore[misc]
                else:
                    value, warning = parse(text, text, column.options)  # type: ignore[misc]
            except FieldError:
                value = BAD
            if warning is not None:
                value = BAD
        seen[text] = value
    values = list(map(seen.__getitem__, cells))
    return values, _bad_positions(values)


# --- whole-column converters ------------------------------------------------------------------
# Each takes a column of non-empty cells and returns the values the per-row parser gives them
# (BAD where it would refuse or warn), or None when the column is not of the usual, clean
# kind: then its distinct texts are parsed one by one.

_TO_DIGIT: Final = bytes.maketrans(b"0123456789", bytes(range(10)))
_TO_DOUBLED: Final = bytes.maketrans(b"0123456789", bytes((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)))
_NOT_TENS: Final = bytes(0 if value % 10 == 0 else 1 for value in range(256))


def luhn_failures(digits: str, length: int) -> list[int]:
    """Which of the numbers in ``digits`` (ASCII digits, each ``length`` long, joined) fail
    the Luhn check, all at once: the digit values of each position, doubled where the check
    doubles them, are added as big integers of one byte per number (a byte holds at most
    9 x 20 = 180, so no sum carries into the next number's byte)."""
    data = digits.encode("ascii")
    total = 0
    for position in range(length):
        # The digit next to the check digit is doubled, then every second one leftwards.
        table = _TO_DOUBLED if (length - 1 - position) % 2 else _TO_DIGIT
        total += int.from_bytes(data[position::length].translate(table), "little")
    count = len(data) // length
    failed = total.to_bytes(count, "little").translate(_NOT_TENS)
    if not failed.count(1):
        return []
    return [i for i, flag in enumerate(failed) if flag]


def _digit_strings(cells: Cells, lengths: set[int]) -> str | None:
    """The cells joined, if every one is ASCII digits of one of ``lengths``."""
    if not set(map(len, cells)) <= lengths:
        return None
    joined = "".join(cells)
    return joined if joined.isdigit() and joined.isascii() else None


def _imei(cells: Cells) -> list[object] | None:
    # normalise_imei's fast path: 15 ASCII digits with a valid check digit, as they are.
    joined = _digit_strings(cells, {15})
    if joined is None:
        return None
    values: list[object] = list(cells)
    for i in luhn_failures(joined, 15):
        values[i] = BAD
    return values


def _iccid(cells: Cells) -> list[object] | None:
    # normalise_iccid's fast path: 19 or 20 ASCII digits starting 89, a valid check digit.
    lengths = set(map(len, cells))
    if len(lengths) != 1 or not lengths <= {19, 20}:
        return None
    (length,) = lengths
    joined = _digit_strings(cells, lengths)
    if joined is None or joined[0::length].strip("8") or joined[1::length].strip("9"):
        return None
    values: list[object] = list(cells)
    for i in luhn_failures(joined, length):
        values[i] = BAD
    return values


def _serial(cells: Cells) -> list[object] | None:
    # normalise_serial's fast path: ASCII letters and digits, 64 at most, upper-cased.
    joined = "".join(cells)
    if not (joined.isalnum() and joined.isascii()) or max(map(len, cells)) > 64:
        return None
    return list(map(str.upper, cells))


# normalise_msisdn's fast path: "07700 900123" or "07700900123" is +447700900123.
_UK_MOBILES: Final = re.compile(r"(?:07[0-9]{3} ?[0-9]{6}\n)*")


def _msisdn(cells: Cells) -> list[object] | None:
    joined = "\n".join(cells) + "\n"
    # No cell holds a line break (a quoted cell may), so the lines are the cells.
    if joined.count("\n") != len(cells) or _UK_MOBILES.fullmatch(joined) is None:
        return None
    # Each line is 0, 7 and nine more digits, with a space only after the fifth: without the
    # spaces, each leading 0 becomes +44.
    digits = joined.replace(" ", "")
    return list(("+44" + digits[1:].replace("\n0", "\n+44")).split("\n")[:-1])


_BULK: Final[dict[str, Callable[[Cells], list[object] | None]]] = {
    "imei": _imei,
    "iccid": _iccid,
    "serial": _serial,
    "msisdn": _msisdn,
}
