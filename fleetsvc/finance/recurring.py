"""The recurring-cost forecast: airtime, licence and support charges per financial
year. One query for the charges and the units they apply to, then whole-month
arithmetic per charge and financial year; gaps where a contract ends are shown."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec

from fleetsvc.finance.fiscal import (
    fy_label,
    months_in_force,
)
from fleetsvc.finance.forecast import (
    ZERO,
    ForecastParams,
    money,
)
from fleetsvc.vocabulary import LEFT_ESTATE


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


def _charge_forecast(
    ch: Any, params: ForecastParams, months: list[int], kinds: dict[str, list[Decimal]]
) -> ChargeForecast:
    """One charge's cost in each financial year; adds it to its kind's running totals."""
    kind = cost_kind(ch["applies_to"], ch["contract_kind"])
    units = int(ch["units"] or 0)
    years = [
        YearCost(label, m, charge_cost(units, ch["unit_amount"], ch["period"], m))
        for label, m in zip(params.labels, months, strict=True)
    ]
    row_kind = kinds.setdefault(kind, [ZERO] * params.years)
    for i, y in enumerate(years):
        row_kind[i] += y.cost
    return ChargeForecast(
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


def _contract_forecast(
    charges: list[Any], params: ForecastParams, kinds: dict[str, list[Decimal]]
) -> ContractForecast:
    """One contract's charges, yearly totals, and the gap after it ends in the horizon."""
    first = charges[0]
    starts_on: dt.date = first["starts_on"]
    ends_on: dt.date | None = first["ends_on"]
    months = [months_in_force(starts_on, ends_on, y) for y in params.year_numbers]
    gap_months = 0
    if ends_on is not None and ends_on < params.horizon_last_day:
        gap_months = _gap_months(ends_on, params)
    out_charges = [_charge_forecast(ch, params, months, kinds) for ch in charges]
    gap: Gap | None = None
    if ends_on is not None and gap_months:
        gap_cost = sum(
            (
                charge_cost(int(ch["units"] or 0), ch["unit_amount"], ch["period"], gap_months)
                for ch in charges
            ),
            ZERO,
        )
        gap = Gap(ends_on + dt.timedelta(days=1), params.horizon_last_day, gap_months, gap_cost)
    year_totals = [
        YearTotal(label, sum((c.years[i].cost for c in out_charges), ZERO))
        for i, label in enumerate(params.labels)
    ]
    return ContractForecast(
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


def assemble_recurring(params: ForecastParams, rows: Sequence[Any]) -> RecurringForecast:
    by_contract: dict[int, list[Any]] = {}
    for r in rows:
        by_contract.setdefault(r["contract_id"], []).append(r)
    kinds: dict[str, list[Decimal]] = {}
    contracts = [_contract_forecast(charges, params, kinds) for charges in by_contract.values()]
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
