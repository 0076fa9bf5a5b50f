"""The summary report: counts for rows we made appear, measured as deltas."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests import factories
from tests.api.test_mdm import graph_record, push
from tests.conftest import ClientFactory, unique


def _count(report: dict[str, Any], category: str, status: str, unit: str) -> int:
    return sum(
        c["assets"]
        for c in report["counts"]
        if (c["category"], c["status"], c["business_unit"]) == (category, status, unit)
    )


async def test_summary_counts_our_rows(client_for: ClientFactory) -> None:
    auditor = await client_for("auditor")
    before = (await auditor.get("/api/v1/reports/summary")).json()

    bu = await factories.business_unit()
    person = await factories.person(business_unit_id=bu["id"])
    leaver = await factories.person(business_unit_id=bu["id"], active=False)
    phones = await factories.device_model()
    for _ in range(3):
        await factories.asset(model=phones, status="deployed", person_id=person["id"])
    held_by_leaver = await factories.asset(model=phones, status="deployed", person_id=leaver["id"])
    managed = await factories.asset(model=phones)
    # Two devices the MDM reports: one in the register, one it does not know. Each holds an
    # MDM licence, so both count against the capacity.
    mdm = await client_for("mdm")
    records = [graph_record(serial=managed["serial_number"]), graph_record(serial=unique("S"))]
    assert (await push(mdm, unique("run-"), 1, records)).status_code == 200
    vehicle = await factories.vehicle(business_unit_id=bu["id"])
    tablet = await factories.asset(
        model=await factories.device_model("ivma_tablet"), status="deployed"
    )
    dock = await factories.asset(
        model=await factories.device_model("vehicle_dock"), status="deployed"
    )
    await factories.insert(
        "install",
        job_reference=unique(),
        vehicle_id=vehicle["id"],
        tablet_id=tablet["id"],
        dock_id=dock["id"],
        installed_on=dt.date(2022, 1, 1),
    )
    ending = await factories.contract(
        "airtime",
        ends_on=dt.date.today() + dt.timedelta(days=90),
        starts_on=dt.date(2020, 1, 1),
    )
    later = await factories.contract("airtime", ends_on=dt.date.today() + dt.timedelta(days=400))

    r = await auditor.get("/api/v1/reports/summary")
    assert r.status_code == 200
    after = r.json()
    code = bu["code"]
    assert _count(after, "smartphone", "deployed", code) == 4
    assert _count(after, "ivma_tablet", "deployed", code) == 1
    assert _count(after, "vehicle_dock", "deployed", code) == 1
    unassigned_stock = _count(after, "smartphone", "in_stock", "unassigned")
    assert unassigned_stock - _count(before, "smartphone", "in_stock", "unassigned") == 1
    assert after["total_assets"] - before["total_assets"] == 7

    assert after["leaver_devices"] - before["leaver_devices"] == 1
    assert {"asset_id": held_by_leaver["id"], "person_id": leaver["id"]} in after["leaver_sample"]
    assert after["devices_in_vehicles"] - before["devices_in_vehicles"] == 2
    assert after["vehicles_with_kit"] - before["vehicles_with_kit"] == 1
    assert after["mdm_managed"] - before["mdm_managed"] == 2
    assert after["mdm_headroom"] == after["mdm_capacity"] - after["mdm_managed"]
    # The MDM report counts the same devices against the same licence.
    capacity = (await auditor.get("/api/v1/mdm/discrepancies")).json()["capacity"]
    assert (capacity["managed"], capacity["headroom"]) == (
        after["mdm_managed"],
        after["mdm_headroom"],
    )
    assert managed["id"]

    refs = {c["reference"]: c for c in after["contracts_ending"]}
    assert refs[ending["reference"]]["days_left"] == 90
    assert refs[ending["reference"]]["kind"] == "airtime"
    assert later["reference"] not in refs


async def test_every_role_reads_the_summary(client_for: ClientFactory) -> None:
    for role in ("admin", "engineer", "stores", "finance", "mdm", "auditor"):
        c = await client_for(role)
        assert (await c.get("/api/v1/reports/summary")).status_code == 200, role


async def test_summary_shows_each_contract_against_its_cap_and_orders(
    client_for: ClientFactory,
) -> None:
    from decimal import Decimal

    contract = await factories.contract(value_cap=Decimal("10000.00"))
    model = await factories.device_model()
    po = await factories.insert(
        "purchase_order",
        number=unique("PO")[:20],
        contract_id=contract["id"],
        raised_on=dt.date(2022, 4, 1),
    )
    await factories.insert(
        "purchase_order_line",
        purchase_order_id=po["id"],
        model_id=model["id"],
        quantity=10,
        unit_cost=Decimal("289.00"),
    )
    cancelled = await factories.insert(
        "purchase_order",
        number=unique("PO")[:20],
        contract_id=contract["id"],
        raised_on=dt.date(2022, 5, 1),
        status="cancelled",
    )
    await factories.insert(
        "purchase_order_line",
        purchase_order_id=cancelled["id"],
        model_id=model["id"],
        quantity=5,
        unit_cost=Decimal("289.00"),
    )
    for _ in range(12):
        await factories.asset(model, purchase_order_id=po["id"])

    finance = await client_for("finance")
    r = await finance.get("/api/v1/reports/summary?contracts_within_days=30")
    assert r.status_code == 200, r.text
    [mine] = [c for c in r.json()["contracts"] if c["id"] == contract["id"]]
    assert mine["value_cap"] == "10000.00"
    assert mine["committed_value"] == "2890.00"  # the cancelled order commits nothing
    assert mine["remaining_cap"] == "7110.00"
    orders = {o["number"]: o for o in mine["purchase_orders"]}
    assert orders[po["number"]] == {
        "number": po["number"],
        "status": "open",
        "ordered": 10,
        "delivered": 12,
        "outstanding": 0,
        "over_delivered": 2,
    }
    assert orders[cancelled["number"]]["delivered"] == 0
    bad = await finance.get("/api/v1/reports/summary?contracts_within_days=0")
    assert bad.status_code in (400, 422)
