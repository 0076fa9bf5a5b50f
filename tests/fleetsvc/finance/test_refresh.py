"""The refresh forecast, through the service functions.

Each test makes its own model, contract or business unit and asserts on its own
group only: other tests' assets are in the same database.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from db.engine import connection, transaction
from fleetsvc.finance.forecast import (
    NO_COST,
    NO_DATES,
    NO_LIFECYCLE,
    UNPRICED_REASONS,
    Amount,
    ForecastParams,
)
from fleetsvc.finance.refresh import RefreshForecast, RefreshGroup, refresh_forecast
from tests import factories as f
from tests.conftest import unique

pytestmark = pytest.mark.usefixtures("app")

D = Decimal


async def bulk_assets(
    model: dict[str, Any],
    n: int,
    first_in_service: dt.date,
    last_in_service: dt.date,
    *,
    maintain_refresh_date: bool = True,
    **columns: Any,
) -> None:
    """``n`` assets of ``model`` put in service evenly between two dates, with
    ``refresh_due_on`` kept as the register keeps it (or left empty)."""
    extra_cols = "".join(f", {c}" for c in columns)
    extra_vals = "".join(f", ${i + 7}" for i in range(len(columns)))
    due = (
        "refresh_due(d, NULL, (SELECT lifecycle_months FROM device_model WHERE id = $1), NULL)"
        if maintain_refresh_date
        else "NULL"
    )
    async with transaction() as conn:
        await conn.execute(
            f"""
            INSERT INTO asset (model_id, manufacturer, serial_number, status, in_service_on,
                               refresh_due_on{extra_cols})
            SELECT $1, $2, $3 || g, 'deployed', d, {due}{extra_vals}
            FROM generate_series(0, $4 - 1) g,
                 LATERAL (SELECT $5::date + (g * ($6::date - $5::date) / greatest($4 - 1, 1))
                          AS d) x
            """,
            model["id"],
            model["manufacturer"].lower(),
            unique("BULK") + "-",
            n,
            first_in_service,
            last_in_service,
            *columns.values(),
        )


def group(report: RefreshForecast, key: object) -> RefreshGroup:
    found = [g for g in report.groups if g.key == str(key)]
    assert len(found) == 1, f"group {key} not in the forecast"
    return found[0]


def year(g: RefreshGroup, label: str) -> tuple[int, Decimal]:
    [y] = [y for y in g.years if y.year == label]
    return y.devices, y.cost


def assert_totals_add_up(report: RefreshForecast) -> None:
    for g in report.groups:
        assert g.total.devices == g.overdue.devices + sum(y.devices for y in g.years)
        assert g.total.cost == g.overdue.cost + sum(y.cost for y in g.years)
    for i, yt in enumerate(report.year_totals):
        assert yt.devices == sum(g.years[i].devices for g in report.groups)
        assert yt.cost == sum(g.years[i].cost for g in report.groups)
    assert report.overdue.cost == sum(g.overdue.cost for g in report.groups)
    assert report.total.cost == report.overdue.cost + sum(y.cost for y in report.year_totals)
    assert report.total.devices == report.overdue.devices + sum(
        y.devices for y in report.year_totals
    )
    assert report.unpriced_devices == sum(u.devices for u in report.unpriced)


# --- parameters -------------------------------------------------------------------------------


async def refresh(params: ForecastParams) -> RefreshForecast:
    async with connection() as conn:
        return await refresh_forecast(conn, params)


async def test_demo_fleet_shape_gives_the_capital_plan() -> None:
    # 100 handsets in service during 2021/22 and 297 during 2022/23, 36 months, £300:
    # the scaled-down demo fleet (10,000 and 29,737 → £3.0m and £8.9m).
    model = await f.device_model(lifecycle_months=36, replacement_cost=D("300.00"))
    await bulk_assets(model, 100, dt.date(2021, 4, 1), dt.date(2022, 3, 31))
    await bulk_assets(model, 297, dt.date(2022, 4, 1), dt.date(2023, 3, 31))

    report = await refresh(ForecastParams(2024, 5, "model"))

    g = group(report, model["id"])
    assert year(g, "2024/25") == (100, D("30000.00"))
    assert year(g, "2025/26") == (297, D("89100.00"))
    assert year(g, "2026/27") == (0, D("0.00"))
    assert g.overdue.devices == 0
    assert g.total.cost == D("119100.00")
    assert g.label == f"Samsung {model['model_name']}"
    assert_totals_add_up(report)


async def test_refresh_date_falls_back_to_the_rule_when_not_yet_maintained() -> None:
    model = await f.device_model(lifecycle_months=36, replacement_cost=D("300.00"))
    await bulk_assets(
        model, 4, dt.date(2022, 4, 1), dt.date(2022, 4, 1), maintain_refresh_date=False
    )
    # delivered only, no in-service date: delivery + lifecycle
    await f.asset(model, delivered_on=dt.date(2021, 6, 1))

    g = group(await refresh(ForecastParams(2024, 3, "model")), model["id"])

    assert year(g, "2024/25") == (1, D("300.00"))
    assert year(g, "2025/26") == (4, D("1200.00"))


async def test_devices_already_due_are_overdue_not_in_the_first_year() -> None:
    model = await f.device_model(lifecycle_months=36, replacement_cost=D("250.00"))
    await f.asset(model, in_service_on=dt.date(2020, 1, 10), refresh_due_on=dt.date(2023, 1, 10))
    await f.asset(model, in_service_on=dt.date(2021, 3, 31), refresh_due_on=dt.date(2024, 3, 31))
    await f.asset(model, in_service_on=dt.date(2021, 4, 1), refresh_due_on=dt.date(2024, 4, 1))

    report = await refresh(ForecastParams(2024, 2, "model"))

    g = group(report, model["id"])
    assert (g.overdue.devices, g.overdue.cost) == (2, D("500.00"))
    assert year(g, "2024/25") == (1, D("250.00"))
    assert g.total == Amount(3, D("750.00"))
    assert_totals_add_up(report)


async def test_devices_beyond_the_horizon_are_not_counted() -> None:
    model = await f.device_model(lifecycle_months=60, replacement_cost=D("900.00"))
    await f.asset(model, in_service_on=dt.date(2024, 6, 1), refresh_due_on=dt.date(2029, 6, 1))

    g = group(await refresh(ForecastParams(2025, 5, "model")), model["id"])
    assert year(g, "2029/30") == (1, D("900.00"))

    report = await refresh(ForecastParams(2025, 4, "model"))
    assert not [g for g in report.groups if g.key == str(model["id"])]


async def test_devices_out_of_the_estate_do_not_count() -> None:
    model = await f.device_model(lifecycle_months=36, replacement_cost=D("100.00"))
    due = {"in_service_on": dt.date(2022, 5, 1), "refresh_due_on": dt.date(2025, 5, 1)}
    for status in ("lost", "stolen", "retired"):
        await f.asset(model, status=status, **due)
    await f.asset(model, status="disposed", disposal_certificate_ref="WEEE-1", **due)
    for status in ("in_stock", "staging", "deployed", "in_repair", "rebuild"):
        await f.asset(model, status=status, **due)

    g = group(await refresh(ForecastParams(2025, 1, "model")), model["id"])

    assert year(g, "2025/26") == (5, D("500.00"))


async def test_asset_overrides_win_over_the_model() -> None:
    model = await f.device_model(lifecycle_months=36, replacement_cost=D("300.00"))
    # cost override
    await f.asset(
        model,
        in_service_on=dt.date(2022, 5, 1),
        refresh_due_on=dt.date(2025, 5, 1),
        replacement_cost_override=D("1234.56"),
    )
    # refresh date override, held in refresh_due_on as the register keeps it
    await f.asset(
        model,
        in_service_on=dt.date(2022, 5, 1),
        refresh_due_override=dt.date(2027, 1, 1),
        refresh_due_on=dt.date(2027, 1, 1),
    )

    g = group(await refresh(ForecastParams(2025, 3, "model")), model["id"])

    assert year(g, "2025/26") == (1, D("1234.56"))
    assert year(g, "2026/27") == (1, D("300.00"))


async def test_unpriced_devices_are_listed_with_why_and_never_as_zero() -> None:
    no_lifecycle = await f.device_model(lifecycle_months=None)
    no_cost = await f.device_model(replacement_cost=None)
    priced = await f.device_model(lifecycle_months=36, replacement_cost=D("300.00"))
    await f.asset(no_lifecycle, in_service_on=dt.date(2022, 5, 1))
    await f.asset(no_cost, in_service_on=dt.date(2022, 5, 1), refresh_due_on=dt.date(2025, 5, 1))
    await f.asset(no_cost, in_service_on=dt.date(2022, 6, 1), refresh_due_on=dt.date(2025, 6, 1))
    await f.asset(priced, delivered_on=None)  # no dates at all
    await f.asset(priced, in_service_on=dt.date(2022, 5, 1), refresh_due_on=dt.date(2025, 5, 1))

    report = await refresh(ForecastParams(2025, 2, "model"))

    lines = {(u.key, u.reason): u.devices for u in report.unpriced}
    assert lines[(str(no_lifecycle["id"]), UNPRICED_REASONS[NO_LIFECYCLE])] == 1
    assert lines[(str(no_cost["id"]), UNPRICED_REASONS[NO_COST])] == 2
    assert lines[(str(priced["id"]), UNPRICED_REASONS[NO_DATES])] == 1
    # not counted in the year as £0
    g = group(report, no_cost["id"])
    assert g.total == Amount(0, D("0.00"))
    assert g.unpriced_devices == 2
    p = group(report, priced["id"])
    assert year(p, "2025/26") == (1, D("300.00"))
    assert p.unpriced_devices == 1
    assert_totals_add_up(report)


async def test_grouped_by_business_unit_of_the_holder() -> None:
    model = await f.device_model(lifecycle_months=36, replacement_cost=D("300.00"))
    unit_a = await f.business_unit()
    unit_b = await f.business_unit()
    officer = await f.person(business_unit_id=unit_a["id"])
    due = {"in_service_on": dt.date(2022, 5, 1), "refresh_due_on": dt.date(2025, 5, 1)}
    await f.asset(model, status="deployed", person_id=officer["id"], **due)
    await f.asset(model, status="deployed", person_id=officer["id"], **due)
    # an IVMA tablet and dock in unit B's vehicle
    tablet_model = await f.device_model(
        "ivma_tablet", lifecycle_months=48, replacement_cost=D("1500.00")
    )
    dock_model = await f.device_model(
        "vehicle_dock", lifecycle_months=48, replacement_cost=D("400.00")
    )
    car = await f.vehicle(business_unit_id=unit_b["id"])
    tablet = await f.asset(
        tablet_model,
        status="deployed",
        in_service_on=dt.date(2021, 9, 1),
        refresh_due_on=dt.date(2025, 9, 1),
    )
    dock = await f.asset(
        dock_model,
        status="deployed",
        in_service_on=dt.date(2021, 9, 1),
        refresh_due_on=dt.date(2025, 9, 1),
    )
    await f.insert(
        "install",
        job_reference=unique("JOB"),
        vehicle_id=car["id"],
        tablet_id=tablet["id"],
        dock_id=dock["id"],
        installed_on=dt.date(2021, 9, 1),
    )

    report = await refresh(ForecastParams(2025, 1, "business_unit"))

    a = group(report, unit_a["code"])
    assert a.label == unit_a["name"]
    assert year(a, "2025/26") == (2, D("600.00"))
    b = group(report, unit_b["code"])
    assert year(b, "2025/26") == (2, D("1900.00"))
    assert any(g.key == "unassigned" for g in report.groups)
    assert_totals_add_up(report)


async def test_grouped_by_contract_and_category() -> None:
    con = await f.contract()
    model = await f.device_model(lifecycle_months=36, replacement_cost=D("300.00"))
    due = {"in_service_on": dt.date(2022, 5, 1), "refresh_due_on": dt.date(2025, 5, 1)}
    await f.asset(model, contract_id=con["id"], **due)
    await f.asset(model, contract_id=con["id"], **due)
    await f.asset(model, **due)

    report = await refresh(ForecastParams(2025, 1, "contract"))
    g = group(report, con["reference"])
    assert year(g, "2025/26") == (2, D("600.00"))
    assert year(group(report, "none"), "2025/26")[0] >= 1
    assert_totals_add_up(report)

    by_category = await refresh(ForecastParams(2025, 1, "category"))
    assert year(group(by_category, "smartphone"), "2025/26")[0] >= 3
    assert_totals_add_up(by_category)


# --- the recurring forecast -------------------------------------------------------------------
