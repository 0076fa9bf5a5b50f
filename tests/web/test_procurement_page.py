"""The procurement pages over ASGI: contracts with what is committed and the cap left,
purchase orders with each line delivered and outstanding, and the forms that write them
(stores and finance only) through the domain's functions."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from db.engine import connection
from tests import factories as f
from tests.conftest import unique
from tests.web.conftest import SignedInFactory


async def _contract_with_an_order(cap: str = "10000.00") -> dict[str, Any]:
    """A contract capped at £10,000 with an order of 20 × £289 (£5,780), 3 delivered."""
    contract = await f.contract(value_cap=Decimal(cap))
    model = await f.device_model()
    po = await f.insert(
        "purchase_order",
        number=unique("PO")[:12],
        contract_id=contract["id"],
        raised_on=dt.date(2022, 10, 1),
    )
    await f.insert(
        "purchase_order_line",
        purchase_order_id=po["id"],
        model_id=model["id"],
        quantity=20,
        unit_cost=Decimal("289.00"),
    )
    for _ in range(3):
        await f.asset(model, purchase_order_id=po["id"])
    return {"contract": contract, "model": model, "po": po}


def _events(rows: list[Any]) -> list[tuple[str, str]]:
    return [(r["action"], r["actor_name"]) for r in rows]


async def test_contracts_show_what_is_committed_and_the_cap_left(
    signed_in_as: SignedInFactory,
) -> None:
    made = await _contract_with_an_order()
    reference = made["contract"]["reference"]
    me = await signed_in_as("engineer")
    r = await me.client.get("/procurement", params={"q": reference})
    assert r.status_code == 200
    row = r.text.split(f">{reference}</a>", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<td class="num">([^<]+)</td>', row) == [
        "£10,000.00",
        "£5,780.00",
        "£4,220.00",
    ]
    page = await me.client.get(f"/procurement/contracts/{made['contract']['id']}")
    assert page.status_code == 200
    order_row = page.text.split(made["po"]["number"], 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<td class="num">(\d+)', order_row) == ["20", "3", "17"]
    # An engineer reads procurement but does not write it: no buttons to.
    assert "New purchase order on it" not in page.text and "Edit the contract" not in page.text


async def test_a_purchase_order_shows_each_line_delivered_and_outstanding(
    signed_in_as: SignedInFactory,
) -> None:
    made = await _contract_with_an_order()
    other = await f.device_model(manufacturer="Zebra")
    await f.asset(other, purchase_order_id=made["po"]["id"])  # a model the order lacks
    me = await signed_in_as("auditor")
    r = await me.client.get(f"/procurement/purchase-orders/{made['po']['id']}")
    assert r.status_code == 200
    line = r.text.split(made["model"]["model_name"], 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r'<td class="num">(?:<strong>)?([^<]+)', line)
    assert cells == ["20", "£289.00", "£5,780.00", "3", "17", "0"]
    assert "for a model it does not list" in r.text and other["model_name"] in r.text
    listed = await me.client.get(
        "/procurement/purchase-orders", params={"number": made["po"]["number"]}
    )
    assert listed.text.count('href="/procurement/purchase-orders/') == 1
    assert "1 over" in listed.text


async def test_finance_creates_then_edits_a_contract_with_its_charges(
    signed_in_as: SignedInFactory,
) -> None:
    supplier = await f.supplier()
    me = await signed_in_as("finance")
    form = await me.client.get("/procurement/contracts/new")
    assert form.status_code == 200 and f'value="{supplier["id"]}"' in form.text
    reference = unique("AIR-")
    r = await me.post(
        "/procurement/contracts",
        {
            "reference": reference,
            "supplier_id": str(supplier["id"]),
            "kind": "airtime",
            "title": "Airtime",
            "starts_on": "2025-04-01",
            "ends_on": "2028-03-31",
            "value_cap": "£1,500,000",
            "charges-0-description": "per active SIM",
            "charges-0-applies_to": "sim",
            "charges-0-unit_amount": "5.50",
            "charges-0-period": "month",
        },
    )
    assert r.status_code == 303, r.text
    shown = await me.client.get(r.headers["location"])
    assert f"Contract {reference} created." in shown.text
    assert "£1,500,000.00" in shown.text and "£5.50 a month" in shown.text
    contract_id = int(r.headers["location"].rsplit("/", 1)[1])
    edit = await me.client.get(f"/procurement/contracts/{contract_id}/edit")
    version = re.search(r'name="version" value="(\d+)"', edit.text)
    assert version and 'value="5.50"' in edit.text
    values = {
        "reference": reference,
        "supplier_id": str(supplier["id"]),
        "kind": "airtime",
        "title": "Airtime (re-procured)",
        "starts_on": "2025-04-01",
        "ends_on": "2029-03-31",
        "value_cap": "1500000.00",
        "charges-0-description": "per active SIM",
        "charges-0-applies_to": "sim",
        "charges-0-unit_amount": "4.95",
        "charges-0-period": "month",
        "version": version.group(1),
    }
    r = await me.post(f"/procurement/contracts/{contract_id}", values)
    assert r.status_code == 303
    assert "£4.95 a month" in (await me.client.get(r.headers["location"])).text
    # The same form again, opened before that change: refused, nothing overwritten.
    r = await me.post(f"/procurement/contracts/{contract_id}", {**values, "title": "Stale"})
    assert r.status_code == 412 and "Someone changed this since you opened it" in r.text
    async with connection() as conn:
        events = await conn.fetch(
            "SELECT action, actor_name FROM event WHERE entity = 'contract' AND entity_id = $1"
            " ORDER BY id",
            contract_id,
        )
    assert _events(events) == [
        ("created", f"user:{me.account.id}"),
        ("updated", f"user:{me.account.id}"),
    ]


async def test_a_contract_form_with_problems_shows_each_beside_its_field(
    signed_in_as: SignedInFactory,
) -> None:
    me = await signed_in_as("stores")
    r = await me.post(
        "/procurement/contracts",
        {
            "reference": "",
            "kind": "airtime",
            "starts_on": "01/04/2025",
            "charges-0-applies_to": "sim",
            "charges-0-unit_amount": "lots",
            "charges-0-period": "month",
        },
    )
    assert r.status_code == 422
    for field in ("supplier_id", "starts_on"):
        assert f'id="field-{field}-error"' in r.text, field
    assert 'value="lots"' in r.text  # what they typed, to correct
    r = await me.post(
        "/procurement/contracts",
        {
            "reference": "",
            "supplier_id": str((await f.supplier())["id"]),
            "kind": "airtime",
            "starts_on": "2025-04-01",
            "charges-1-applies_to": "sim",
            "charges-1-unit_amount": "lots",
            "charges-1-period": "month",
        },
    )
    assert r.status_code == 422
    assert 'id="field-reference-error"' in r.text
    # The charge's own cell: the first filled row is the domain's charges.0.
    assert 'id="field-charges-0-unit_amount-error"' in r.text


async def test_a_purchase_order_over_the_cap_is_refused_beside_its_lines(
    signed_in_as: SignedInFactory,
) -> None:
    made = await _contract_with_an_order()
    me = await signed_in_as("stores")
    form = await me.client.get(
        "/procurement/purchase-orders/new", params={"contract": made["contract"]["id"]}
    )
    assert form.status_code == 200
    assert f'<option value="{made["contract"]["id"]}" selected>' in form.text
    number = unique("PO")[:12]
    values = {
        "number": number,
        "contract_id": str(made["contract"]["id"]),
        "raised_on": "2025-01-10",
        "status": "open",
        "lines-0-model_id": str(made["model"]["id"]),
        "lines-0-quantity": "15",
        "lines-0-unit_cost": "289.00",
    }
    r = await me.post("/procurement/purchase-orders", values)
    assert r.status_code == 409
    assert 'id="field-lines-error"' in r.text and "would exceed the cap by £115.00" in r.text
    r = await me.post("/procurement/purchase-orders", {**values, "lines-0-quantity": "14"})
    assert r.status_code == 303
    order_id = int(r.headers["location"].rsplit("/", 1)[1])
    shown = await me.client.get(r.headers["location"])
    assert f"Purchase order {number} raised." in shown.text
    edit = await me.client.get(f"/procurement/purchase-orders/{order_id}/edit")
    version = re.search(r'name="version" value="(\d+)"', edit.text)
    assert version
    r = await me.post(
        f"/procurement/purchase-orders/{order_id}",
        {**values, "lines-0-quantity": "14", "status": "cancelled", "version": version.group(1)},
    )
    assert r.status_code == 303
    page = await me.client.get(f"/procurement/contracts/{made['contract']['id']}")
    assert "£4,220.00" in page.text  # a cancelled order commits nothing


async def test_suppliers_are_listed_and_added(signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("finance")
    name = unique("Telent ")
    r = await me.post("/procurement/suppliers", {"name": name})
    assert r.status_code == 303
    listed = await me.client.get(r.headers["location"])
    assert f"Supplier “{name}” added" in listed.text
    r = await me.post("/procurement/suppliers", {"name": "  "})
    assert r.status_code == 422 and 'id="field-name-error"' in r.text


async def test_roles_that_may_not_write_procurement_are_refused(
    signed_in_as: SignedInFactory,
) -> None:
    made = await _contract_with_an_order()
    for role in ("engineer", "mdm", "auditor"):
        me = await signed_in_as(role)
        listed = await me.client.get("/procurement")
        assert listed.status_code == 200 and "New contract" not in listed.text
        r = await me.post(f"/procurement/contracts/{made['contract']['id']}", {"reference": "X"})
        assert r.status_code == 403, role
        assert (await me.client.get("/procurement/purchase-orders/new")).status_code == 403
