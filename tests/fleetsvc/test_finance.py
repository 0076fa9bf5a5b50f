"""Refresh and recurring-cost forecasts, through the service functions.

Each test makes its own model, contract or business unit and asserts on its own
group only: other tests' assets are in the same database.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from db.engine import connection, transaction
from fleetsvc import finance
from fleetsvc.errors import ValidationFailed
from fleetsvc.finance import (
    ForecastParams,
    RecurringForecast,
    RefreshForecast,
    RefreshGroup,
    forecast_params,
)
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


async def refresh(params: ForecastParams) -> RefreshForecast:
    async with connection() as conn:
        return await finance.refresh_forecast(conn, params)


async def recurring(params: ForecastParams) -> RecurringForecast:
    async with connection() as conn:
        return await finance.recurring_forecast(conn, params)


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


def test_parameters_default_to_this_year_and_five_years() -> None:
    p = forecast_params(None, None, None, today=dt.date(2026, 1, 10))
    assert (p.first_year, p.years, p.group_by) == (2025, 5, "model")
    assert p.labels == ["2025/26", "2026/27", "2027/28", "2028/29", "2029/30"]
    assert p.horizon_start == dt.date(2025, 4, 1)
    assert p.horizon_last_day == dt.date(2030, 3, 31)


@pytest.mark.parametrize(
    "args,field,message",
    [
        (("2025-26", "5", None), "from", "a financial year like 2025/26"),
        (("2025/27", "5", None), "from", "a financial year like 2025/26"),
        (("2025/26", "0", None), "years", "a whole number of years from 1 to 20"),
        (("2025/26", "500", None), "years", "a whole number of years from 1 to 20"),
        (("2025/26", "two", None), "years", "a whole number of years from 1 to 20"),
        (("2025/26", "5", "colour"), "group_by", "one of model, category, contract, business_unit"),
        (
            ("9995/96", "5", None),
            "from",
            "a financial year like 2025/26; the forecast's last year must be 9998/99 or earlier",
        ),
    ],
)
def test_bad_parameters_say_what_is_accepted(args: tuple[Any, ...], field: str, message: str):
    with pytest.raises(ValidationFailed) as caught:
        forecast_params(*args)
    assert [(p.field, p.message) for p in caught.value.problems] == [(field, message)]


def test_the_last_possible_year_is_accepted() -> None:
    p = forecast_params("9994/95", "5", None)
    assert p.labels[-1] == "9998/99"
    assert p.horizon_last_day == dt.date(9999, 3, 31)


def test_output_format_from_parameter_or_accept() -> None:
    assert finance.output_format(None, None) == "json"
    assert finance.output_format(None, "text/csv") == "csv"
    assert finance.output_format("xlsx", "text/csv") == "xlsx"
    with pytest.raises(ValidationFailed) as caught:
        finance.output_format("pdf")
    assert caught.value.problems[0].field == "format"


# --- the refresh forecast ---------------------------------------------------------------------


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
    assert g.total == finance.Amount(3, D("750.00"))
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
    assert lines[(str(no_lifecycle["id"]), finance.UNPRICED_REASONS[finance.NO_LIFECYCLE])] == 1
    assert lines[(str(no_cost["id"]), finance.UNPRICED_REASONS[finance.NO_COST])] == 2
    assert lines[(str(priced["id"]), finance.UNPRICED_REASONS[finance.NO_DATES])] == 1
    # not counted in the year as £0
    g = group(report, no_cost["id"])
    assert g.total == finance.Amount(0, D("0.00"))
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


def contract_of(report: RecurringForecast, contract_id: int) -> finance.ContractForecast:
    [c] = [c for c in report.contracts if c.contract_id == contract_id]
    return c


async def charge(contract: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return await f.insert("contract_charge", contract_id=contract["id"], **kw)


async def test_airtime_contract_ending_mid_horizon_is_flagged_and_the_gap_listed() -> None:
    airtime = await f.contract(
        "airtime", starts_on=dt.date(2021, 4, 1), ends_on=dt.date(2026, 9, 30)
    )
    await charge(
        airtime, description="airtime", applies_to="sim", unit_amount=D("10.00"), period="month"
    )
    for _ in range(3):
        await f.sim(contract_id=airtime["id"], status="active")
    await f.sim(contract_id=airtime["id"], status="suspended")
    await f.sim(contract_id=airtime["id"], status="cancelled")

    report = await recurring(ForecastParams(2025, 3))

    c = contract_of(report, airtime["id"])
    assert c.ends_in_horizon is True
    assert c.ends_on == dt.date(2026, 9, 30)
    [ch] = c.charges
    assert (ch.kind, ch.units) == ("airtime", 3)
    assert [(y.year, y.months, y.cost) for y in ch.years] == [
        ("2025/26", 12, D("360.00")),
        ("2026/27", 6, D("180.00")),
        ("2027/28", 0, D("0.00")),
    ]
    assert c.total == D("540.00")
    assert c.gap == finance.Gap(dt.date(2026, 10, 1), dt.date(2028, 3, 31), 18, D("540.00"))
    assert airtime["reference"] in report.gaps


async def test_device_and_licence_charges_with_whole_month_pro_rating() -> None:
    support = await f.contract("reseller_framework", starts_on=dt.date(2025, 10, 1), ends_on=None)
    await charge(
        support,
        description="tablet support",
        applies_to="device",
        category="ivma_tablet",
        unit_amount=D("100.00"),
        period="year",
    )
    await charge(
        support,
        description="seat",
        applies_to="licence_seat",
        unit_amount=D("12.00"),
        period="year",
    )
    tablet = await f.device_model("ivma_tablet")
    phone = await f.device_model()
    await f.asset(tablet, contract_id=support["id"])
    await f.asset(tablet, contract_id=support["id"], status="deployed")
    await f.asset(tablet, contract_id=support["id"], status="stolen")
    await f.asset(phone, contract_id=support["id"])  # another category: not charged
    await f.insert(
        "licence_pool",
        product="NetMotion",
        licence_key=unique("KEY"),
        seats=100,
        contract_id=support["id"],
    )

    report = await recurring(ForecastParams(2025, 2))

    c = contract_of(report, support["id"])
    assert c.ends_in_horizon is False and c.gap is None
    devices, seats = c.charges
    assert (devices.kind, devices.units) == ("support", 2)
    # starts 1 October: six months of 2025/26; £100 a year × 2 × 6/12
    assert [y.cost for y in devices.years] == [D("100.00"), D("200.00")]
    assert (seats.kind, seats.units) == ("licence", 100)
    assert [y.cost for y in seats.years] == [D("600.00"), D("1200.00")]
    assert [y.cost for y in c.years] == [D("700.00"), D("1400.00")]


async def test_recurring_totals_add_up_and_year_charges_round_to_the_penny() -> None:
    con = await f.contract("licence", starts_on=dt.date(2025, 9, 15), ends_on=None)
    # an MDM licence per device, on a licence contract: a licence cost
    await charge(
        con, description="MDM", applies_to="device", unit_amount=D("100.00"), period="year"
    )
    model = await f.device_model()
    await f.asset(model, contract_id=con["id"])

    report = await recurring(ForecastParams(2025, 1))

    [ch] = contract_of(report, con["id"]).charges
    assert ch.kind == "licence"
    assert ch.years[0].months == 7  # September (part) to March
    assert ch.years[0].cost == D("58.33")
    for i, yt in enumerate(report.year_totals):
        assert yt.cost == sum(c.years[i].cost for c in report.contracts)
        assert yt.cost == sum(k.years[i].cost for k in report.by_kind)
    assert report.total == sum(y.cost for y in report.year_totals)
    for c in report.contracts:
        assert c.total == sum(ch.total for ch in c.charges)


async def test_installation_contract_charges_the_kit_fitted_under_it() -> None:
    install = await f.contract("installation", starts_on=dt.date(2021, 4, 1), ends_on=None)
    await charge(
        install,
        description="IVMA maintenance per vehicle",
        applies_to="device",
        category="ivma_tablet",
        unit_amount=D("45.00"),
        period="year",
    )
    tablet_model = await f.device_model("ivma_tablet")
    dock_model = await f.device_model("vehicle_dock")
    for removed in (None, dt.date(2024, 1, 1)):
        tablet = await f.asset(tablet_model, status="deployed")
        dock = await f.asset(dock_model, status="deployed")
        await f.insert(
            "install",
            job_reference=unique("JOB"),
            vehicle_id=(await f.vehicle())["id"],
            tablet_id=tablet["id"],
            dock_id=dock["id"],
            installer_contract_id=install["id"],
            installed_on=dt.date(2021, 9, 1),
            removed_on=removed,
            removal_reason="recovered" if removed else None,
        )

    [ch] = contract_of(await recurring(ForecastParams(2025, 1)), install["id"]).charges

    # the tablet still fitted; not its dock (another category), not the removed kit
    assert (ch.kind, ch.units) == ("support", 1)
    assert ch.years[0].cost == D("45.00")
