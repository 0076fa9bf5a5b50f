"""Purchase orders: lines, what was delivered on them, and the contract's value cap."""

from __future__ import annotations

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
