"""XLSX workbooks for finance: tables with £ formats, a totals row, a native
column chart, and a "Parameters" sheet saying how the numbers were made.

Every text cell goes through ``fleetsvc.exports.safe_cell`` and is written as a
string, so text from the register (a model called ``=cmd``) never runs.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import xlsxwriter

from fleetsvc.exports import safe_cell

MONEY_FORMAT = "£#,##0.00"
COUNT_FORMAT = "#,##0"
DATE_FORMAT = "yyyy-mm-dd"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

Cell = str | int | Decimal | dt.date | None
ColumnKind = Literal["text", "money", "count", "date"]


@dataclass(frozen=True, slots=True)
class Column:
    heading: str
    kind: ColumnKind = "text"
    width: int | None = None


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """A column chart of the totals row, over columns ``first_col``..``last_col``
    (their headings are the categories)."""

    title: str
    first_col: int
    last_col: int
    y_axis: str = "£"


@dataclass(frozen=True, slots=True)
class Sheet:
    name: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[Cell]]
    total_row: Sequence[Cell] | None = None
    chart: ChartSpec | None = None
    title: str | None = None


@dataclass(slots=True)
class _Formats:
    heading: object
    money: object
    count: object
    date: object
    title: object
    total_text: object
    total_money: object
    total_count: object


def _formats(book: xlsxwriter.Workbook) -> _Formats:
    return _Formats(
        heading=book.add_format({"bold": True, "bottom": 1, "text_wrap": True}),
        money=book.add_format({"num_format": MONEY_FORMAT}),
        count=book.add_format({"num_format": COUNT_FORMAT}),
        date=book.add_format({"num_format": DATE_FORMAT}),
        title=book.add_format({"bold": True, "font_size": 13}),
        total_text=book.add_format({"bold": True, "top": 1}),
        total_money=book.add_format({"bold": True, "top": 1, "num_format": MONEY_FORMAT}),
        total_count=book.add_format({"bold": True, "top": 1, "num_format": COUNT_FORMAT}),
    )


def _write_cell(
    ws: xlsxwriter.worksheet.Worksheet,
    row: int,
    col: int,
    value: Cell,
    kind: ColumnKind,
    fmt: _Formats,
    total: bool = False,
) -> None:
    if value is None:
        ws.write_blank(row, col, None, fmt.total_text if total else None)
    elif isinstance(value, Decimal | int) and not isinstance(value, bool):
        if kind == "money":
            ws.write_number(row, col, float(value), fmt.total_money if total else fmt.money)
        else:
            ws.write_number(row, col, float(value), fmt.total_count if total else fmt.count)
    elif isinstance(value, dt.date):
        ws.write_datetime(row, col, dt.datetime(value.year, value.month, value.day), fmt.date)
    else:
        ws.write_string(row, col, str(safe_cell(str(value))), fmt.total_text if total else None)


def _write_sheet(book: xlsxwriter.Workbook, sheet: Sheet, fmt: _Formats) -> None:
    ws = book.add_worksheet(sheet.name[:31])
    top = 0
    if sheet.title:
        ws.write_string(0, 0, str(safe_cell(sheet.title)), fmt.title)
        top = 2
    for col, column in enumerate(sheet.columns):
        ws.write_string(top, col, str(safe_cell(column.heading)), fmt.heading)
        width = column.width or (36 if column.kind == "text" else 15)
        ws.set_column(col, col, width)
    ws.freeze_panes(top + 1, 0)
    r = top
    for r, values in enumerate(sheet.rows, start=top + 1):
        for col, value in enumerate(values):
            _write_cell(ws, r, col, value, sheet.columns[col].kind, fmt)
    if sheet.total_row is None:
        return
    total_r = r + 1
    for col, value in enumerate(sheet.total_row):
        _write_cell(ws, total_r, col, value, sheet.columns[col].kind, fmt, total=True)
    if sheet.chart is not None:
        spec = sheet.chart
        chart = book.add_chart({"type": "column"})
        if chart is None:  # only for unknown chart types
            return
        name = ws.get_name()
        chart.add_series(
            {
                "name": "Total",
                "categories": [name, top, spec.first_col, top, spec.last_col],
                "values": [name, total_r, spec.first_col, total_r, spec.last_col],
            }
        )
        chart.set_title({"name": spec.title})
        chart.set_y_axis({"name": spec.y_axis, "num_format": "£#,##0"})
        chart.set_legend({"none": True})
        ws.insert_chart(total_r + 2, 0, chart, {"x_scale": 1.6, "y_scale": 1.2})


def workbook_bytes(
    sheets: Sequence[Sheet],
    parameters: Sequence[tuple[str, Cell]],
) -> bytes:
    """An XLSX file: the given sheets, then a "Parameters" sheet of name/value rows."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    fmt = _formats(book)
    for sheet in sheets:
        _write_sheet(book, sheet, fmt)
    params = book.add_worksheet("Parameters")
    params.set_column(0, 0, 28)
    params.set_column(1, 1, 60)
    params.write_string(0, 0, "Parameter", fmt.heading)
    params.write_string(0, 1, "Value", fmt.heading)
    for r, (name, value) in enumerate(parameters, start=1):
        params.write_string(r, 0, str(safe_cell(name)))
        _write_cell(params, r, 1, value, "count", fmt)
    book.close()
    return out.getvalue()
