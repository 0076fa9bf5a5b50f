"""Suppliers: who the fleet is bought from."""

from __future__ import annotations

from tests.conftest import ClientFactory, unique


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
