"""The refresh forecast: how many devices fall due for refresh in each financial year,
by model, category, contract or business unit, and what replacing them costs. One
set-based aggregate query; unpriced devices are listed with the reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec

from fleetsvc.finance.fiscal import (
    fy_label,
)
from fleetsvc.finance.forecast import (
    NO_COST,
    NO_DATES,
    NO_LIFECYCLE,
    OVERDUE,
    UNPRICED_REASONS,
    ZERO,
    Amount,
    ForecastParams,
    YearAmount,
    money,
)
from fleetsvc.vocabulary import LEFT_ESTATE


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
