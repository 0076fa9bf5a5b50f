"""Refresh and recurring-cost forecasts by UK financial year, for finance.

Money is exact throughout: SQL ``numeric`` in, ``Decimal`` in Python, decimal
strings with two places in JSON; every total is the sum of the rows shown.
The refresh forecast is one set-based aggregate query; the recurring forecast
is one query for the charges and the units they apply to, then whole-month
arithmetic per charge and financial year.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

import asyncpg
import msgspec

from fleetsvc import __version__
from fleetsvc.errors import FieldProblem, ValidationFailed
from fleetsvc.exports import csv_text
from fleetsvc.fiscal import (
    FY_FORMAT_HINT,
    current_fy,
    fy_end,
    fy_label,
    fy_slug,
    fy_start,
    months_in_force,
    parse_fy,
)
from fleetsvc.spreadsheets import XLSX_MEDIA_TYPE, Cell, ChartSpec, Column, Sheet, workbook_bytes
from fleetsvc.vocabulary import LEFT_ESTATE, ForecastGroup, OutputFormat

MAX_YEARS = 20
DEFAULT_YEARS = 5
# The last financial year a forecast can reach: 9998/99 ends on 31 March 9999, and the
# day after a horizon must still be a date.
LAST_YEAR = 9998
CENT = Decimal("0.01")
ZERO = Decimal("0.00")

# The aggregate's cell: a financial year (its starting year), or one of these.
OVERDUE, NO_LIFECYCLE, NO_DATES, NO_COST = -1, -2, -3, -4
UNPRICED_REASONS = {
    NO_LIFECYCLE: "no refresh date: the model has no lifecycle and the asset no override",
    NO_DATES: "no refresh date: the asset has no in-service or delivery date",
    NO_COST: "no replacement cost on the model or the asset",
}


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# --- parameters -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ForecastParams:
    first_year: int
    years: int
    group_by: str = "model"

    @property
    def year_numbers(self) -> list[int]:
        return list(range(self.first_year, self.first_year + self.years))

    @property
    def labels(self) -> list[str]:
        return [fy_label(y) for y in self.year_numbers]

    @property
    def horizon_start(self) -> dt.date:
        return fy_start(self.first_year)

    @property
    def horizon_last_day(self) -> dt.date:
        return fy_end(self.first_year + self.years - 1)


def forecast_params(
    from_year: str | None,
    years: str | int | None,
    group_by: str | None = None,
    *,
    today: dt.date | None = None,
) -> ForecastParams:
    """Check the user's parameters; every problem is reported at once."""
    problems: list[FieldProblem] = []
    first = current_fy(today)
    if from_year is not None:
        try:
            first = parse_fy(from_year)
        except ValueError:
            problems.append(FieldProblem("from", FY_FORMAT_HINT))
    n = DEFAULT_YEARS
    if years is not None:
        text = str(years).strip()
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_YEARS:
            problems.append(FieldProblem("years", f"a whole number of years from 1 to {MAX_YEARS}"))
        else:
            n = int(text)
    if not problems and first + n - 1 > LAST_YEAR:
        problems.append(
            FieldProblem(
                "from",
                f"{FY_FORMAT_HINT}; the forecast's last year must be {fy_label(LAST_YEAR)}"
                " or earlier",
            )
        )
    dim = "model" if group_by is None else group_by.strip()
    if not ForecastGroup.has(dim):
        problems.append(FieldProblem("group_by", "one of " + ForecastGroup.listed()))
    if problems:
        raise ValidationFailed(problems)
    return ForecastParams(first, n, dim)


def output_format(fmt: str | None, accept: str | None = None) -> str:
    """``format=`` wins; else ``Accept: text/csv`` or the XLSX type; else JSON."""
    if fmt is not None:
        value = fmt.strip().lower()
        if not OutputFormat.has(value):
            raise ValidationFailed.one("format", "one of " + OutputFormat.listed())
        return value
    accept = (accept or "").lower()
    if "text/csv" in accept:
        return "csv"
    if XLSX_MEDIA_TYPE in accept:
        return "xlsx"
    return "json"


# --- results ----------------------------------------------------------------------------------


class Amount(msgspec.Struct):
    devices: int
    cost: Decimal


class YearAmount(msgspec.Struct):
    year: str
    devices: int
    cost: Decimal


class RefreshGroup(msgspec.Struct):
    key: str
    label: str
    overdue: Amount
    years: list[YearAmount]
    total: Amount
    unpriced_devices: int


class UnpricedLine(msgspec.Struct):
    key: str
    label: str
    reason: str
    devices: int


class RefreshForecast(msgspec.Struct):
    """Devices falling due for refresh, and their replacement cost, per financial year.

    ``overdue`` holds devices due before the first year; ``total`` is overdue
    plus every year. Devices that cannot be priced are in ``unpriced`` only.
    """

    from_year: str = msgspec.field(name="from")
    years: list[str] = msgspec.field(default_factory=list)
    group_by: str = "model"
    horizon_start: dt.date = dt.date.min
    horizon_end: dt.date = dt.date.min
    currency: str = "GBP"
    groups: list[RefreshGroup] = msgspec.field(default_factory=list)
    overdue: Amount = msgspec.field(default_factory=lambda: Amount(0, ZERO))
    year_totals: list[YearAmount] = msgspec.field(default_factory=list)
    total: Amount = msgspec.field(default_factory=lambda: Amount(0, ZERO))
    unpriced: list[UnpricedLine] = msgspec.field(default_factory=list)
    unpriced_devices: int = 0


class YearCost(msgspec.Struct):
    year: str
    months: int
    cost: Decimal


class YearTotal(msgspec.Struct):
    year: str
    cost: Decimal


class ChargeForecast(msgspec.Struct):
    charge_id: int
    description: str
    kind: str
    applies_to: str
    category: str | None
    period: str
    unit_amount: Decimal
    units: int
    years: list[YearCost]
    total: Decimal


class Gap(msgspec.Struct):
    """Months of the horizon after a contract ends: not costed, listed so finance
    can plan a replacement; ``cost_at_current_rates`` is what they would cost."""

    starts_on: dt.date
    ends_on: dt.date
    months: int
    cost_at_current_rates: Decimal


class ContractForecast(msgspec.Struct):
    contract_id: int
    reference: str
    contract_kind: str
    title: str
    starts_on: dt.date
    ends_on: dt.date | None
    ends_in_horizon: bool
    charges: list[ChargeForecast]
    years: list[YearTotal]
    total: Decimal
    gap: Gap | None


class KindForecast(msgspec.Struct):
    kind: str
    years: list[YearTotal]
    total: Decimal


class RecurringForecast(msgspec.Struct):
    """Recurring charges per financial year, by contract and by kind of cost."""

    from_year: str = msgspec.field(name="from")
    years: list[str] = msgspec.field(default_factory=list)
    horizon_start: dt.date = dt.date.min
    horizon_end: dt.date = dt.date.min
    currency: str = "GBP"
    contracts: list[ContractForecast] = msgspec.field(default_factory=list)
    by_kind: list[KindForecast] = msgspec.field(default_factory=list)
    year_totals: list[YearTotal] = msgspec.field(default_factory=list)
    total: Decimal = ZERO
    gaps: list[str] = msgspec.field(default_factory=list)


# --- the refresh forecast ---------------------------------------------------------------------

_OPEN_INSTALLS = """
    SELECT DISTINCT ON (x.asset_id) x.asset_id, v.business_unit_id
    FROM (SELECT tablet_id AS asset_id, vehicle_id FROM install WHERE removed_on IS NULL
          UNION ALL
          SELECT dock_id, vehicle_id FROM install
          WHERE removed_on IS NULL AND dock_id IS NOT NULL) x
    JOIN vehicle v ON v.id = x.vehicle_id
    ORDER BY x.asset_id
"""


@dataclass(frozen=True, slots=True)
class _Dimension:
    group_id: str  # what the aggregate groups by (an id, cheap to hash)
    joins: str  # joins the group id needs, per asset
    key: str  # the group's key and label, looked up once per group afterwards
    label: str
    label_join: str = ""


_DIMENSIONS: dict[str, _Dimension] = {
    "model": _Dimension(
        "a.model_id",
        "",
        "g.id::text",
        "g.manufacturer || ' ' || g.model_name",
        "JOIN device_model g ON g.id = cells.gid",
    ),
    "category": _Dimension("m.category", "", "cells.gid", "cells.gid"),
    "contract": _Dimension(
        "a.contract_id",
        "",
        "COALESCE(g.reference, 'none')",
        "COALESCE(g.reference, 'none')",
        "LEFT JOIN contract g ON g.id = cells.gid",
    ),
    "business_unit": _Dimension(
        "COALESCE(p.business_unit_id, iv.business_unit_id)",
        "LEFT JOIN person p ON p.id = a.person_id"
        f" LEFT JOIN ({_OPEN_INSTALLS}) iv ON iv.asset_id = a.id",
        "COALESCE(g.code, 'unassigned')",
        "COALESCE(g.name, 'unassigned')",
        "LEFT JOIN business_unit g ON g.id = cells.gid",
    ),
}


def refresh_sql(group_by: str) -> str:
    """The one aggregate query behind the refresh forecast ($1 = horizon start,
    $2 = the day after the horizon)."""
    dim = _DIMENSIONS[group_by]
    left = ", ".join(f"'{s}'" for s in LEFT_ESTATE)
    # refresh_due_on is maintained on every write; the function is a fallback for
    # rows loaded before it was (same inputs, same rule, so never a different date).
    return f"""
WITH estate AS (
    SELECT {dim.group_id} AS gid,
           COALESCE(a.refresh_due_on,
                    refresh_due(a.in_service_on, a.delivered_on, m.lifecycle_months,
                                a.refresh_due_override)) AS due,
           COALESCE(a.replacement_cost_override, m.replacement_cost) AS cost,
           m.lifecycle_months IS NULL AS no_lifecycle
    FROM asset a
    JOIN device_model m ON m.id = a.model_id
    {dim.joins}
    WHERE a.status NOT IN ({left})
), cells AS (
    SELECT gid,
           CASE WHEN due IS NULL AND no_lifecycle THEN {NO_LIFECYCLE}
                WHEN due IS NULL THEN {NO_DATES}
                WHEN cost IS NULL THEN {NO_COST}
                WHEN due < $1 THEN {OVERDUE}
                ELSE EXTRACT(YEAR FROM due - interval '3 months')::int END AS cell,
           count(*)::int AS devices,
           sum(cost) AS cost
    FROM estate
    WHERE due IS NULL OR due < $2
    GROUP BY 1, 2
)
SELECT {dim.key} AS group_key, {dim.label} AS group_label, cell, devices, cost
FROM cells
{dim.label_join}
"""


@dataclass(slots=True)
class _GroupCells:
    label: str
    overdue_devices: int = 0
    overdue_cost: Decimal = ZERO
    unpriced: int = 0
    year_devices: dict[int, int] = field(default_factory=dict)
    year_cost: dict[int, Decimal] = field(default_factory=dict)


async def refresh_forecast(conn: asyncpg.Connection, params: ForecastParams) -> RefreshForecast:
    start = params.horizon_start
    after = params.horizon_last_day + dt.timedelta(days=1)
    rows = await conn.fetch(refresh_sql(params.group_by), start, after)
    return assemble_refresh(params, rows)


def assemble_refresh(params: ForecastParams, rows: Sequence[Any]) -> RefreshForecast:
    """Turn the aggregate rows into the forecast; totals are sums of the cells."""
    groups: dict[str, _GroupCells] = {}
    unpriced: list[UnpricedLine] = []
    for r in rows:
        g = groups.get(r["group_key"])
        if g is None:
            g = groups[r["group_key"]] = _GroupCells(label=r["group_label"])
        devices: int = r["devices"]
        cell: int = r["cell"]
        if cell in UNPRICED_REASONS:
            g.unpriced += devices
            unpriced.append(
                UnpricedLine(
                    key=r["group_key"],
                    label=r["group_label"],
                    reason=UNPRICED_REASONS[cell],
                    devices=devices,
                )
            )
            continue
        cost = money(r["cost"])
        if cell == OVERDUE:
            g.overdue_devices += devices
            g.overdue_cost += cost
        else:
            g.year_devices[cell] = g.year_devices.get(cell, 0) + devices
            g.year_cost[cell] = g.year_cost.get(cell, ZERO) + cost

    out_groups: list[RefreshGroup] = []
    for key, g in sorted(groups.items(), key=lambda kv: (kv[1].label.lower(), kv[0])):
        years = [
            YearAmount(fy_label(y), g.year_devices.get(y, 0), g.year_cost.get(y, ZERO))
            for y in params.year_numbers
        ]
        total = Amount(
            g.overdue_devices + sum(y.devices for y in years),
            g.overdue_cost + sum((y.cost for y in years), ZERO),
        )
        out_groups.append(
            RefreshGroup(
                key=key,
                label=g.label,
                overdue=Amount(g.overdue_devices, g.overdue_cost),
                years=years,
                total=total,
                unpriced_devices=g.unpriced,
            )
        )
    year_totals = [
        YearAmount(
            label,
            sum(g.years[i].devices for g in out_groups),
            sum((g.years[i].cost for g in out_groups), ZERO),
        )
        for i, label in enumerate(params.labels)
    ]
    overdue = Amount(
        sum(g.overdue.devices for g in out_groups),
        sum((g.overdue.cost for g in out_groups), ZERO),
    )
    total = Amount(
        sum(g.total.devices for g in out_groups), sum((g.total.cost for g in out_groups), ZERO)
    )
    unpriced.sort(key=lambda u: (u.label.lower(), u.key, u.reason))
    return RefreshForecast(
        from_year=fy_label(params.first_year),
        years=params.labels,
        group_by=params.group_by,
        horizon_start=params.horizon_start,
        horizon_end=params.horizon_last_day,
        groups=out_groups,
        overdue=overdue,
        year_totals=year_totals,
        total=total,
        unpriced=unpriced,
        unpriced_devices=sum(u.devices for u in unpriced),
    )


# --- the recurring forecast -------------------------------------------------------------------

RECURRING_SQL = f"""
SELECT ch.id AS charge_id, ch.description, ch.applies_to, ch.category, ch.unit_amount,
       ch.period, c.id AS contract_id, c.reference, c.kind AS contract_kind, c.title,
       c.starts_on, c.ends_on,
       CASE ch.applies_to
         WHEN 'sim' THEN (SELECT count(*) FROM sim s
                          WHERE s.contract_id = c.id AND s.status = 'active')
         WHEN 'device' THEN (
             -- bought on the contract, or fitted in a vehicle under it (installation)
             SELECT count(*)
             FROM (SELECT a.id FROM asset a WHERE a.contract_id = c.id
                   UNION
                   SELECT x.id FROM install i
                   CROSS JOIN LATERAL (VALUES (i.tablet_id), (i.dock_id)) x(id)
                   WHERE i.installer_contract_id = c.id AND i.removed_on IS NULL
                     AND x.id IS NOT NULL) on_contract
             JOIN asset a ON a.id = on_contract.id
             JOIN device_model m ON m.id = a.model_id
             WHERE a.status NOT IN ({", ".join(f"'{s}'" for s in LEFT_ESTATE)})
               AND (ch.category IS NULL OR m.category = ch.category))
         WHEN 'licence_seat' THEN (SELECT COALESCE(sum(lp.seats), 0) FROM licence_pool lp
                                   WHERE lp.contract_id = c.id)
       END::int AS units
FROM contract_charge ch
JOIN contract c ON c.id = ch.contract_id
-- contracts in force for at least a day of the horizon
WHERE c.starts_on <= $2 AND (c.ends_on IS NULL OR c.ends_on >= $1)
ORDER BY c.reference, ch.id
"""


def cost_kind(applies_to: str, contract_kind: str) -> str:
    """airtime (per SIM), licence (per seat, or per device on a licence contract),
    support (per device otherwise)."""
    if applies_to == "sim":
        return "airtime"
    if applies_to == "licence_seat" or contract_kind == "licence":
        return "licence"
    return "support"


def charge_cost(units: int, unit_amount: Decimal, period: str, months: int) -> Decimal:
    """Units × amount × months (monthly charges) or × months/12 (yearly), to the penny."""
    if period == "month":
        return money(units * unit_amount * months)
    return money(units * unit_amount * months / Decimal(12))


def _gap_months(ends_on: dt.date, params: ForecastParams) -> int:
    """How many months of the horizon follow the month the contract ends in."""
    covered = sum(months_in_force(dt.date.min, ends_on, y) for y in params.year_numbers)
    return 12 * params.years - covered


async def recurring_forecast(conn: asyncpg.Connection, params: ForecastParams) -> RecurringForecast:
    rows = await conn.fetch(RECURRING_SQL, params.horizon_start, params.horizon_last_day)
    return assemble_recurring(params, rows)


def assemble_recurring(params: ForecastParams, rows: Sequence[Any]) -> RecurringForecast:
    by_contract: dict[int, list[Any]] = {}
    for r in rows:
        by_contract.setdefault(r["contract_id"], []).append(r)
    contracts: list[ContractForecast] = []
    kinds: dict[str, list[Decimal]] = {}
    n = params.years
    for charges in by_contract.values():
        first = charges[0]
        starts_on: dt.date = first["starts_on"]
        ends_on: dt.date | None = first["ends_on"]
        months = [months_in_force(starts_on, ends_on, y) for y in params.year_numbers]
        out_charges: list[ChargeForecast] = []
        gap_cost = ZERO
        gap: Gap | None = None
        gap_months = 0
        if ends_on is not None and ends_on < params.horizon_last_day:
            gap_months = _gap_months(ends_on, params)
        for ch in charges:
            kind = cost_kind(ch["applies_to"], ch["contract_kind"])
            units = int(ch["units"] or 0)
            years = [
                YearCost(label, m, charge_cost(units, ch["unit_amount"], ch["period"], m))
                for label, m in zip(params.labels, months, strict=True)
            ]
            row_kind = kinds.setdefault(kind, [ZERO] * n)
            for i, y in enumerate(years):
                row_kind[i] += y.cost
            gap_cost += charge_cost(units, ch["unit_amount"], ch["period"], gap_months)
            out_charges.append(
                ChargeForecast(
                    charge_id=ch["charge_id"],
                    description=ch["description"],
                    kind=kind,
                    applies_to=ch["applies_to"],
                    category=ch["category"],
                    period=ch["period"],
                    unit_amount=ch["unit_amount"],
                    units=units,
                    years=years,
                    total=sum((y.cost for y in years), ZERO),
                )
            )
        if ends_on is not None and gap_months:
            gap = Gap(ends_on + dt.timedelta(days=1), params.horizon_last_day, gap_months, gap_cost)
        year_totals = [
            YearTotal(label, sum((c.years[i].cost for c in out_charges), ZERO))
            for i, label in enumerate(params.labels)
        ]
        contracts.append(
            ContractForecast(
                contract_id=first["contract_id"],
                reference=first["reference"],
                contract_kind=first["contract_kind"],
                title=first["title"],
                starts_on=starts_on,
                ends_on=ends_on,
                ends_in_horizon=ends_on is not None
                and params.horizon_start <= ends_on <= params.horizon_last_day,
                charges=out_charges,
                years=year_totals,
                total=sum((y.cost for y in year_totals), ZERO),
                gap=gap,
            )
        )
    year_totals = [
        YearTotal(label, sum((c.years[i].cost for c in contracts), ZERO))
        for i, label in enumerate(params.labels)
    ]
    by_kind = [
        KindForecast(
            kind=k,
            years=[YearTotal(label, v[i]) for i, label in enumerate(params.labels)],
            total=sum(v, ZERO),
        )
        for k, v in sorted(kinds.items())
    ]
    return RecurringForecast(
        from_year=fy_label(params.first_year),
        years=params.labels,
        horizon_start=params.horizon_start,
        horizon_end=params.horizon_last_day,
        contracts=contracts,
        by_kind=by_kind,
        year_totals=year_totals,
        total=sum((y.cost for y in year_totals), ZERO),
        gaps=[c.reference for c in contracts if c.gap is not None],
    )


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


def recurring_xlsx(
    report: RecurringForecast, params: ForecastParams, generated_at: dt.datetime
) -> bytes:
    n = len(report.years)
    year_cols = [Column(y, "money", 14) for y in report.years]
    charges: list[list[Cell]] = []
    for c in report.contracts:
        for ch in c.charges:
            charges.append(
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
            )
    sheets = [
        Sheet(
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
        ),
        Sheet(
            name="By kind",
            title="Recurring cost by kind (£)",
            columns=[Column("Kind", width=14), *year_cols, Column("Total", "money", 16)],
            rows=[[k.kind, *(y.cost for y in k.years), k.total] for k in report.by_kind],
            total_row=["Total", *(y.cost for y in report.year_totals), report.total],
        ),
        Sheet(
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
        ),
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
