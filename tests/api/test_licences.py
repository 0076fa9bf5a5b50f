"""Licence pools and their seats."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests import factories
from tests.conftest import ClientFactory, unique


async def _events(client_for: ClientFactory, entity: str, entity_id: object) -> list[Any]:
    auditor = await client_for("auditor")
    r = await auditor.get(f"/api/v1/events?entity={entity}&entity_id={entity_id}")
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def new_pool(c: httpx.AsyncClient, seats: int) -> dict[str, Any]:
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
    pool = await new_pool(stores, seats=2)
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
    pool = await new_pool(stores, seats=2)
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
    pool = await new_pool(finance, seats=5)
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
