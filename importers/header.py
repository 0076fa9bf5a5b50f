"""Finding the header row (within the first rows, whatever the title rows above it), saying
what is wrong when there is none, and planning the columns: which field each column holds."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Final

from importers.fields import PARSERS, CellValue, cell_text
from importers.profiles import Profile, builtin_profiles, header_key
from importers.reader import FileRejected, RawRow
from importers.rows import Column, RowIssue

HEADER_SEARCH_ROWS: Final = 50


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


def find_header(rows: Iterator[RawRow], profile: Profile) -> RawRow:
    """The first row within the first 50 holding every required column of the profile."""
    index = profile.alias_index()
    required = {spec.name for spec in profile.required_fields}
    seen: list[RawRow] = []
    for raw in rows:
        matched = matched_fields(raw.cells, index)
        if required <= matched:
            return raw
        seen.append(raw)
        if raw.number >= HEADER_SEARCH_ROWS:
            break
    raise FileRejected(_no_header_message(seen, profile))


def matched_fields(cells: Sequence[CellValue], index: Mapping[str, str]) -> set[str]:
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
        found = len(matched_fields(raw.cells, index) & {spec.name for spec in required})
        if best is None or found > best[0]:
            best = (found, raw)
    # Half the required columns is enough to be sure this row was meant as the header.
    if best is not None and best[0] * 2 >= len(required):
        matched = matched_fields(best[1].cells, index)
        missing = ", ".join(spec.header for spec in required if spec.name not in matched)
        return f"the header on row {best[1].number} is missing required columns: {missing}"
    expected = ", ".join(spec.header for spec in required)
    return (
        f"no header row for {profile.name} in the first {HEADER_SEARCH_ROWS} rows; "
        f"it needs the columns {expected}"
    )


def plan_columns(header: RawRow, profile: Profile) -> tuple[list[Column], list[RowIssue]]:
    index = profile.alias_index()
    columns: dict[str, Column] = {}
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
        columns[name] = Column(spec, position, text, PARSERS[spec.parser], spec.options())
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


def labelled(header_keys: tuple[str, ...]) -> tuple[int, frozenset[int]]:
    """The header's width and the positions within it that have no header text."""
    return len(header_keys), frozenset(i for i, key in enumerate(header_keys) if not key)


def row_keys(cells: Sequence[CellValue]) -> tuple[str, ...]:
    keys = [header_key(cell_text(cell)) for cell in cells]
    while keys and not keys[-1]:
        keys.pop()
    return tuple(keys)
