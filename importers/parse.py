"""Header detection and row parsing: raw rows in, typed rows with row errors and warnings out.

Rows are parsed lazily, one at a time, so a file of any length is read in bounded memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final, Literal

from importers.fields import (
    CELL,
    DIRECT_PARSERS,
    PAIR,
    PARSERS,
    TEXT,
    CellValue,
    Converter,
    FieldError,
    cell_text,
)
from importers.profiles import FieldSpec, Profile, RowRule, builtin_profiles, header_key
from importers.reader import FileRejected, RawRow, open_raw

HEADER_SEARCH_ROWS: Final = 50
ISSUE_VALUE_CHARS: Final = 200
# A file of nothing but skipped rows must not fill memory with warnings; counts stay exact.
MAX_SKIP_WARNINGS: Final = 1000
_TOTAL_LABELS: Final = frozenset({"total", "totals", "grand total", "total:", "totals:"})
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


@dataclass
class SkipCounts:
    """Rows that were not data; each repeated header and totals row also has a warning."""

    blank: int = 0
    repeated_header: int = 0
    totals: int = 0


# How a column's cells are converted (see fields.DIRECT_PARSERS); GENERIC: through PARSERS.
GENERIC: Final = 3


@dataclass(frozen=True)
class _Column:
    spec: FieldSpec
    index: int
    header: str
    convert: Converter
    options: Mapping[str, str]

    def step(self) -> _Step:
        """What the per-row loop needs, as one tuple (unpacked, not looked up, per cell)."""
        mode, parse = DIRECT_PARSERS.get(self.spec.parser, (GENERIC, self.convert))
        return self.index, self.spec.name, self.spec.required_value, mode, parse, self, [None]


# The per-row loop's view of a column: position, field, required, parser mode, parser, the
# column, and the column's last converted cell: [text, value, warning] (a parser is a pure
# function of the text, and a delivery file repeats most of its columns row after row).
_Step = tuple[int, str, bool, int, Callable[..., object], _Column, list[Any]]


class ParsedFile:
    """A file whose header has been found; iterate it (once) for ParsedRow objects.

    FileRejected can still be raised while iterating (an undecodable byte far into the file).
    """

    def __init__(
        self,
        *,
        profile: Profile,
        file_format: str,
        header_row: int,
        header_cells: tuple[CellValue, ...],
        columns: list[_Column],
        rows: Iterator[RawRow],
        file_warnings: list[RowIssue],
        max_cell_chars: int,
    ) -> None:
        self.profile = profile
        self.format = file_format
        self.header_row = header_row
        self.columns: dict[str, str] = {column.spec.name: column.header for column in columns}
        self.file_warnings = file_warnings
        self.skipped = SkipCounts()
        self.data_rows = 0  # rows yielded so far
        self._plan = columns
        self._steps = [column.step() for column in columns]
        self._header_keys = _row_keys(header_cells)
        # The first character a repeated header's first cell starts with (after header_key).
        self._header_first = self._header_keys[0][:1] if self._header_keys else ""
        self._width, self._unlabelled = _labelled(self._header_keys)
        self._rows: Iterator[RawRow] | None = rows
        self._max_cell_chars = max_cell_chars
        self._alias_index = profile.alias_index()
        self._required = frozenset(spec.name for spec in profile.required_fields)
        self._layout = {column.spec.name: column.index for column in columns}
        self._no_values: dict[str, object] = {spec.name: None for spec in profile.fields}

    def __iter__(self) -> Iterator[ParsedRow]:
        if self._rows is None:
            raise RuntimeError("a ParsedFile can be iterated only once (it streams the upload)")
        rows, self._rows = self._rows, None
        for raw in rows:
            parsed = self._row(raw)
            if parsed is not None:
                self.data_rows += 1
                yield parsed

    def _row(self, raw: RawRow) -> ParsedRow | None:
        cells = raw.cells
        # Cheap test first: a row whose first cell has text is not blank.
        first = cells[0] if cells else None
        if not (type(first) is str and first and not first.isspace()) and _is_blank(cells):
            self.skipped.blank += 1
            return None
        if self._repeats_header(cells):
            self.skipped.repeated_header += 1
            self._skip_warning(
                raw.number, self.skipped.repeated_header, "the header row is repeated here"
            )
            return None
        parsed = _parse_row(raw, self._steps, dict(self._no_values), self._max_cell_chars)
        # A header row never parses as data; only then is it worth asking whether it is one
        # (repeated with other unused columns, or with its columns in another order).
        if parsed.errors and self._required <= _matched_fields(cells, self._alias_index):
            self._another_header(raw)
            return None
        if _is_totals(cells, parsed):
            self.skipped.totals += 1
            self._skip_warning(raw.number, self.skipped.totals, "this looks like a totals row")
            return None
        if len(cells) > self._width or self._unlabelled:
            self._check_unlabelled(raw, parsed)
        if self.profile.rules:
            _apply_rules(self.profile, parsed, self.columns)
        return parsed

    def _check_unlabelled(self, raw: RawRow, parsed: ParsedRow) -> None:
        """A value under no header would be dropped without a word; more often it means the
        row's cells have shifted (a comma inside a cell that is not in quotes), so every value
        of the row is in doubt: the row is rejected, never read by guesswork."""
        for index, cell in enumerate(raw.cells):
            if (index >= self._width or index in self._unlabelled) and _has_text(cell):
                text = cell_text(cell)
                message = (
                    f"column {_column_letter(index)} has a value but no header; the row's cells "
                    "may have shifted (a comma inside a cell without quotes) — correct the row, "
                    "or give the column a header"
                )
                issue = RowIssue(raw.number, None, _truncate(text), message, "error")
                parsed.errors.append(issue)
                return

    def _repeats_header(self, cells: tuple[CellValue, ...]) -> bool:
        # Cheap tests first: this runs on every row.
        keys = self._header_keys
        if len(cells) != len(keys):
            return False
        first = cell_text(cells[0])
        # header_key folds case per character, so its first character is that of the first
        # character that is neither white space nor a BOM: compare that before the whole key.
        lead = first.lstrip()[:1]
        if lead and lead != "\ufeff" and lead.casefold()[:1] != self._header_first:
            return False
        if header_key(first) != keys[0]:
            return False
        return _row_keys(cells) == keys

    def _another_header(self, raw: RawRow) -> None:
        """A header row in the middle of the file (two files pasted together).

        Its columns are read by name: in another order, the rows below it are read in that
        order; with other fields than the first header, the file is refused (a field the
        first header lacks has nowhere to go, and one it has would be missing below).
        """
        columns, _ = _plan_columns(raw, self.profile)
        layout = {column.spec.name: column.index for column in columns}
        self.skipped.repeated_header += 1
        if layout == self._layout:
            why = "the header row is repeated here"
        elif set(layout) == set(self._layout):
            self._plan = columns
            self._steps = [column.step() for column in columns]
            self._layout = layout
            why = (
                "the header row is repeated here with its columns in another order "
                "(the rows below it are read in that order)"
            )
        else:
            first = set(self._layout)
            differ = [
                self.profile.field(name).header
                for name in (*sorted(first - set(layout)), *sorted(set(layout) - first))
            ]
            raise FileRejected(
                f"row {raw.number:,} is another header row, with other columns than the header "
                f"on row {self.header_row:,} (differing: {', '.join(differ)}); the file seems "
                "to be two files pasted together — upload them separately"
            )
        # The rows below are read by this header: its width and unlabelled columns too.
        self._header_keys = _row_keys(raw.cells)
        self._header_first = self._header_keys[0][:1] if self._header_keys else ""
        self._width, self._unlabelled = _labelled(self._header_keys)
        self._skip_warning(raw.number, self.skipped.repeated_header, why)

    def _skip_warning(self, row: int, count: int, why: str) -> None:
        if count <= MAX_SKIP_WARNINGS:
            message = f"{why}; the row was skipped"
            self.file_warnings.append(RowIssue(row, None, None, message, "warning"))


def parse_file(
    stream: BinaryIO, filename: str, profile: Profile, *, max_cell_chars: int = 10_000
) -> ParsedFile:
    """Sniff and open the file, find its header row; rows are parsed as the result is iterated."""
    raw = open_raw(stream, filename)
    # The header first: "this looks like a cdw-asn file" helps more than a format complaint.
    header = _find_header(raw.rows, profile)
    if raw.format not in profile.formats:
        allowed = " or ".join(fmt.upper() for fmt in profile.formats)
        raise FileRejected(f"{profile.name} files must be {allowed}; this is {raw.format.upper()}")
    columns, warnings = _plan_columns(header, profile)
    return ParsedFile(
        profile=profile,
        file_format=raw.format,
        header_row=header.number,
        header_cells=header.cells,
        columns=columns,
        rows=raw.rows,
        file_warnings=warnings,
        max_cell_chars=max_cell_chars,
    )


def detect_profile(header_cells: Sequence[CellValue]) -> str | None:
    """The built-in profile whose required columns are all in this header row, if any."""
    keys = {header_key(cell_text(cell)) for cell in header_cells}
    best: tuple[int, str] | None = None
    for profile in builtin_profiles().values():
        index = profile.alias_index()
        matched = {index[key] for key in keys if key in index}
        complete = all(spec.name in matched for spec in profile.required_fields)
        if complete and (best is None or len(matched) > best[0]):
            best = (len(matched), profile.name)
    return best[1] if best else None


# --- header --------------------------------------------------------------------------------------


def _find_header(rows: Iterator[RawRow], profile: Profile) -> RawRow:
    """The first row within the first 50 holding every required column of the profile."""
    index = profile.alias_index()
    required = {spec.name for spec in profile.required_fields}
    seen: list[RawRow] = []
    for raw in rows:
        matched = _matched_fields(raw.cells, index)
        if required <= matched:
            return raw
        seen.append(raw)
        if raw.number >= HEADER_SEARCH_ROWS:
            break
    raise FileRejected(_no_header_message(seen, profile))


def _matched_fields(cells: Sequence[CellValue], index: Mapping[str, str]) -> set[str]:
    return {index[key] for key in (header_key(cell_text(c)) for c in cells) if key in index}


def _no_header_message(rows: list[RawRow], profile: Profile) -> str:
    for raw in rows:
        other = detect_profile(raw.cells)
        if other is not None and other != profile.name:
            return (
                f"no {profile.name} header row was found; this looks like a {other} file "
                f"(header on row {raw.number}) — choose that profile"
            )
    index = profile.alias_index()
    required = profile.required_fields
    best: tuple[int, RawRow] | None = None
    for raw in rows:
        found = len(_matched_fields(raw.cells, index) & {spec.name for spec in required})
        if best is None or found > best[0]:
            best = (found, raw)
    # Half the required columns is enough to be sure this row was meant as the header.
    if best is not None and best[0] * 2 >= len(required):
        matched = _matched_fields(best[1].cells, index)
        missing = ", ".join(spec.header for spec in required if spec.name not in matched)
        return f"the header on row {best[1].number} is missing required columns: {missing}"
    expected = ", ".join(spec.header for spec in required)
    return (
        f"no header row for {profile.name} in the first {HEADER_SEARCH_ROWS} rows; "
        f"it needs the columns {expected}"
    )


def _plan_columns(header: RawRow, profile: Profile) -> tuple[list[_Column], list[RowIssue]]:
    index = profile.alias_index()
    columns: dict[str, _Column] = {}
    unknown: list[str] = []
    for position, cell in enumerate(header.cells):
        text = " ".join(cell_text(cell).split())
        name = index.get(header_key(text))
        if name is None:
            if text:
                unknown.append(text)
            continue
        if name in columns:
            # Two columns for one field: picking either would be a guess.
            raise FileRejected(
                f"the columns {columns[name].header!r} and {text!r} both hold "
                f"{profile.field(name).header}; remove one of them"
            )
        spec = profile.field(name)
        columns[name] = _Column(spec, position, text, PARSERS[spec.parser], spec.options())
    warnings = []
    if unknown and profile.kind == "people":
        # Data minimisation: HR exports carry more than the register may keep.
        message = (
            f"columns the register does not keep were ignored: {', '.join(unknown)}; their "
            "values are personal data it may not hold, and were not read, stored or logged"
        )
        warnings.append(RowIssue(header.number, None, None, message, "warning"))
    elif unknown:
        message = f"columns not used by {profile.name} were ignored: {', '.join(unknown)}"
        warnings.append(RowIssue(header.number, None, None, message, "warning"))
    return list(columns.values()), warnings


# --- rows ----------------------------------------------------------------------------------------


def _has_text(cell: CellValue) -> bool:
    text = cell_text(cell)
    return bool(text) and not text.isspace()  # isspace() covers NBSP, without copying


def _is_blank(cells: Sequence[CellValue]) -> bool:
    return not any(map(_has_text, cells))


def _labelled(header_keys: tuple[str, ...]) -> tuple[int, frozenset[int]]:
    """The header's width and the positions within it that have no header text."""
    return len(header_keys), frozenset(i for i, key in enumerate(header_keys) if not key)


def _column_letter(index: int) -> str:
    """A 0-based column position as a spreadsheet names it: 0 -> A, 26 -> AA."""
    letters = ""
    number = index + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _row_keys(cells: Sequence[CellValue]) -> tuple[str, ...]:
    keys = [header_key(cell_text(cell)) for cell in cells]
    while keys and not keys[-1]:
        keys.pop()
    return tuple(keys)


def _is_totals(cells: Sequence[CellValue], parsed: ParsedRow) -> bool:
    first = cells[0] if cells else None
    if not (type(first) is str and first and not first.isspace()):
        first = next((cell_text(cell) for cell in cells if _has_text(cell)), "")
    # Cheap test first: this runs on every row.
    if first.lstrip()[:1] not in ("t", "T", "g", "G") or header_key(first) not in _TOTAL_LABELS:
        return False
    return not any(parsed.raw.get(name, "").strip() for name in _ITEM_FIELDS)


def _truncate(text: str) -> str:
    return text if len(text) <= ISSUE_VALUE_CHARS else text[: ISSUE_VALUE_CHARS - 1] + "…"


def _parse_row(
    raw: RawRow,
    steps: list[_Step],
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
    row: int, column: _Column, text: str, message: str, severity: Literal["error", "warning"]
) -> RowIssue:
    return RowIssue(row, column.header, _truncate(text), message, severity)


# --- row rules -----------------------------------------------------------------------------------


def _apply_rules(profile: Profile, row: ParsedRow, headers: Mapping[str, str]) -> None:
    failed = {issue.column for issue in row.errors}
    for rule in profile.rules:
        # A field that failed to parse already has its error; its value is unknown here.
        if failed:
            involved = (*rule.fields, *([rule.when_field] if rule.when_field else []))
            if any(headers.get(name) in failed for name in involved if name in headers):
                continue
        if not _rule_applies(rule, row):
            continue
        broken = _broken_fields(rule, row)
        if broken:
            column = headers.get(broken[0]) or profile.field(broken[0]).header
            value = row.raw.get(broken[0])
            message = rule.message or _rule_message(rule, profile, broken)
            row.errors.append(RowIssue(row.row, column, value, message, "error"))


def _rule_applies(rule: RowRule, row: ParsedRow) -> bool:
    if rule.when_field is None:
        return True
    current = row.values.get(rule.when_field)
    if rule.when_equals is None:
        return current is not None
    return current == rule.when_equals


def _broken_fields(rule: RowRule, row: ParsedRow) -> list[str]:
    if rule.kind == "required":
        return [name for name in rule.fields if row.values.get(name) is None]
    if rule.kind == "one_of":
        present = any(row.values.get(name) is not None for name in rule.fields)
        return [] if present else list(rule.fields)
    name = rule.fields[0]
    current = row.values.get(name)
    return [] if current is None or current == rule.value else [name]


def _rule_message(rule: RowRule, profile: Profile, broken: list[str]) -> str:
    names = ", ".join(profile.field(name).header for name in broken)
    condition = ""
    if rule.when_field is not None:
        when = profile.field(rule.when_field).header
        condition = f" when {when} is {rule.when_equals}" if rule.when_equals else f" with {when}"
    if rule.kind == "required":
        return f"{names} is required{condition}"
    if rule.kind == "one_of":
        return f"one of {names} is required"
    return f"{names} must be {rule.value}{condition}"
