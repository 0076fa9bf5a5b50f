"""The recurring-cost forecast, through the service functions.

Each test makes its own contract and asserts on its own lines only: other tests'
records are in the same database.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from db.engine import connection
from fleetsvc.finance.forecast import (
    ForecastParams,
)
from fleetsvc.finance.recurring import ContractForecast, Gap, RecurringForecast, recurring_forecast
from tests import factories as f
from tests.conftest import unique

pytestmark = pytest.mark.usefixtures("app")

D = Decimal


async def recurring(params: ForecastParams) -> RecurringForecast:
    async with connection() as conn:
        return await recurring_forecast(conn, params)


def contract_of(report: RecurringForecast, contract_id: int) -> ContractForecast:
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
    assert c.gap == Gap(dt.date(2026, 10, 1), dt.date(2028, 3, 31), 18, D("540.00"))
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
