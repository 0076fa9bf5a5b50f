"""A stocktake's whole result as a CSV file or an XLSX workbook (one sheet a section), every
line of every section, formula-safe (``fleetsvc.exports``, ``fleetsvc.spreadsheets``).

A stocktake is at most a store's devices and their scans (thousands of lines), so the
result is read in one query and written in memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import asyncpg

from fleetsvc.checks import filter_choice
from fleetsvc.exports import csv_text
from fleetsvc.spreadsheets import XLSX_MEDIA_TYPE, Cell, Column, Sheet, workbook_bytes
from fleetsvc.stocktakes.documents import Stocktake, StocktakeLine
from fleetsvc.stocktakes.result import ResultLine, result_lines
from fleetsvc.stocktakes.service import head_row, stocktake_of
from fleetsvc.vocabulary import StocktakeSection, StocktakeStatus

_COLUMNS: Final = (
    Column("Code scanned", width=24),
    Column("Asset id", "count", 10),
    Column("Serial number", width=20),
    Column("IMEI", width=18),
    Column("Asset tag", width=14),
    Column("Model", width=28),
    Column("Status", width=12),
    Column("Location", width=14),
    Column("Person id", "count", 10),
    Column("Vehicle id", "count", 10),
    Column("Held by", width=24),
    Column("Last MDM check-in (UTC)", width=20),
    Column("Times scanned", "count", 10),
    Column("Closing did", width=12),
    Column("Note", width=40),
)


@dataclass(frozen=True, slots=True)
class StocktakeExport:
    stocktake: Stocktake
    lines: Sequence[ResultLine]


async def stocktake_export(conn: asyncpg.Connection, stocktake_id: int) -> StocktakeExport:
    row = await head_row(conn, stocktake_id)
    lines, _ = await result_lines(
        conn,
        stocktake_id,
        row["location_id"],
        frozen=row["status"] == StocktakeStatus.CLOSED,
        limit=None,
    )
    return StocktakeExport(await stocktake_of(conn, row), lines)


def _instant(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cells(line: StocktakeLine) -> list[Cell]:
    return [
        line.code,
        line.asset_id,
        line.serial_number,
        line.imei,
        line.asset_tag,
        line.model,
        line.status,
        line.location,
        line.person_id,
        line.vehicle_id,
        line.held_by,
        _instant(line.last_seen_at),
        line.times_scanned,
        line.action,
        line.note,
    ]


def file_stem(stocktake: Stocktake) -> str:
    return f"stocktake-{stocktake.id}-{stocktake.location.lower()}"


def report_csv(export: StocktakeExport) -> str:
    """One row per line, its section first; UTF-8 with a byte-order mark, so that Excel
    reads an accent in a name right."""
    header = ["Section", *(c.heading for c in _COLUMNS)]
    rows = [[found.section, *_cells(found.line)] for found in export.lines]
    return "\ufeff" + csv_text(header, rows)


def report_xlsx(export: StocktakeExport) -> bytes:
    """A sheet per section, then the stocktake's facts and counts."""
    st = export.stocktake
    sheets = [
        Sheet(
            name=section.capitalize(),
            columns=_COLUMNS,
            rows=[_cells(f.line) for f in export.lines if f.section == section],
            title=f"Stocktake {st.id} of {st.location}: {section}",
        )
        for section in StocktakeSection
    ]
    c = st.counts
    parameters: list[tuple[str, Cell]] = [
        ("Stocktake", st.id),
        ("Location", f"{st.location} ({st.location_name})"),
        ("Status", st.status),
        ("Opened", f"{_instant(st.opened_at)} UTC by {st.opened_by}"),
        ("Closed", f"{_instant(st.closed_at)} UTC by {st.closed_by}" if st.closed_at else None),
        ("Expected here", c.expected),
        ("Scans", c.scans),
        ("Found", c.found),
        ("Missing", c.missing),
        ("Elsewhere", c.elsewhere),
        ("Unknown", c.unknown),
        ("Scanned more than once", c.duplicates),
    ]
    if st.moves is not None:
        parameters += [
            ("Moved here on closing", st.moves.moved_here),
            ("Marked lost on closing", st.moves.marked_lost),
            ("Left as they were", st.moves.not_moved),
        ]
    return workbook_bytes(sheets, parameters)


@dataclass(frozen=True, slots=True)
class ReportFile:
    body: bytes
    media_type: str
    filename: str


REPORT_FORMATS: Final = ("csv", "xlsx")


def report_file(export: StocktakeExport, fmt: str | None) -> ReportFile:
    """The result as ``fmt`` (``csv``, the default, or ``xlsx``); another is a 422, an empty
    one too (the document's enum does not list it)."""
    chosen = filter_choice("format", "csv" if fmt is None else fmt, REPORT_FORMATS)
    stem = file_stem(export.stocktake)
    if chosen == "xlsx":
        return ReportFile(report_xlsx(export), XLSX_MEDIA_TYPE, f"{stem}.xlsx")
    return ReportFile(report_csv(export).encode(), "text/csv; charset=utf-8", f"{stem}.csv")
