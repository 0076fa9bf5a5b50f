"""Contracts: recurring charges, and the figures derived from their purchase orders."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from tests import factories
from tests.conftest import ClientFactory, unique


async def _events(client_for: ClientFactory, entity: str, entity_id: object) -> list[Any]:
    auditor = await client_for("auditor")
    r = await auditor.get(f"/api/v1/events?entity={entity}&entity_id={entity_id}")
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def _new_contract(c: httpx.AsyncClient, **kw: Any) -> dict[str, Any]:
    if "supplier_id" not in kw:
        kw["supplier_id"] = (await factories.supplier())["id"]
    body = {
        "reference": unique("CON-"),
        "kind": "handset_supply",
        "title": "Handsets",
        "starts_on": "2021-04-01",
        "ends_on": "2027-03-31",
        **kw,
    }
    r = await c.post("/api/v1/contracts", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_contract_create_get_patch_charges_and_events(client_for: ClientFactory) -> None:
    finance = await client_for("finance")
    supplier = await factories.supplier()
    ref = unique("VF-AIR-")
    r = await finance.post(
        "/api/v1/contracts",
        json={
            "reference": f" {ref} ",
            "supplier_id": supplier["id"],
            "kind": "airtime",
            "title": "Airtime 2024",
            "starts_on": "2024-04-01",
            "ends_on": "2028-03-31",
            "value_cap": "3000000",
            "charges": [
                {
                    "description": "Data bundle",
                    "applies_to": "sim",
                    "unit_amount": "12.5",
                    "period": "month",
                },
                {
                    "applies_to": "device",
                    "category": "smartphone",
                    "unit_amount": "30.00",
                    "period": "year",
                },
            ],
        },
    )
    assert r.status_code == 201, r.text
    contract = r.json()
    assert contract["reference"] == ref and contract["supplier_name"] == supplier["name"]
    assert contract["value_cap"] == "3000000.00"
    assert contract["committed_value"] == "0.00"
    assert contract["remaining_cap"] == "3000000.00"
    assert contract["purchase_orders"] == []
    assert contract["charges"] == [
        {
            "description": "Data bundle",
            "applies_to": "sim",
            "category": None,
            "unit_amount": "12.50",
            "period": "month",
        },
        {
            "description": "",
            "applies_to": "device",
            "category": "smartphone",
            "unit_amount": "30.00",
            "period": "year",
        },
    ]
    assert r.headers["etag"] == '"1"'

    r = await finance.get(f"/api/v1/contracts/{contract['id']}")
    assert r.status_code == 200 and r.json()["charges"] == contract["charges"]
    expected_days = (dt.date(2028, 3, 31) - dt.date.today()).days
    assert r.json()["ends_in_days"] == expected_days
    assert r.json()["ending_soon"] is (0 <= expected_days <= 180)

    new_charges = [{"applies_to": "sim", "unit_amount": "9.99", "period": "month"}]
    r = await finance.patch(
        f"/api/v1/contracts/{contract['id']}",
        json={"charges": new_charges, "title": "Airtime 2024/28"},
        headers={"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"'
    assert [c["unit_amount"] for c in r.json()["charges"]] == ["9.99"]

    r = await finance.patch(
        f"/api/v1/contracts/{contract['id']}", json={"charges": []}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 412
    # The same charges again change nothing.
    r = await finance.patch(f"/api/v1/contracts/{contract['id']}", json={"charges": new_charges})
    assert r.json()["version"] == 2

    events = await _events(client_for, "contract", contract["id"])
    assert [e["action"] for e in events] == ["created", "updated"]
    assert len(events[0]["after"]["charges"]) == 2
    assert events[1]["before"]["title"] == "Airtime 2024"
    assert events[1]["before"]["charges"][0]["unit_amount"] == "12.50"
    assert events[1]["after"]["charges"] == [
        {
            "description": "",
            "applies_to": "sim",
            "category": None,
            "unit_amount": "9.99",
            "period": "month",
        }
    ]


async def test_contract_duplicate_reference_is_409(client_for: ClientFactory) -> None:
    admin = await client_for("admin")
    first = await _new_contract(admin)
    r = await admin.post(
        "/api/v1/contracts",
        json={
            "reference": first["reference"],
            "supplier_id": first["supplier_id"],
            "kind": "airtime",
            "starts_on": "2022-01-01",
        },
    )
    assert r.status_code == 409
    assert r.json()["existing_id"] == first["id"]
    assert r.json()["errors"][0]["field"] == "reference"


async def test_contract_validation_names_field_and_rule(client_for: ClientFactory) -> None:
    admin = await client_for("admin")
    r = await admin.post(
        "/api/v1/contracts",
        json={
            "reference": unique("C"),
            "supplier_id": 999999999,
            "kind": "lease",
            "starts_on": "2025-04-01",
            "ends_on": "2025-03-31",
            "value_cap": "12.345",
            "charges": [{"applies_to": "car", "unit_amount": "1.001", "period": "week"}],
        },
    )
    assert r.status_code == 422
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert errors == {
        "supplier_id": "no supplier with id 999999999",
        "kind": "kind must be one of: handset_supply, airtime, reseller_framework, installation,"
        " rebuild, licence",
        "ends_on": "ends_on must be on or after starts_on",
        "value_cap": "value_cap must be an amount in pounds with at most two decimal places,"
        ' not negative, written as a string such as "289.00"',
        "charges.0.applies_to": "charges.0.applies_to must be one of: sim, device, licence_seat",
        "charges.0.unit_amount": "unit_amount must be an amount in pounds with at most two"
        ' decimal places, not negative, written as a string such as "289.00"',
        "charges.0.period": "charges.0.period must be one of: month, year",
    }
    # An end date moved before the start on PATCH is caught against the stored start.
    contract = await _new_contract(admin)
    r = await admin.patch(f"/api/v1/contracts/{contract['id']}", json={"ends_on": "2020-01-01"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "ends_on"


async def test_contract_list_filters_and_paginates(client_for: ClientFactory) -> None:
    admin = await client_for("admin")
    supplier = await factories.supplier()
    today = dt.date.today()
    soon = await _new_contract(
        admin, supplier_id=supplier["id"], ends_on=(today + dt.timedelta(days=30)).isoformat()
    )
    later = await _new_contract(
        admin,
        supplier_id=supplier["id"],
        kind="licence",
        ends_on=(today + dt.timedelta(days=400)).isoformat(),
    )
    ended = await _new_contract(
        admin, supplier_id=supplier["id"], ends_on=(today - dt.timedelta(days=1)).isoformat()
    )

    async def ids(**params: Any) -> list[int]:
        r = await admin.get("/api/v1/contracts", params={"supplier_id": supplier["id"], **params})
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert await ids() == [soon["id"], later["id"], ended["id"]]
    assert await ids(kind="licence") == [later["id"]]
    assert await ids(ending_within_days=180) == [soon["id"]]
    assert await ids(within_days=500) == [soon["id"], later["id"]]
    assert await ids(q=later["reference"].lower()) == [later["id"]]

    r = await admin.get("/api/v1/contracts", params={"supplier_id": supplier["id"], "limit": 2})
    items = r.json()["items"]
    assert [c["ending_soon"] for c in items] == [True, False]
    assert "purchase_orders" not in items[0]
    rest = await admin.get(
        "/api/v1/contracts",
        params={"supplier_id": supplier["id"], "cursor": r.json()["next_cursor"]},
    )
    assert [c["id"] for c in rest.json()["items"]] == [ended["id"]]
    assert (await admin.get("/api/v1/contracts?within_days=-1")).status_code in (400, 422)
    # A kind that does not exist is a typo to point out, not an empty list.
    r = await admin.get("/api/v1/contracts?kind=handset")
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [
        {
            "field": "kind",
            "message": "kind must be one of: handset_supply, airtime, reseller_framework, "
            "installation, rebuild, licence",
        }
    ]
