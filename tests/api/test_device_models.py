"""Device models: part numbers, aliases, money, and refresh dates that follow the lifecycle."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from db.engine import connection
from tests import factories
from tests.conftest import ClientFactory, unique


async def new_model(eng: httpx.AsyncClient, **kw: object) -> dict[str, object]:
    body = {
        "manufacturer": "Samsung",
        "model_name": unique("Galaxy "),
        "category": "smartphone",
        "lifecycle_months": 36,
        "replacement_cost": "300.00",
        **kw,
    }
    r = await eng.post("/api/v1/models", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_create_get_patch_with_lists_etag_and_events(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    name = unique("Galaxy A32 ")
    pn = unique("SM-A325F")
    r = await eng.post(
        "/api/v1/models",
        json={
            "manufacturer": " Samsung ",
            "model_name": f" {name} ",
            "category": "smartphone",
            "lifecycle_months": 36,
            "replacement_cost": "300",
            "part_numbers": [f" {pn.lower()} ", pn],
            "aliases": [f"SAMSUNG  {name}   128GB Black"],
        },
    )
    assert r.status_code == 201, r.text
    model = r.json()
    assert model["manufacturer"] == "Samsung" and model["model_name"] == name
    assert model["replacement_cost"] == "300.00"
    assert model["part_numbers"] == [pn.upper()]
    assert model["aliases"] == [f"samsung {name.lower()} 128gb black"]
    assert r.headers["etag"] == '"1"'

    r = await eng.get(f"/api/v1/models/{model['id']}")
    assert r.status_code == 200 and r.json() == model and r.headers["etag"] == '"1"'

    pn2 = unique("SM-A326B")
    r = await eng.patch(
        f"/api/v1/models/{model['id']}",
        json={"part_numbers": [pn2, pn], "replacement_cost": "289.50"},
        headers={"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert sorted(r.json()["part_numbers"]) == sorted([pn.upper(), pn2.upper()])
    assert r.json()["replacement_cost"] == "289.50" and r.headers["etag"] == '"2"'

    r = await eng.patch(
        f"/api/v1/models/{model['id']}", json={"aliases": []}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 412
    assert (await eng.get(f"/api/v1/models/{model['id']}")).json()["aliases"] != []

    # Replacing a list with the same items (in another spelling) writes nothing.
    r = await eng.patch(
        f"/api/v1/models/{model['id']}", json={"part_numbers": [pn2.lower(), pn.lower()]}
    )
    assert r.json()["version"] == 2

    auditor = await client_for("auditor")
    events = (
        await auditor.get(f"/api/v1/events?entity=device_model&entity_id={model['id']}")
    ).json()["items"]
    assert [e["action"] for e in events] == ["created", "updated"]
    assert events[0]["after"]["part_numbers"] == [pn.upper()]
    assert events[1]["before"] == {"part_numbers": [pn.upper()], "replacement_cost": "300.00"}
    assert events[1]["after"] == {
        "part_numbers": sorted([pn.upper(), pn2.upper()]),
        "replacement_cost": "289.50",
    }


async def test_duplicates_are_409_naming_the_model(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    pn = unique("PN-")
    first = await new_model(eng, part_numbers=[pn], aliases=["Galaxy Thing 64GB"])

    # Same name in another case, same maker.
    r = await eng.post(
        "/api/v1/models",
        json={
            "manufacturer": "SAMSUNG",
            "model_name": str(first["model_name"]).upper(),
            "category": "smartphone",
        },
    )
    assert r.status_code == 409, r.text
    assert r.json().get("existing_id") == first["id"], r.text
    assert r.json()["errors"][0]["field"] == "model_name"

    # A part number another model already has, in another spelling.
    r = await eng.post(
        "/api/v1/models",
        json={
            "manufacturer": "Samsung",
            "model_name": unique("Other "),
            "category": "smartphone",
            "part_numbers": [f" {pn.lower()}"],
        },
    )
    assert r.status_code == 409
    assert r.json()["existing_id"] == first["id"]
    assert r.json()["errors"][0]["field"] == "part_numbers"
    assert pn.upper() in r.json()["detail"]

    # An alias is unique per manufacturer ...
    second = await new_model(eng)
    r = await eng.patch(f"/api/v1/models/{second['id']}", json={"aliases": ["galaxy   thing 64gb"]})
    assert r.status_code == 409
    assert r.json()["existing_id"] == first["id"]
    assert r.json()["errors"][0]["field"] == "aliases"
    # ... and the refused change left nothing behind.
    assert (await eng.get(f"/api/v1/models/{second['id']}")).json()["version"] == 1

    # ... but another maker may use the same words.
    await new_model(eng, manufacturer="Zebra", aliases=["Galaxy Thing 64GB"])


async def test_validation_names_field_and_rule(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    r = await eng.post(
        "/api/v1/models",
        json={
            "manufacturer": "Samsung",
            "model_name": "",
            "category": "phone",
            "lifecycle_months": 0,
            "replacement_cost": "12.345",
            "part_numbers": ["ok", " "],
        },
    )
    assert r.status_code == 422
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert errors == {
        "model_name": "model_name must not be empty",
        "category": "category must be one of: smartphone, ivma_tablet, vehicle_dock, tablet,"
        " accessory",
        "lifecycle_months": "lifecycle_months must be from 1 to 240 (or null)",
        "replacement_cost": "replacement_cost must be an amount in pounds with at most two"
        ' decimal places, not negative, written as a string such as "289.00"',
        "part_numbers.1": "part_numbers.1 must not be empty",
    }
    for bad in ("-1.00", "1e3", "£300", "NaN"):
        r = await eng.post(
            "/api/v1/models",
            json={
                "manufacturer": "Samsung",
                "model_name": unique(),
                "category": "tablet",
                "replacement_cost": bad,
            },
        )
        assert r.status_code == 422, bad
        assert r.json()["errors"][0]["field"] == "replacement_cost"
    # Money is a string: a JSON number would be read as a float.
    r = await eng.post(
        "/api/v1/models",
        json={
            "manufacturer": "Samsung",
            "model_name": unique(),
            "category": "tablet",
            "replacement_cost": 12.5,
        },
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "replacement_cost"


async def test_lifecycle_change_recomputes_refresh_dates(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    model = await factories.device_model(lifecycle_months=36)
    in_service = await factories.asset(
        model, in_service_on=dt.date(2022, 1, 15), refresh_due_on=dt.date(2025, 1, 15)
    )
    delivered_only = await factories.asset(
        model, delivered_on=dt.date(2021, 6, 1), refresh_due_on=dt.date(2024, 6, 1)
    )
    overridden = await factories.asset(
        model,
        in_service_on=dt.date(2022, 1, 15),
        refresh_due_override=dt.date(2030, 1, 1),
        refresh_due_on=dt.date(2030, 1, 1),
    )
    other_model_asset = await factories.asset(
        in_service_on=dt.date(2022, 1, 15), refresh_due_on=dt.date(2025, 1, 15)
    )

    r = await eng.patch(f"/api/v1/models/{model['id']}", json={"lifecycle_months": 48})
    assert r.status_code == 200, r.text

    async with connection() as conn:
        rows = {
            r["id"]: r
            for r in await conn.fetch(
                "SELECT id, refresh_due_on, version FROM asset WHERE id = ANY($1)",
                [in_service["id"], delivered_only["id"], overridden["id"], other_model_asset["id"]],
            )
        }
    assert rows[in_service["id"]]["refresh_due_on"] == dt.date(2026, 1, 15)
    assert rows[delivered_only["id"]]["refresh_due_on"] == dt.date(2025, 6, 1)
    assert rows[overridden["id"]]["refresh_due_on"] == dt.date(2030, 1, 1)
    assert rows[other_model_asset["id"]]["refresh_due_on"] == dt.date(2025, 1, 15)
    # Assets that changed have a new version (a stale ETag on them is now refused).
    assert rows[in_service["id"]]["version"] == 2 and rows[overridden["id"]]["version"] == 1

    auditor = await client_for("auditor")
    events = (
        await auditor.get(f"/api/v1/events?entity=asset&entity_id={in_service['id']}")
    ).json()["items"]
    assert [(e["action"], e["before"], e["after"]) for e in events] == [
        ("refresh_recomputed", {"refresh_due_on": "2025-01-15"}, {"refresh_due_on": "2026-01-15"})
    ]
    assert events[0]["actor_name"].startswith("t-engineer-")
    unchanged = (
        await auditor.get(f"/api/v1/events?entity=asset&entity_id={overridden['id']}")
    ).json()["items"]
    assert unchanged == []


async def test_manufacturer_of_a_model_with_assets_cannot_change(
    client_for: ClientFactory,
) -> None:
    eng = await client_for("engineer")
    empty = await new_model(eng, aliases=["Handheld One"])
    r = await eng.patch(f"/api/v1/models/{empty['id']}", json={"manufacturer": "Zebra"})
    assert r.status_code == 200 and r.json()["aliases"] == ["handheld one"]
    async with connection() as conn:
        maker = await conn.fetchval(
            "SELECT manufacturer FROM model_alias WHERE model_id = $1", empty["id"]
        )
    assert maker == "zebra"

    model = await factories.device_model()
    await factories.asset(model)
    r = await eng.patch(f"/api/v1/models/{model['id']}", json={"manufacturer": "Zebra"})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "manufacturer"
    # Only the spelling of the same maker may change.
    r = await eng.patch(f"/api/v1/models/{model['id']}", json={"manufacturer": "SAMSUNG"})
    assert r.status_code == 200


async def test_list_filters_and_paginates(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    maker = unique("Maker")
    pn = unique("PN")
    models = [
        await new_model(eng, manufacturer=maker, category="ivma_tablet", part_numbers=[pn]),
        await new_model(eng, manufacturer=maker, category="vehicle_dock", aliases=["Dock X"]),
        await new_model(eng, manufacturer=maker, category="vehicle_dock"),
    ]

    async def ids(**params: Any) -> list[int]:
        r = await eng.get("/api/v1/models", params=params)
        assert r.status_code == 200, r.text
        return [m["id"] for m in r.json()["items"]]

    assert await ids(manufacturer=maker.lower()) == [m["id"] for m in models]
    assert await ids(manufacturer=maker, category="vehicle_dock") == [
        models[1]["id"],
        models[2]["id"],
    ]
    assert await ids(part_number=pn.lower()) == [models[0]["id"]]
    assert await ids(q=pn[:-2].lower()) == [models[0]["id"]]
    assert await ids(q=maker) == [m["id"] for m in models]

    page = (await eng.get("/api/v1/models", params={"q": maker, "limit": 2})).json()
    assert len(page["items"]) == 2 and page["items"][0]["part_numbers"] == [pn.upper()]
    rest = (
        await eng.get("/api/v1/models", params={"q": maker, "cursor": page["next_cursor"]})
    ).json()
    assert [m["id"] for m in rest["items"]] == [models[2]["id"]] and rest["next_cursor"] is None


async def test_roles(client_for: ClientFactory, anon: httpx.AsyncClient) -> None:
    model = await factories.device_model()
    for role, can_write in [
        ("admin", True),
        ("engineer", True),
        ("stores", True),
        ("finance", False),
        ("mdm", False),
        ("auditor", False),
    ]:
        c = await client_for(role)
        assert (await c.get("/api/v1/models?limit=1")).status_code == 200, role
        assert (await c.get(f"/api/v1/models/{model['id']}")).status_code == 200, role
        r = await c.post(
            "/api/v1/models",
            json={"manufacturer": "Zebra", "model_name": unique(), "category": "accessory"},
        )
        assert r.status_code == (201 if can_write else 403), role
        r = await c.patch(f"/api/v1/models/{model['id']}", json={"model_name": unique()})
        assert r.status_code == (200 if can_write else 403), role
    assert (await anon.get("/api/v1/models")).status_code == 401
