"""Suppliers, contracts, purchase orders and licence pools: what the fleet is bought on."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Any

import httpx

from tests import factories
from tests.conftest import ClientFactory, unique


async def _events(client_for: ClientFactory, entity: str, entity_id: object) -> list[Any]:
    auditor = await client_for("auditor")
    r = await auditor.get(f"/api/v1/events?entity={entity}&entity_id={entity_id}")
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


# --- suppliers -------------------------------------------------------------------------------


async def test_supplier_create_get_patch_and_duplicate(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    name = unique("Vodafone ")
    r = await stores.post("/api/v1/suppliers", json={"name": f"  {name} "})
    assert r.status_code == 201, r.text
    supplier = r.json()
    assert supplier["name"] == name and r.headers["etag"] == '"1"'
    assert (await stores.get(f"/api/v1/suppliers/{supplier['id']}")).json() == supplier

    r = await stores.post("/api/v1/suppliers", json={"name": name})
    assert r.status_code == 409 and r.json()["existing_id"] == supplier["id"]

    r = await stores.patch(
        f"/api/v1/suppliers/{supplier['id']}",
        json={"name": f"{name} UK"},
        headers={"If-Match": '"1"'},
    )
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    r = await stores.patch(
        f"/api/v1/suppliers/{supplier['id']}", json={"name": "x"}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 412

    found = (await stores.get("/api/v1/suppliers", params={"name": f"{name} uk"})).json()
    assert [s["id"] for s in found["items"]] == [supplier["id"]]
    found = (await stores.get("/api/v1/suppliers", params={"q": name[-6:]})).json()
    assert [s["id"] for s in found["items"]] == [supplier["id"]]

    r = await stores.post("/api/v1/suppliers", json={"name": " "})
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "name", "message": "name must not be empty"}]


# --- contracts -------------------------------------------------------------------------------


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


# --- purchase orders -------------------------------------------------------------------------


async def test_order_lines_delivered_and_contract_figures(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    contract = await factories.contract(value_cap=Decimal("100000.00"))
    phone = await factories.device_model()
    dock = await factories.device_model("vehicle_dock", manufacturer="Brodit")
    stray = await factories.device_model("accessory", manufacturer="Zagg")
    number = unique("PO")
    r = await stores.post(
        "/api/v1/purchase-orders",
        json={
            "number": number,
            "contract_id": contract["id"],
            "raised_on": "2022-10-01",
            "lines": [
                {"model_id": phone["id"], "quantity": 3, "unit_cost": "289.00"},
                {"model_id": dock["id"], "quantity": 2, "unit_cost": "150.5"},
            ],
        },
    )
    assert r.status_code == 201, r.text
    po = r.json()
    assert po["total_value"] == "1168.00" and po["status"] == "open"
    assert po["contract_reference"] == contract["reference"]
    assert [(ln["quantity"], ln["delivered"], ln["outstanding"]) for ln in po["lines"]] == [
        (3, 0, 3),
        (2, 0, 2),
    ]

    # Deliveries are the assets received on the order: 2 of 3 phones, 3 docks for 2 ordered,
    # and an item the order never asked for.
    for _ in range(2):
        await factories.asset(phone, purchase_order_id=po["id"])
    for _ in range(3):
        await factories.asset(dock, purchase_order_id=po["id"])
    await factories.asset(stray, purchase_order_id=po["id"])

    r = await stores.get(f"/api/v1/purchase-orders/{po['id']}")
    lines = {ln["model_id"]: ln for ln in r.json()["lines"]}
    assert lines[phone["id"]] | {} == {
        "model_id": phone["id"],
        "manufacturer": "Samsung",
        "model_name": phone["model_name"],
        "quantity": 3,
        "unit_cost": "289.00",
        "value": "867.00",
        "delivered": 2,
        "outstanding": 1,
        "over_delivered": 0,
    }
    assert (lines[dock["id"]]["delivered"], lines[dock["id"]]["outstanding"]) == (3, 0)
    assert lines[dock["id"]]["over_delivered"] == 1
    assert r.json()["unordered_deliveries"] == [{"model_id": stray["id"], "delivered": 1}]

    c = (await stores.get(f"/api/v1/contracts/{contract['id']}")).json()
    assert c["committed_value"] == "1168.00" and c["remaining_cap"] == "98832.00"
    assert c["purchase_orders"] == [
        {"id": po["id"], "number": number, "status": "open", "ordered": 5, "delivered": 6}
    ]

    listed = (await stores.get("/api/v1/purchase-orders", params={"number": number})).json()
    assert listed["items"] == [r.json()]


async def test_order_over_contract_cap_is_refused(client_for: ClientFactory) -> None:
    finance = await client_for("finance")
    contract = await factories.contract(value_cap=Decimal("1000.00"))
    model = await factories.device_model()

    async def order(quantity: int, **kw: Any) -> httpx.Response:
        return await finance.post(
            "/api/v1/purchase-orders",
            json={
                "number": unique("PO"),
                "contract_id": contract["id"],
                "raised_on": "2023-01-01",
                "lines": [{"model_id": model["id"], "quantity": quantity, "unit_cost": "300.00"}],
                **kw,
            },
        )

    first = await order(2)
    assert first.status_code == 201
    r = await order(2)
    assert r.status_code == 409
    assert r.json()["detail"] == (
        f"contract {contract['reference']} has a value cap of £1,000.00; £600.00 is already"
        " committed and this purchase order is £600.00, which would exceed the cap by £200.00"
    )
    third = await order(1)
    assert third.status_code == 201  # exactly to the cap

    # Cancelling an order frees its share of the cap; reopening it is checked again.
    po = first.json()
    r = await finance.patch(f"/api/v1/purchase-orders/{po['id']}", json={"status": "cancelled"})
    assert r.status_code == 200
    assert (await order(2)).status_code == 201
    r = await finance.patch(f"/api/v1/purchase-orders/{po['id']}", json={"status": "open"})
    assert r.status_code == 409
    # Raising a line's quantity over the cap is refused too, and changes nothing.
    r = await finance.patch(
        f"/api/v1/purchase-orders/{third.json()['id']}",
        json={"lines": [{"model_id": model["id"], "quantity": 9, "unit_cost": "300.00"}]},
    )
    assert r.status_code == 409
    assert (await finance.get(f"/api/v1/purchase-orders/{third.json()['id']}")).json()["lines"][0][
        "quantity"
    ] == 1


async def test_order_patch_lines_etag_and_events(client_for: ClientFactory) -> None:
    admin = await client_for("admin")
    contract = await factories.contract()
    a = await factories.device_model()
    b = await factories.device_model()
    r = await admin.post(
        "/api/v1/purchase-orders",
        json={
            "number": unique("PO"),
            "contract_id": contract["id"],
            "raised_on": "2023-01-01",
            "lines": [{"model_id": a["id"], "quantity": 1, "unit_cost": "10.00"}],
        },
    )
    po = r.json()
    assert r.headers["etag"] == '"1"'
    new_lines = [
        {"model_id": b["id"], "quantity": 4, "unit_cost": "20.00"},
        {"model_id": a["id"], "quantity": 1, "unit_cost": "10.00"},
    ]
    r = await admin.patch(
        f"/api/v1/purchase-orders/{po['id']}",
        json={"lines": new_lines, "status": "closed"},
        headers={"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["total_value"] == "90.00" and r.headers["etag"] == '"2"'
    r = await admin.patch(
        f"/api/v1/purchase-orders/{po['id']}", json={"status": "open"}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 412

    events = await _events(client_for, "purchase_order", po["id"])
    assert [e["action"] for e in events] == ["created", "updated"]
    assert events[0]["after"]["lines"] == [
        {"model_id": a["id"], "quantity": 1, "unit_cost": "10.00"}
    ]
    assert events[1]["before"] == {
        "status": "open",
        "lines": [{"model_id": a["id"], "quantity": 1, "unit_cost": "10.00"}],
    }
    assert events[1]["after"]["status"] == "closed"
    assert events[1]["after"]["lines"][0] == {
        "model_id": b["id"],
        "quantity": 4,
        "unit_cost": "20.00",
    }


async def test_order_validation_and_duplicates(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    contract = await factories.contract()
    model = await factories.device_model()
    number = unique("PO")
    r = await stores.post(
        "/api/v1/purchase-orders",
        json={
            "number": number,
            "contract_id": contract["id"],
            "raised_on": "2023-01-01",
            "status": "pending",
            "lines": [
                {"model_id": 999999999, "quantity": 1, "unit_cost": "1.00"},
                {"model_id": model["id"], "quantity": 0, "unit_cost": "12.345"},
                {"model_id": model["id"], "quantity": 1, "unit_cost": "1.00"},
            ],
        },
    )
    assert r.status_code == 422
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert errors == {
        "status": "status must be one of: open, closed, cancelled",
        "lines.0.model_id": "no device model with id 999999999",
        "lines.1.quantity": "quantity must be from 1 to 1000000",
        "lines.1.unit_cost": "unit_cost must be an amount in pounds with at most two decimal"
        ' places, not negative, written as a string such as "289.00"',
        "lines.2.model_id": f"device model {model['id']} is already on line 1; one line per model",
    }
    r = await stores.post(
        "/api/v1/purchase-orders",
        json={"number": number, "contract_id": 999999999, "raised_on": "2023-01-01"},
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"field": "contract_id", "message": "no contract with id 999999999"}
    ]

    first = await stores.post(
        "/api/v1/purchase-orders",
        json={"number": number, "contract_id": contract["id"], "raised_on": "2023-01-01"},
    )
    assert first.status_code == 201
    r = await stores.post(
        "/api/v1/purchase-orders",
        json={"number": number, "contract_id": contract["id"], "raised_on": "2023-01-01"},
    )
    assert r.status_code == 409 and r.json()["existing_id"] == first.json()["id"]
    assert (await stores.get("/api/v1/purchase-orders/999999999")).status_code == 404


async def test_order_list_filters_and_paginates(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    contract = await factories.contract()
    ids = []
    for status in ("open", "closed", "open"):
        r = await stores.post(
            "/api/v1/purchase-orders",
            json={
                "number": unique("PO"),
                "contract_id": contract["id"],
                "raised_on": "2023-01-01",
                "status": status,
            },
        )
        ids.append(r.json()["id"])
    page = (
        await stores.get(
            "/api/v1/purchase-orders", params={"contract_id": contract["id"], "limit": 2}
        )
    ).json()
    assert [p["id"] for p in page["items"]] == ids[:2]
    rest = (
        await stores.get(
            "/api/v1/purchase-orders",
            params={"contract_id": contract["id"], "cursor": page["next_cursor"]},
        )
    ).json()
    assert [p["id"] for p in rest["items"]] == ids[2:] and rest["next_cursor"] is None
    closed = (
        await stores.get(
            "/api/v1/purchase-orders", params={"contract_id": contract["id"], "status": "closed"}
        )
    ).json()
    assert [p["id"] for p in closed["items"]] == [ids[1]]
    r = await stores.get("/api/v1/purchase-orders", params={"status": "shut"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0] == {
        "field": "status",
        "message": "status must be one of: open, closed, cancelled",
    }


# --- licence pools ---------------------------------------------------------------------------


async def _new_pool(c: httpx.AsyncClient, seats: int) -> dict[str, Any]:
    contract = await factories.contract("licence")
    r = await c.post(
        "/api/v1/licences",
        json={
            "product": "NetMotion Mobility",
            "licence_key": unique("NM-"),
            "seats": seats,
            "contract_id": contract["id"],
            "unit_cost": "45.00",
        },
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_licence_pool_seats_assign_release_and_events(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    pool = await _new_pool(stores, seats=2)
    assert (pool["seats"], pool["seats_used"], pool["seats_free"]) == (2, 0, 2)
    assert pool["unit_cost"] == "45.00"
    tablet, other, third = [await factories.asset() for _ in range(3)]

    r = await stores.post(f"/api/v1/licences/{pool['id']}/seats", json={"asset_id": tablet["id"]})
    assert r.status_code == 201, r.text
    seat = r.json()
    assert seat["asset_id"] == tablet["id"] and seat["pool_id"] == pool["id"]

    r = await stores.post(f"/api/v1/licences/{pool['id']}/seats", json={"asset_id": tablet["id"]})
    assert r.status_code == 409 and r.json()["existing_id"] == seat["id"]
    assert r.json()["errors"][0]["field"] == "asset_id"

    await stores.post(f"/api/v1/licences/{pool['id']}/seats", json={"asset_id": other["id"]})
    got = (await stores.get(f"/api/v1/licences/{pool['id']}")).json()
    assert (got["seats_used"], got["seats_free"]) == (2, 0)
    r = await stores.post(f"/api/v1/licences/{pool['id']}/seats", json={"asset_id": third["id"]})
    assert r.status_code == 409 and "is full" in r.json()["detail"]

    # Fewer seats than are in use is refused.
    r = await stores.patch(f"/api/v1/licences/{pool['id']}", json={"seats": 1})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "seats"

    seats = (await stores.get(f"/api/v1/licences/{pool['id']}/seats")).json()
    assert [s["asset_id"] for s in seats["items"]] == [tablet["id"], other["id"]]

    r = await stores.post(f"/api/v1/licences/{pool['id']}/seats/{tablet['id']}/release")
    assert r.status_code == 200, r.text
    assert (r.json()["seats_used"], r.json()["seats_free"]) == (1, 1)
    r = await stores.post(f"/api/v1/licences/{pool['id']}/seats/{tablet['id']}/release")
    assert r.status_code == 404
    r = await stores.post(f"/api/v1/licences/{pool['id']}/seats", json={"asset_id": third["id"]})
    assert r.status_code == 201

    events = await _events(client_for, "licence_pool", pool["id"])
    assert [(e["action"], e["before"], e["after"]) for e in events[1:]] == [
        ("seat_assigned", None, {"asset_id": tablet["id"]}),
        ("seat_assigned", None, {"asset_id": other["id"]}),
        ("seat_released", {"asset_id": tablet["id"]}, None),
        ("seat_assigned", None, {"asset_id": third["id"]}),
    ]
    asset_events = await _events(client_for, "asset", tablet["id"])
    assert [e["action"] for e in asset_events] == [
        "licence_seat_assigned",
        "licence_seat_released",
    ]

    r = await stores.post(f"/api/v1/licences/{pool['id']}/seats", json={"asset_id": 999999999})
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "asset_id", "message": "no asset with id 999999999"}]
    r = await stores.post("/api/v1/licences/999999999/seats", json={"asset_id": third["id"]})
    assert r.status_code == 404


async def test_last_seat_goes_to_exactly_one_of_concurrent_requests(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    pool = await _new_pool(stores, seats=2)
    first = await factories.asset()
    await stores.post(f"/api/v1/licences/{pool['id']}/seats", json={"asset_id": first["id"]})
    racers = [await factories.asset() for _ in range(8)]

    results = await asyncio.gather(
        *(
            stores.post(f"/api/v1/licences/{pool['id']}/seats", json={"asset_id": a["id"]})
            for a in racers
        )
    )
    assert sorted(r.status_code for r in results) == [201] + [409] * 7
    got = (await stores.get(f"/api/v1/licences/{pool['id']}")).json()
    assert (got["seats_used"], got["seats_free"]) == (2, 0)


async def test_licence_pool_patch_duplicate_and_validation(client_for: ClientFactory) -> None:
    finance = await client_for("finance")
    pool = await _new_pool(finance, seats=5)
    r = await finance.patch(
        f"/api/v1/licences/{pool['id']}", json={"seats": 10}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 200 and r.json()["seats_free"] == 10
    r = await finance.patch(
        f"/api/v1/licences/{pool['id']}", json={"seats": 3}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 412
    r = await finance.post(
        "/api/v1/licences",
        json={
            "product": "NetMotion",
            "licence_key": pool["licence_key"],
            "seats": 0,
            "contract_id": pool["contract_id"],
        },
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "seats", "message": "seats must be from 1 to 10000000"}]
    r = await finance.post(
        "/api/v1/licences",
        json={
            "product": "NetMotion",
            "licence_key": pool["licence_key"],
            "seats": 1,
            "contract_id": pool["contract_id"],
        },
    )
    assert r.status_code == 409 and r.json()["existing_id"] == pool["id"]
    found = (
        await finance.get("/api/v1/licences", params={"contract_id": pool["contract_id"]})
    ).json()
    assert [p["id"] for p in found["items"]] == [pool["id"]]


# --- roles -----------------------------------------------------------------------------------


async def test_roles(client_for: ClientFactory, anon: httpx.AsyncClient) -> None:
    contract = await factories.contract("licence")
    model = await factories.device_model()
    admin = await client_for("admin")
    pool = await _new_pool(admin, seats=100)
    po = (
        await admin.post(
            "/api/v1/purchase-orders",
            json={"number": unique("PO"), "contract_id": contract["id"], "raised_on": "2023-01-01"},
        )
    ).json()
    supplier = await factories.supplier()
    procurement_writers = {"admin", "finance", "stores"}
    register_writers = {"admin", "engineer", "stores"}
    for role in ("admin", "engineer", "stores", "finance", "mdm", "auditor"):
        c = await client_for(role)
        for path in (
            "/api/v1/suppliers",
            f"/api/v1/suppliers/{supplier['id']}",
            "/api/v1/contracts",
            f"/api/v1/contracts/{contract['id']}",
            "/api/v1/purchase-orders",
            f"/api/v1/purchase-orders/{po['id']}",
            "/api/v1/licences",
            f"/api/v1/licences/{pool['id']}",
            f"/api/v1/licences/{pool['id']}/seats",
        ):
            assert (await c.get(path)).status_code == 200, (role, path)

        ok = role in procurement_writers
        writes = [
            (await c.post("/api/v1/suppliers", json={"name": unique()}), 201),
            (await c.patch(f"/api/v1/suppliers/{supplier['id']}", json={"name": unique()}), 200),
            (
                await c.post(
                    "/api/v1/contracts",
                    json={
                        "reference": unique(),
                        "supplier_id": supplier["id"],
                        "kind": "licence",
                        "starts_on": "2024-01-01",
                    },
                ),
                201,
            ),
            (await c.patch(f"/api/v1/contracts/{contract['id']}", json={"title": role}), 200),
            (
                await c.post(
                    "/api/v1/purchase-orders",
                    json={
                        "number": unique(),
                        "contract_id": contract["id"],
                        "raised_on": "2024-01-01",
                        "lines": [{"model_id": model["id"], "quantity": 1, "unit_cost": "1.00"}],
                    },
                ),
                201,
            ),
            (
                await c.patch(
                    f"/api/v1/purchase-orders/{po['id']}", json={"raised_on": "2024-02-01"}
                ),
                200,
            ),
            (
                await c.post(
                    "/api/v1/licences",
                    json={
                        "product": "P",
                        "licence_key": unique(),
                        "seats": 1,
                        "contract_id": contract["id"],
                    },
                ),
                201,
            ),
            (await c.patch(f"/api/v1/licences/{pool['id']}", json={"product": role}), 200),
        ]
        for r, status in writes:
            assert r.status_code == (status if ok else 403), (role, r.request.url, r.text)

        asset = await factories.asset(model)
        r = await c.post(f"/api/v1/licences/{pool['id']}/seats", json={"asset_id": asset["id"]})
        assert r.status_code == (201 if role in register_writers else 403), role
        if role not in register_writers:
            await admin.post(f"/api/v1/licences/{pool['id']}/seats", json={"asset_id": asset["id"]})
        r = await c.post(f"/api/v1/licences/{pool['id']}/seats/{asset['id']}/release")
        assert r.status_code == (200 if role in register_writers else 403), role

    for path in (
        "/api/v1/suppliers",
        "/api/v1/contracts",
        "/api/v1/purchase-orders",
        "/api/v1/licences",
    ):
        assert (await anon.get(path)).status_code == 401


async def test_out_of_range_ids_are_client_errors(client_for: ClientFactory) -> None:
    admin = await client_for("admin")
    huge = 2**70
    for path in (
        f"/api/v1/contracts/{huge}",
        f"/api/v1/purchase-orders/{huge}",
        f"/api/v1/licences/{huge}",
        f"/api/v1/suppliers/{huge}",
        f"/api/v1/people/{huge}",
        f"/api/v1/vehicles/{huge}",
        f"/api/v1/models/{huge}",
    ):
        assert (await admin.get(path)).status_code == 404, path
    for path, params in (
        ("/api/v1/contracts", {"supplier_id": huge}),
        ("/api/v1/purchase-orders", {"contract_id": huge}),
        ("/api/v1/licences", {"contract_id": huge}),
    ):
        r = await admin.get(path, params=params)
        assert r.status_code in (400, 422), (path, r.text)
    contract = await factories.contract()
    r = await admin.post(
        "/api/v1/purchase-orders",
        json={
            "number": unique("PO"),
            "contract_id": contract["id"],
            "raised_on": "2023-01-01",
            "lines": [{"model_id": huge, "quantity": huge, "unit_cost": "1.00"}],
        },
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"lines.0.model_id", "lines.0.quantity"}
    pool = await _new_pool(admin, seats=1)
    r = await admin.post(f"/api/v1/licences/{pool['id']}/seats", json={"asset_id": huge})
    assert r.status_code == 422
    r = await admin.post(f"/api/v1/licences/{pool['id']}/seats/{huge}/release")
    assert r.status_code == 404
