"""What suppliers, contracts, purchase orders and licence pools share: who may read and
write them, and ids beyond the database's range."""

from __future__ import annotations

import httpx

from tests import factories
from tests.api.test_licences import new_pool
from tests.conftest import ClientFactory, unique


async def test_roles(client_for: ClientFactory, anon: httpx.AsyncClient) -> None:
    contract = await factories.contract("licence")
    model = await factories.device_model()
    admin = await client_for("admin")
    pool = await new_pool(admin, seats=100)
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
    pool = await new_pool(admin, seats=1)
    r = await admin.post(f"/api/v1/licences/{pool['id']}/seats", json={"asset_id": huge})
    assert r.status_code == 422
    r = await admin.post(f"/api/v1/licences/{pool['id']}/seats/{huge}/release")
    assert r.status_code == 404
