"""A supplier file parsed: raw rows in, typed rows with row errors and warnings out. The header
is found by importers.header, each row converted by importers.rows and checked by the profile's
rules (importers.row_rules); here, the rows that are not data (blank, a repeated header, totals)
are skipped and counted, and a value under no header rejects its row.

Rows are parsed lazily, a batch at a time, so a file of any length is read in bounded memory.
A CSV file's batches are converted by column first (importers.columns), and only the rows that
path cannot prove clean are parsed one by one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice, repeat, zip_longest
from typing import BinaryIO, Final

from importers.columns import BAD, CleanRows, RowBatch, convert, has_text_at
from importers.fields import CellValue, cell_text
from importers.header import find_header, labelled, matched_fields, plan_columns, row_keys
from importers.profiles import Profile, header_key
from importers.reader import CsvRecords, FileRejected, RawRow, open_raw, trim
from importers.row_rules import apply_rules
from importers.rows import (
    TOTAL_LABELS,
    Column,
    ParsedRow,
    RowIssue,
    column_letter,
    has_text,
    is_blank,
    is_totals,
    parse_row,
    truncate,
)

# A file of nothing but skipped rows must not fill memory with warnings; counts stay exact.
MAX_SKIP_WARNINGS: Final = 1000
ROWS_PER_BATCH: Final = 5000


@dataclass
class SkipCounts:
    """Rows that were not data; each repeated header and totals row also has a warning."""

    blank: int = 0
    repeated_header: int = 0
    totals: int = 0


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
        columns: list[Column],
        rows: Iterator[RawRow],
        file_warnings: list[RowIssue],
        max_cell_chars: int,
        columnar: bool = True,
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
        self._header_keys = row_keys(header_cells)
        # The first character a repeated header's first cell starts with (after header_key).
        self._header_first = self._header_keys[0][:1] if self._header_keys else ""
        self._width, self._unlabelled = labelled(self._header_keys)
        self._rows: Iterator[RawRow] | None = rows
        self._max_cell_chars = max_cell_chars
        self._alias_index = profile.alias_index()
        self._required = frozenset(spec.name for spec in profile.required_fields)
        self._layout = {column.spec.name: column.index for column in columns}
        self._no_values: dict[str, object] = {spec.name: None for spec in profile.fields}
        # The columnar path reads CSV rows as the csv module gives them.
        self._records = rows if columnar and isinstance(rows, CsvRecords) else None
        self._version = 0  # moves on when a header row in the middle changes how rows are read

    def __iter__(self) -> Iterator[ParsedRow]:
        for batch in self.batches():
            yield from batch.rows()

    def batches(self, size: int = ROWS_PER_BATCH) -> Iterator[RowBatch]:
        """The data rows, a batch of up to ``size`` rows of the file at a time (batches with
        no data row are not yielded). Either this or iter() can be used, once."""
        if self._rows is None:
            raise RuntimeError("a ParsedFile can be iterated only once (it streams the upload)")
        rows, self._rows = self._rows, None
        while True:
            if self._records is not None:
                first = self._records.number + 1
                records = self._records.take(size)
                if not records:
                    return
                batch = self._columnar(records, first)
            else:
                raws = list(islice(rows, size))
                if not raws:
                    return
                parsed = (self._row(raw) for raw in raws)
                batch = RowBatch(CleanRows(self._no_values), [p for p in parsed if p is not None])
            self.data_rows += len(batch)
            if batch:
                yield batch

    def _columnar(self, records: list[list[str]], first: int) -> RowBatch:
        """A batch converted by column; its bad rows parsed one by one, in order. A header row
        among them changes how the rows after it are read: they are converted again."""
        clean = CleanRows(self._no_values)
        others: list[ParsedRow] = []
        start = 0
        while start < len(records):
            part = records[start:] if start else records
            values, raw, bad = self._convert(part)
            end = len(part)
            for i in sorted(bad):
                version = self._version
                parsed = self._row(RawRow(first + start + i, trim(part[i])))
                if parsed is not None:
                    others.append(parsed)
                if self._version != version:
                    end = i
                    break
            if not bad and end == len(part):
                clean.extend(list(range(first + start, first + start + end)), values, raw)
            else:
                keep = [i for i in range(end) if i not in bad]
                clean.extend(
                    [first + start + i for i in keep],
                    {name: [column[i] for i in keep] for name, column in values.items()},
                    {name: [cells[i] for i in keep] for name, cells in raw.items()},
                )
            if end == len(part):
                break
            start += end + 1
        return RowBatch(clean, others)

    def _convert(
        self, records: list[list[str]]
    ) -> tuple[dict[str, list[object]], dict[str, Sequence[str]], set[int]]:
        """Each column's values and cells, and the positions of the rows that are bad: with a
        cell the columns cannot convert cleanly, or that may not be a data row at all."""
        count = len(records)
        columns: list[Sequence[str]] = list(zip_longest(*records, fillvalue=""))
        needed = max(self._width, *(step[0] + 1 for step in self._steps), 1)
        columns.extend([("",) * count] * (needed - len(columns)))
        bad = set(self._suspect_starts(columns[0]))
        for index in (*range(self._width, len(columns)), *self._unlabelled):
            bad.update(has_text_at(columns[index]))
        values: dict[str, list[object]] = {}
        raw: dict[str, Sequence[str]] = {}
        for step in self._steps:
            cells = columns[step[0]]
            values[step[1]], column_bad = convert(step, cells, self._max_cell_chars)
            raw[step[1]] = cells
            bad.update(column_bad)
        if self.profile.rules:
            bad.update(self._rules_broken(values, count))
        return values, raw, bad

    def _suspect_starts(self, cells: Sequence[str]) -> list[int]:
        """Rows whose first cell is blank (the row may be blank) or reads as the header's first
        cell or a totals label: the per-row path decides what they are."""
        watch = set(TOTAL_LABELS)
        if self._header_keys:
            watch.add(self._header_keys[0])
        leads = {key[:1] for key in watch}
        suspects = set()
        for text in dict.fromkeys(cells):
            # header_key folds case per character: its first character is the fold of the
            # first that is neither white space nor a BOM (as in _repeats_header).
            lead = text.lstrip()[:1]
            if not lead or (
                (lead == "\ufeff" or lead.casefold()[:1] in leads) and header_key(text) in watch
            ):
                suspects.add(text)
        if not suspects:
            return []
        return [i for i, text in enumerate(cells) if text in suspects]

    def _rules_broken(self, values: dict[str, list[object]], count: int) -> list[int]:
        """Rows that break one of the profile's rules, each distinct combination of the
        values the rules read checked once, by the per-row path's apply_rules."""
        names = sorted(
            {
                name
                for rule in self.profile.rules
                for name in (*rule.fields, *([rule.when_field] if rule.when_field else []))
            }
            & set(values)
        )
        columns = [values[name] for name in names]
        broken = set()
        for key in dict.fromkeys(zip(*columns, strict=True) if columns else repeat((), count)):
            if any(value is BAD for value in key):
                continue  # the row is parsed again anyway
            row = ParsedRow(0, {**self._no_values, **dict(zip(names, key, strict=True))}, {})
            apply_rules(self.profile, row, self.columns)
            if row.errors:
                broken.add(key)
        if not broken:
            return []
        keys = zip(*columns, strict=True) if columns else repeat((), count)
        return [i for i, key in enumerate(keys) if key in broken]

    def _row(self, raw: RawRow) -> ParsedRow | None:
        cells = raw.cells
        # Cheap test first: a row whose first cell has text is not blank.
        first = cells[0] if cells else None
        if not (type(first) is str and first and not first.isspace()) and is_blank(cells):
            self.skipped.blank += 1
            return None
        if self._repeats_header(cells):
            self.skipped.repeated_header += 1
            self._skip_warning(
                raw.number, self.skipped.repeated_header, "the header row is repeated here"
            )
            return None
        parsed = parse_row(raw, self._steps, dict(self._no_values), self._max_cell_chars)
        # A header row never parses as data; only then is it worth asking whether it is one
        # (repeated with other unused columns, or with its columns in another order).
        if parsed.errors and self._required <= matched_fields(cells, self._alias_index):
            self._another_header(raw)
            return None
        if is_totals(cells, parsed):
            self.skipped.totals += 1
            self._skip_warning(raw.number, self.skipped.totals, "this looks like a totals row")
            return None
        if len(cells) > self._width or self._unlabelled:
            self._check_unlabelled(raw, parsed)
        if self.profile.rules:
            apply_rules(self.profile, parsed, self.columns)
        return parsed

    def _check_unlabelled(self, raw: RawRow, parsed: ParsedRow) -> None:
        """A value under no header would be dropped without a word; more often it means the
        row's cells have shifted (a comma inside a cell that is not in quotes), so every value
        of the row is in doubt: the row is rejected, never read by guesswork."""
        for index, cell in enumerate(raw.cells):
            if (index >= self._width or index in self._unlabelled) and has_text(cell):
                text = cell_text(cell)
                message = (
                    f"column {column_letter(index)} has a value but no header; the row's cells "
                    "may have shifted (a comma inside a cell without quotes) — correct the row, "
                    "or give the column a header"
                )
                issue = RowIssue(raw.number, None, truncate(text), message, "error")
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
        return row_keys(cells) == keys

    def _another_header(self, raw: RawRow) -> None:
        """A header row in the middle of the file (two files pasted together).

        Its columns are read by name: in another order, the rows below it are read in that
        order; with other fields than the first header, the file is refused (a field the
        first header lacks has nowhere to go, and one it has would be missing below).
        """
        columns, _ = plan_columns(raw, self.profile)
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
        self._header_keys = row_keys(raw.cells)
        self._header_first = self._header_keys[0][:1] if self._header_keys else ""
        self._width, self._unlabelled = labelled(self._header_keys)
        self._version += 1
        self._skip_warning(raw.number, self.skipped.repeated_header, why)

    def _skip_warning(self, row: int, count: int, why: str) -> None:
        if count <= MAX_SKIP_WARNINGS:
            message = f"{why}; the row was skipped"
            self.file_warnings.append(RowIssue(row, None, None, message, "warning"))


def parse_file(
    stream: BinaryIO,
    filename: str,
    profile: Profile,
    *,
    max_cell_chars: int = 10_000,
    columnar: bool = True,
) -> ParsedFile:
    """Sniff and open the file, find its header row; rows are parsed as the result is iterated.

    columnar=False parses every row by itself (what the columnar path is tested against).
    """
    raw = open_raw(stream, filename)
    # The header first: "this looks like a cdw-asn file" helps more than a format complaint.
    header = find_header(raw.rows, profile)
    if raw.format not in profile.formats:
        allowed = " or ".join(fmt.upper() for fmt in profile.formats)
        raise FileRejected(f"{profile.name} files must be {allowed}; this is {raw.format.upper()}")
    columns, warnings = plan_columns(header, profile)
    return ParsedFile(
        profile=profile,
        file_format=raw.format,
        header_row=header.number,
        header_cells=header.cells,
        columns=columns,
        rows=raw.rows,
        file_warnings=warnings,
        max_cell_chars=max_cell_chars,
        columnar=columnar,
    )
