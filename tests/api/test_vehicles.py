"""Vehicles: fleet number and registration (VRM), both unique in any spelling."""

from __future__ import annotations

import random
import string
from typing import Any

import httpx

from tests import factories
from tests.conftest import ClientFactory, unique


def new_vrm() -> str:
    """A current-style UK registration, written the way people type it: ``bx21 aqz``."""
    letters = "".join(random.choice(string.ascii_lowercase) for _ in range(5))
    return f"{letters[:2]}{random.randint(10, 99)} {letters[2:]}"


async def _new_vehicle(eng: httpx.AsyncClient, **kw: object) -> dict[str, object]:
    body = {"fleet_number": unique("f")[:10], "vrm": new_vrm(), "description": "IRV", **kw}
    r = await eng.post("/api/v1/vehicles", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_create_get_patch_with_etag_and_events(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    bu = await factories.business_unit()
    fleet = unique("f")[:10]
    vrm = new_vrm()
    r = await eng.post(
        "/api/v1/vehicles",
        json={
            "fleet_number": f" {fleet} ",
            "vrm": f" {vrm} ",
            "description": "BMW 330e Touring IRV",
            "business_unit_id": bu["id"],
        },
    )
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["fleet_number"] == fleet.upper()
    assert v["vrm"] == vrm.replace(" ", "").upper()
    assert v["status"] == "active" and v["business_unit_id"] == bu["id"]
    assert r.headers["etag"] == '"1"'

    r = await eng.get(f"/api/v1/vehicles/{v['id']}")
    assert r.status_code == 200 and r.json() == v and r.headers["etag"] == '"1"'

    r = await eng.patch(
        f"/api/v1/vehicles/{v['id']}", json={"status": "off_road"}, headers={"If-Match": '"1"'}
    )
    assert r.status_code == 200 and r.json()["status"] == "off_road"
    assert r.headers["etag"] == '"2"'
    r = await eng.patch(
        f"/api/v1/vehicles/{v['id']}",
        json={"status": "decommissioned"},
        headers={"If-Match": '"1"'},
    )
    assert r.status_code == 412
    assert (await eng.get(f"/api/v1/vehicles/{v['id']}")).json()["status"] == "off_road"

    auditor = await client_for("auditor")
    events = (await auditor.get(f"/api/v1/events?entity=vehicle&entity_id={v['id']}")).json()
    assert [e["action"] for e in events["items"]] == ["created", "updated"]
    assert events["items"][1]["before"] == {"status": "active"}
    assert events["items"][1]["after"] == {"status": "off_road"}


async def test_duplicates_are_409_in_any_spelling(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    first = await _new_vehicle(eng)
    vrm = str(first["vrm"])
    spaced = f"{vrm[:4].lower()}  {vrm[4:].lower()}"
    r = await eng.post("/api/v1/vehicles", json={"fleet_number": unique("f")[:10], "vrm": spaced})
    assert r.status_code == 409
    assert r.json()["existing_id"] == first["id"]
    assert r.json()["errors"][0]["field"] == "vrm"

    r = await eng.post(
        "/api/v1/vehicles",
        json={"fleet_number": str(first["fleet_number"]).lower(), "vrm": new_vrm()},
    )
    assert r.status_code == 409
    assert r.json()["existing_id"] == first["id"]
    assert r.json()["errors"][0]["field"] == "fleet_number"

    # Changing a registration onto another vehicle's is refused the same way.
    other = await _new_vehicle(eng)
    r = await eng.patch(f"/api/v1/vehicles/{other['id']}", json={"vrm": spaced})
    assert r.status_code == 409 and r.json()["existing_id"] == first["id"]


async def test_validation_names_field_and_rule(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    r = await eng.post(
        "/api/v1/vehicles",
        json={
            "fleet_number": unique("f")[:10],
            "vrm": "BX21-AAA!",
            "status": "parked",
            "business_unit_id": 999999999,
        },
    )
    assert r.status_code == 422
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert errors == {
        "vrm": "registration must be 2 to 8 letters and digits, such as BX21 AAA",
        "status": "status must be one of: active, off_road, decommissioned",
        "business_unit_id": "no business unit with id 999999999",
    }
    r = await eng.post("/api/v1/vehicles", json={"fleet_number": "", "vrm": new_vrm()})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "fleet_number"


async def test_list_filters_and_paginates(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    bu = await factories.business_unit()
    tag = unique()[:6]
    vehicles = [
        await _new_vehicle(eng, business_unit_id=bu["id"], description=f"Van {tag} {i}")
        for i in range(3)
    ]
    await eng.patch(f"/api/v1/vehicles/{vehicles[1]['id']}", json={"status": "off_road"})

    async def ids(**params: Any) -> list[int]:
        r = await eng.get("/api/v1/vehicles", params=params)
        assert r.status_code == 200, r.text
        return [v["id"] for v in r.json()["items"]]

    vrm = str(vehicles[0]["vrm"])
    assert await ids(vrm=f"{vrm[:4].lower()} {vrm[4:].lower()}") == [vehicles[0]["id"]]
    assert await ids(fleet_number=str(vehicles[2]["fleet_number"]).lower()) == [vehicles[2]["id"]]
    assert await ids(business_unit=bu["code"]) == [v["id"] for v in vehicles]
    assert await ids(business_unit=bu["code"], status="off_road") == [vehicles[1]["id"]]
    assert await ids(q=tag) == [v["id"] for v in vehicles]

    page = (await eng.get("/api/v1/vehicles", params={"q": tag, "limit": 2})).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = (
        await eng.get("/api/v1/vehicles", params={"q": tag, "cursor": page["next_cursor"]})
    ).json()
    assert [v["id"] for v in rest["items"]] == [vehicles[2]["id"]]

    r = await eng.get("/api/v1/vehicles", params={"vrm": "not a vrm!"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "vrm"


async def test_roles(client_for: ClientFactory, anon: httpx.AsyncClient) -> None:
    vehicle = await factories.vehicle()
    for role, can_write in [
        ("admin", True),
        ("engineer", True),
        ("stores", True),
        ("finance", False),
        ("mdm", False),
        ("auditor", False),
    ]:
        c = await client_for(role)
        assert (await c.get("/api/v1/vehicles?limit=1")).status_code == 200, role
        assert (await c.get(f"/api/v1/vehicles/{vehicle['id']}")).status_code == 200, role
        r = await c.post(
            "/api/v1/vehicles", json={"fleet_number": unique("f")[:10], "vrm": new_vrm()}
        )
        assert r.status_code == (201 if can_write else 403), role
        r = await c.patch(f"/api/v1/vehicles/{vehicle['id']}", json={"description": role})
        assert r.status_code == (200 if can_write else 403), role
    assert (await anon.get("/api/v1/vehicles")).status_code == 401
