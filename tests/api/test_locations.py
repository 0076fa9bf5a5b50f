"""Locations: the record (list/create/get/patch), where each asset is kept (in the asset
document and its filter, on registering, on every move, held by the database too), and
where an import's devices arrive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from db.engine import connection, transaction
from tests import factories
from tests.api.test_assets_lifecycle import asset_in
from tests.api.test_imports import assets_of, csv_bytes, handset, order, upload
from tests.conftest import ClientFactory, unique

A = "/api/v1"


async def _events(client: httpx.AsyncClient, entity: str, entity_id: int) -> list[dict[str, Any]]:
    r = await client.get(f"{A}/events", params={"entity": entity, "entity_id": entity_id})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_create_get_patch_list_with_etag_and_events(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    unit = await factories.business_unit()
    code = unique("stn-")[:14]
    r = await stores.post(
        f"{A}/locations",
        json={"code": f" {code} ", "name": " Northtown station ", "business_unit_id": unit["id"]},
    )
    assert r.status_code == 201, r.text
    loc = r.json()
    assert (loc["code"], loc["name"], loc["business_unit_id"]) == (
        code.upper(),
        "Northtown station",
        unit["id"],
    )
    assert r.headers["etag"] == '"1"'
    r = await stores.patch(
        f"{A}/locations/{loc['id']}",
        json={"name": "Northtown police station"},
        headers={"If-Match": '"1"'},
    )
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    stale = await stores.patch(
        f"{A}/locations/{loc['id']}", json={"name": "Lost"}, headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 412
    reader = await client_for("mdm")
    got = await reader.get(f"{A}/locations/{loc['id']}")
    assert got.status_code == 200 and got.json()["name"] == "Northtown police station"
    for params in ({"code": code.lower()}, {"business_unit": unit["code"]}, {"q": "northtown"}):
        found = await reader.get(f"{A}/locations", params=params)
        assert loc["id"] in [x["id"] for x in found.json()["items"]], params
    auditor = await client_for("auditor")
    events = await _events(auditor, "location", loc["id"])
    assert [e["action"] for e in events] == ["created", "updated"]
    # Stores and admins write locations; the register's other writers do not.
    engineer = await client_for("engineer")
    assert (
        await engineer.post(f"{A}/locations", json={"code": "X", "name": "X"})
    ).status_code == 403


async def test_bad_locations_are_refused(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"code": "", "name": "A"}, "code"),
        ({"code": "has space", "name": "A"}, "code"),
        ({"code": "X" * 33, "name": "A"}, "code"),
        ({"code": unique("L"), "name": " "}, "name"),
        ({"code": unique("L"), "name": "A", "business_unit_id": 2_000_000_000}, "business_unit_id"),
    ]
    for body, field in cases:
        r = await stores.post(f"{A}/locations", json=body)
        assert r.status_code == 422, (body, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field]
    taken = await factories.location()
    r = await stores.post(f"{A}/locations", json={"code": taken["code"].lower(), "name": "B"})
    assert r.status_code == 409 and r.json()["existing_id"] == taken["id"]


async def test_the_default_location_was_made_by_the_migration(client_for: ClientFactory) -> None:
    reader = await client_for("finance")
    found = (await reader.get(f"{A}/locations", params={"code": "stores"})).json()["items"]
    assert [(x["code"], x["name"]) for x in found] == [("STORES", "Central stores")]


async def test_registering_keeps_a_new_device_in_stock_at_a_location(
    client_for: ClientFactory,
) -> None:
    eng = await client_for("engineer")
    model = await factories.device_model("tablet")
    store = await factories.location()
    r = await eng.post(f"{A}/assets", json={"model_id": model["id"], "serial_number": unique()})
    assert r.status_code == 201 and r.json()["location"] == "STORES"
    r = await eng.post(
        f"{A}/assets",
        json={"model_id": model["id"], "serial_number": unique(), "location_id": store["id"]},
    )
    assert r.status_code == 201 and r.json()["location"] == store["code"]
    r = await eng.post(
        f"{A}/assets",
        json={"model_id": model["id"], "serial_number": unique(), "status": "staging"},
    )
    assert r.status_code == 201 and r.json()["location"] is None
    r = await eng.post(
        f"{A}/assets/batch",
        json={
            "items": [
                {"model_id": model["id"], "serial_number": unique(), "location_id": 2_000_000_000},
                {
                    "model_id": model["id"],
                    "serial_number": unique(),
                    "status": "staging",
                    "location_id": store["id"],
                },
            ]
        },
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"field": "items.0.location_id", "message": "no location with id 2000000000"},
        {"field": "items.1.location_id", "message": "a device arriving in staging is kept nowhere"},
    ]


async def test_the_location_filter_and_document(client_for: ClientFactory) -> None:
    reader = await client_for("auditor")
    store = await factories.location()
    kept = [await factories.asset(location_id=store["id"]) for _ in range(2)]
    await factories.asset()  # at the default location
    r = await reader.get(f"{A}/assets", params={"location": store["code"].lower()})
    assert r.status_code == 200
    assert [x["id"] for x in r.json()["items"]] == [a["id"] for a in kept]
    assert {x["location"] for x in r.json()["items"]} == {store["code"]}
    none = await reader.get(f"{A}/assets", params={"location": unique("NOWHERE")})
    assert none.json()["items"] == []
    deployed = await asset_in("deployed")
    assert (await reader.get(f"{A}/assets/{deployed['id']}")).json()["location"] is None


async def test_moves_keep_a_location_exactly_in_stock_repair_and_rebuild(
    client_for: ClientFactory,
) -> None:
    eng = await client_for("engineer")
    north, south = await factories.location(), await factories.location()
    asset = await factories.asset(location_id=north["id"])
    person = await factories.person()

    async def move(body: dict[str, Any]) -> httpx.Response:
        return await eng.post(f"{A}/assets/{asset['id']}/transitions", json=body)

    # Into repair: it stays where it is kept unless told.
    r = await move({"to": "in_repair", "reason": "cracked screen"})
    assert r.status_code == 200 and r.json()["location"] == north["code"]
    r = await move({"to": "in_stock", "reason": "repaired", "location_id": south["id"]})
    assert r.json()["location"] == south["code"]
    # Deployed: kept nowhere; a location for it is refused.
    r = await move({"to": "deployed", "reason": "x", "person_id": person["id"], "location_id": 1})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "location_id"
    r = await move({"to": "deployed", "reason": "issued", "person_id": person["id"]})
    assert r.status_code == 200 and r.json()["location"] is None
    # Back: to the location it was last kept at (its history), unless told.
    r = await move({"to": "in_stock", "reason": "returned"})
    assert r.status_code == 200 and r.json()["location"] == south["code"]
    r = await move({"to": "lost", "reason": "gone"})
    assert r.json()["location"] is None
    r = await move({"to": "in_stock", "reason": "found", "location_id": 2_000_000_000})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"field": "location_id", "message": "no location with id 2000000000"}
    ]
    r = await move({"to": "in_stock", "reason": "found"})
    assert r.json()["location"] == south["code"]
    auditor = await client_for("auditor")
    issued = [
        e for e in await _events(auditor, "asset", asset["id"]) if e["action"] == "transition"
    ]
    assert issued[2]["before"]["location_id"] == south["id"]
    assert issued[2]["after"]["location_id"] is None
    assert issued[3]["after"]["location_id"] == south["id"]


async def test_a_device_with_no_location_in_its_history_goes_to_the_default(
    client_for: ClientFactory,
) -> None:
    eng = await client_for("engineer")
    model = await factories.device_model("tablet")
    made = await eng.post(
        f"{A}/assets",
        json={"model_id": model["id"], "serial_number": unique(), "status": "staging"},
    )
    r = await eng.post(
        f"{A}/assets/{made.json()['id']}/transitions", json={"to": "in_stock", "reason": "built"}
    )
    assert r.status_code == 200 and r.json()["location"] == "STORES"


async def test_kit_back_from_a_vehicle_returns_to_where_it_was_kept(
    client_for: ClientFactory,
) -> None:
    eng = await client_for("engineer")
    depot = await factories.location()
    tablet = await factories.asset(
        model=await factories.device_model("ivma_tablet"), location_id=depot["id"]
    )
    vehicle = await factories.vehicle()
    fitted = await eng.post(
        f"{A}/vehicles/{vehicle['id']}/installs",
        json={
            "job_reference": unique("J"),
            "tablet_id": tablet["id"],
            "installed_on": "2022-01-05",
        },
    )
    assert fitted.status_code == 201, fitted.text
    assert (await eng.get(f"{A}/assets/{tablet['id']}")).json()["location"] is None
    r = await eng.post(f"{A}/installs/{fitted.json()['id']}/removal", json={"reason": "faulty"})
    assert r.status_code == 200, r.text
    back = (await eng.get(f"{A}/assets/{tablet['id']}")).json()
    assert (back["status"], back["location"]) == ("in_repair", depot["code"])


async def test_the_database_ties_a_location_to_the_status(app: object) -> None:
    asset = await factories.asset()
    deployed = await asset_in("deployed")
    with pytest.raises(asyncpg.CheckViolationError):
        async with transaction() as conn:
            await conn.execute("UPDATE asset SET location_id = NULL WHERE id = $1", asset["id"])
    with pytest.raises(asyncpg.CheckViolationError):
        async with transaction() as conn:
            await conn.execute(
                "UPDATE asset SET location_id = $2 WHERE id = $1",
                deployed["id"],
                asset["location_id"],
            )


async def test_an_import_names_where_its_devices_arrive(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    depot = await factories.location()
    o = await order()
    content = csv_bytes([handset(o) for _ in range(2)])
    r = await stores.post(
        f"{A}/imports",
        files={"file": ("despatch.csv", content, "text/csv")},
        data={"profile": "vodafone-despatch", "location": depot["code"].lower()},
    )
    assert r.status_code == 201, r.text
    assert r.json()["location"] == depot["code"] and r.json()["status"] == "previewed"
    committed = await stores.post(f"{A}/imports/{r.json()['id']}/commit")
    assert committed.status_code == 200, committed.text
    assets = await assets_of(r.json()["id"])
    assert len(assets) == 2 and {a["location_id"] for a in assets} == {depot["id"]}
    auditor = await client_for("auditor")
    [created] = await _events(auditor, "asset", assets[0]["id"])
    assert created["after"]["location_id"] == depot["id"]

    # No location: the default one.
    plain = await upload(stores, csv_bytes([handset(o)]), mode="commit")
    assert plain.json()["location"] == "STORES"
    assert {a["location_id"] for a in await assets_of(plain.json()["id"])} == {
        await factories.default_location_id()
    }


async def test_an_import_to_a_location_that_does_not_exist_writes_nothing(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    o = await order()
    async with connection() as conn:
        before = await conn.fetchval("SELECT count(*) FROM delivery_import")
    r = await stores.post(
        f"{A}/imports",
        files={"file": ("despatch.csv", csv_bytes([handset(o)]), "text/csv")},
        data={"profile": "vodafone-despatch", "location": "NO-SUCH-STORE", "mode": "commit"},
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"field": "location", "message": "no location has the code NO-SUCH-STORE"}
    ]
    async with connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM delivery_import") == before
    install = await stores.post(
        f"{A}/imports",
        files={"file": ("jobs.csv", b"x", "text/csv")},
        data={"profile": "babcock-install", "location": "STORES"},
    )
    assert install.status_code == 422 and install.json()["errors"][0]["field"] == "location"


async def test_the_cli_import_takes_a_location(database_url: str, tmp_path: Path) -> None:
    from tests.fleetsvc.commands.test_imports import _cli

    depot = await factories.location()
    o = await order()
    row = handset(o)
    path = tmp_path / "despatch.csv"
    path.write_bytes(csv_bytes([row]))
    args = [str(path), "--profile", "vodafone-despatch", "--commit", "--location"]
    code, out, err = await _cli(database_url, *args, "NOWHERE", cwd=tmp_path)
    assert code != 0 and "no location has the code NOWHERE" in out + err
    code, out, err = await _cli(database_url, *args, depot["code"].lower(), cwd=tmp_path)
    assert code == 0, out + err
    assert f"arriving at {depot['code']}" in " ".join(out.split())
    async with connection() as conn:
        kept = await conn.fetchval("SELECT location_id FROM asset WHERE imei = $1", row["IMEI"])
    assert kept == depot["id"]
