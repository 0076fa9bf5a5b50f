"""Forecasts as files for Excel: CSV (formula-safe cells) and XLSX (with a chart),
named by kind and first financial year."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import msgspec

from fleetsvc import __version__
from fleetsvc.exports import csv_text
from fleetsvc.finance.fiscal import (
    fy_label,
    fy_slug,
)
from fleetsvc.finance.forecast import (
    Amount,
    ForecastParams,
    YearAmount,
)
from fleetsvc.finance.recurring import (
    RecurringForecast,
)
from fleetsvc.finance.refresh import (
    RefreshForecast,
)
from fleetsvc.spreadsheets import XLSX_MEDIA_TYPE, Cell, ChartSpec, Column, Sheet, workbook_bytes

# --- output -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    media_type: str
    filename: str


def _filename(kind: str, params: ForecastParams, ext: str) -> str:
    return f"{kind}-forecast-{fy_slug(params.first_year)}.{ext}"


def refresh_table(report: RefreshForecast) -> tuple[list[str], list[list[Cell]], list[Cell]]:
    """One row per group: overdue, each year, total (devices and cost), unpriced devices."""
    header = ["group_key", "group", "overdue devices", "overdue cost"]
    for label in report.years:
        header += [f"{label} devices", f"{label} cost"]
    header += ["total devices", "total cost", "unpriced devices"]

    def cells(a: Amount | YearAmount) -> list[Cell]:
        return [a.devices, a.cost]

    rows: list[list[Cell]] = []
    for g in report.groups:
        row: list[Cell] = [g.key, g.label, *cells(g.overdue)]
        for y in g.years:
            row += cells(y)
        rows.append([*row, *cells(g.total), g.unpriced_devices])
    total: list[Cell] = ["", "Total", *cells(report.overdue)]
    for yt in report.year_totals:
        total += cells(yt)
    total += [*cells(report.total), report.unpriced_devices]
    return header, rows, total


def refresh_csv(report: RefreshForecast) -> str:
    header, rows, total = refresh_table(report)
    return csv_text(header, [*rows, total])


def _parameters(
    kind: str, params: ForecastParams, generated_at: dt.datetime, extra: list[tuple[str, Cell]]
) -> list[tuple[str, Cell]]:
    return [
        ("Forecast", kind),
        ("First financial year", fy_label(params.first_year)),
        ("Years", params.years),
        ("Horizon", f"{params.horizon_start.isoformat()} to {params.horizon_last_day.isoformat()}"),
        *extra,
        ("Generated at (UTC)", generated_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")),
        ("Service version", f"fleetsvc {__version__}"),
    ]


def refresh_xlsx(
    report: RefreshForecast, params: ForecastParams, generated_at: dt.datetime
) -> bytes:
    labels = ["Overdue", *report.years, "Total"]
    cost_cols = [Column(y, "money", 14) for y in labels]
    count_cols = [Column(y, "count", 12) for y in labels]
    group_heading = params.group_by.replace("_", " ").capitalize()
    cost_rows: list[list[Cell]] = []
    count_rows: list[list[Cell]] = []
    for g in report.groups:
        cost_rows.append([g.label, g.overdue.cost, *(y.cost for y in g.years), g.total.cost])
        count_rows.append(
            [
                g.label,
                g.overdue.devices,
                *(y.devices for y in g.years),
                g.total.devices,
                g.unpriced_devices,
            ]
        )
    n = len(report.years)
    sheets = [
        Sheet(
            name="Refresh cost",
            title=f"Refresh forecast by {group_heading.lower()}, "
            f"{report.years[0]} to {report.years[-1]} (£)",
            columns=[Column(group_heading), *cost_cols],
            rows=cost_rows,
            total_row=[
                "Total",
                report.overdue.cost,
                *(y.cost for y in report.year_totals),
                report.total.cost,
            ],
            chart=ChartSpec("Refresh cost per financial year", first_col=2, last_col=1 + n),
        ),
        Sheet(
            name="Devices",
            title="Devices falling due for refresh",
            columns=[Column(group_heading), *count_cols, Column("Unpriced", "count", 12)],
            rows=count_rows,
            total_row=[
                "Total",
                report.overdue.devices,
                *(y.devices for y in report.year_totals),
                report.total.devices,
                report.unpriced_devices,
            ],
        ),
        Sheet(
            name="Unpriced",
            title="Devices that cannot be priced (not in the totals)",
            columns=[Column(group_heading), Column("Reason", width=60), Column("Devices", "count")],
            rows=[[u.label, u.reason, u.devices] for u in report.unpriced],
        ),
    ]
    extra: list[tuple[str, Cell]] = [
        ("Grouped by", params.group_by),
        ("Devices counted", "in the estate: not disposed, lost, stolen or retired"),
        ("Overdue", f"refresh due before {params.horizon_start.isoformat()}"),
        ("Cost", "asset replacement cost override, else the model's replacement cost"),
    ]
    return workbook_bytes(sheets, _parameters("refresh", params, generated_at, extra))


def recurring_table(report: RecurringForecast) -> tuple[list[str], list[list[Cell]], list[Cell]]:
    header = [
        "contract",
        "kind",
        "description",
        "applies_to",
        "units",
        "unit_amount",
        "period",
        *report.years,
        "total",
        "contract_ends_on",
        "ends_in_horizon",
    ]
    rows: list[list[Cell]] = []
    for c in report.contracts:
        for ch in c.charges:
            rows.append(
                [
                    c.reference,
                    ch.kind,
                    ch.description,
                    ch.applies_to,
                    ch.units,
                    ch.unit_amount,
                    ch.period,
                    *(y.cost for y in ch.years),
                    ch.total,
                    c.ends_on.isoformat() if c.ends_on else "",
                    "yes" if c.ends_in_horizon else "no",
                ]
            )
    total: list[Cell] = [
        "Total",
        "",
        "",
        "",
        None,
        None,
        "",
        *(y.cost for y in report.year_totals),
        report.total,
        "",
        "",
    ]
    return header, rows, total


def recurring_csv(report: RecurringForecast) -> str:
    header, rows, total = recurring_table(report)
    return csv_text(header, [*rows, total])


def _recurring_charges_sheet(report: RecurringForecast, year_cols: list[Column]) -> Sheet:
    charges: list[list[Cell]] = [
        [
            c.reference,
            ch.kind,
            ch.description,
            ch.units,
            ch.unit_amount,
            ch.period,
            *(y.cost for y in ch.years),
            ch.total,
        ]
        for c in report.contracts
        for ch in c.charges
    ]
    n = len(report.years)
    return Sheet(
        name="Recurring cost",
        title=f"Recurring cost, {report.years[0]} to {report.years[-1]} (£)",
        columns=[
            Column("Contract", width=20),
            Column("Kind", width=10),
            Column("Charge", width=30),
            Column("Units", "count", 10),
            Column("Unit amount", "money", 12),
            Column("Period", width=8),
            *year_cols,
            Column("Total", "money", 16),
        ],
        rows=charges,
        total_row=[
            "Total",
            None,
            None,
            None,
            None,
            None,
            *(y.cost for y in report.year_totals),
            report.total,
        ],
        chart=ChartSpec("Recurring cost per financial year", first_col=6, last_col=5 + n),
    )


def _recurring_gaps_sheet(report: RecurringForecast) -> Sheet:
    return Sheet(
        name="Contract gaps",
        title="Contracts ending before the horizon ends (months after the end are not costed)",
        columns=[
            Column("Contract", width=20),
            Column("Ends on", "date", 12),
            Column("Uncovered from", "date", 14),
            Column("Uncovered to", "date", 14),
            Column("Months", "count", 8),
            Column("Cost at current rates", "money", 20),
        ],
        rows=[
            [
                c.reference,
                c.ends_on,
                c.gap.starts_on,
                c.gap.ends_on,
                c.gap.months,
                c.gap.cost_at_current_rates,
            ]
            for c in report.contracts
            if c.gap is not None
        ],
    )


def recurring_xlsx(
    report: RecurringForecast, params: ForecastParams, generated_at: dt.datetime
) -> bytes:
    year_cols = [Column(y, "money", 14) for y in report.years]
    sheets = [
        _recurring_charges_sheet(report, year_cols),
        Sheet(
            name="By kind",
            title="Recurring cost by kind (£)",
            columns=[Column("Kind", width=14), *year_cols, Column("Total", "money", 16)],
            rows=[[k.kind, *(y.cost for y in k.years), k.total] for k in report.by_kind],
            total_row=["Total", *(y.cost for y in report.year_totals), report.total],
        ),
        _recurring_gaps_sheet(report),
    ]
    extra: list[tuple[str, Cell]] = [
        ("Units", "as the register stands today, held flat across the horizon"),
        (
            "Months",
            "whole months: a month counts in full if the contract is in force on any day of it",
        ),
    ]
    return workbook_bytes(sheets, _parameters("recurring", params, generated_at, extra))


def render(
    kind: Literal["refresh", "recurring"],
    report: RefreshForecast | RecurringForecast,
    params: ForecastParams,
    fmt: str,
    generated_at: dt.datetime | None = None,
) -> Rendered:
    """The forecast as JSON, CSV or XLSX bytes, with its media type and file name."""
    generated_at = generated_at or dt.datetime.now(dt.UTC)
    if fmt == "csv":
        text = refresh_csv(report) if isinstance(report, RefreshForecast) else recurring_csv(report)
        return Rendered(text.encode(), "text/csv; charset=utf-8", _filename(kind, params, "csv"))
    if fmt == "xlsx":
        body = (
            refresh_xlsx(report, params, generated_at)
            if isinstance(report, RefreshForecast)
            else recurring_xlsx(report, params, generated_at)
        )
        return Rendered(body, XLSX_MEDIA_TYPE, _filename(kind, params, "xlsx"))
    return Rendered(
        msgspec.json.encode(report), "application/json", _filename(kind, params, "json")
    )
