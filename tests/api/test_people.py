"""People: officers, staff and specials who hold devices; leavers stay on record."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from tests import factories
from tests.conftest import ClientFactory, unique


async def _new_person(eng: httpx.AsyncClient, **kw: object) -> dict[str, object]:
    n = unique()
    body = {
        "employee_number": f" e{n.lower()} ",
        "upn": f"A.Smith{n}@Force.Police.UK",
        "display_name": f"Alex Smith {n}",
        **kw,
    }
    r = await eng.post("/api/v1/people", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_create_get_patch_with_etag_and_events(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    bu = await factories.business_unit()
    n = unique()
    r = await eng.post(
        "/api/v1/people",
        json={
            "employee_number": f" e{n.lower()} ",
            "upn": f"A.Smith{n}@Force.Police.UK",
            "display_name": " Alex Smith ",
            "business_unit_id": bu["id"],
            "kind": "staff",
        },
    )
    assert r.status_code == 201, r.text
    person = r.json()
    assert person["employee_number"] == f"E{n}"
    assert person["upn"] == f"a.smith{n.lower()}@force.police.uk"
    assert person["display_name"] == "Alex Smith"
    assert person["business_unit_id"] == bu["id"]
    assert person["kind"] == "staff" and person["active"] is True and person["left_on"] is None
    assert r.headers["etag"] == '"1"'
    # Only the fields the register needs: no extra personal data.
    assert set(person) == {
        "id",
        "employee_number",
        "upn",
        "display_name",
        "business_unit_id",
        "kind",
        "active",
        "left_on",
        "version",
        "created_at",
        "updated_at",
    }

    r = await eng.get(f"/api/v1/people/{person['id']}")
    assert r.status_code == 200 and r.headers["etag"] == '"1"'

    r = await eng.patch(
        f"/api/v1/people/{person['id']}",
        json={"kind": "officer"},
        headers={"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "officer" and r.headers["etag"] == '"2"'

    r = await eng.patch(
        f"/api/v1/people/{person['id']}",
        json={"kind": "special_constable"},
        headers={"If-Match": '"1"'},
    )
    assert r.status_code == 412
    assert (await eng.get(f"/api/v1/people/{person['id']}")).json()["kind"] == "officer"

    auditor = await client_for("auditor")
    events = (await auditor.get(f"/api/v1/events?entity=person&entity_id={person['id']}")).json()
    assert [e["action"] for e in events["items"]] == ["created", "updated"]
    assert events["items"][1]["before"] == {"kind": "staff"}
    assert events["items"][1]["after"] == {"kind": "officer"}


async def test_marking_a_leaver_defaults_left_on_to_today(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    person = await _new_person(eng)
    r = await eng.patch(f"/api/v1/people/{person['id']}", json={"active": False})
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False
    assert r.json()["left_on"] == dt.date.today().isoformat()

    other = await _new_person(eng)
    r = await eng.patch(
        f"/api/v1/people/{other['id']}", json={"active": False, "left_on": "2026-11-30"}
    )
    assert r.json()["left_on"] == "2026-11-30"

    # Rejoining clears the leaving date.
    r = await eng.patch(f"/api/v1/people/{other['id']}", json={"active": True})
    assert r.json()["active"] is True and r.json()["left_on"] is None

    # A leaving date on someone active is a mistake, not silently kept.
    r = await eng.patch(f"/api/v1/people/{other['id']}", json={"left_on": "2026-11-30"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "left_on"


async def test_duplicate_employee_number_and_upn_are_409_naming_existing(
    client_for: ClientFactory,
) -> None:
    eng = await client_for("engineer")
    first = await _new_person(eng)
    r = await eng.post(
        "/api/v1/people",
        json={
            "employee_number": str(first["employee_number"]).lower(),
            "display_name": "Someone Else",
        },
    )
    assert r.status_code == 409
    assert r.json()["existing_id"] == first["id"]
    assert r.json()["errors"][0]["field"] == "employee_number"

    r = await eng.post(
        "/api/v1/people",
        json={
            "employee_number": unique("E"),
            "upn": str(first["upn"]).upper(),
            "display_name": "Someone Else",
        },
    )
    assert r.status_code == 409
    assert r.json()["existing_id"] == first["id"]
    assert r.json()["errors"][0]["field"] == "upn"


async def test_validation_names_field_and_rule(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    r = await eng.post(
        "/api/v1/people",
        json={
            "employee_number": unique("E"),
            "upn": "not an email",
            "display_name": "",
            "kind": "sergeant",
            "business_unit_id": 999999999,
        },
    )
    assert r.status_code == 422
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert errors == {
        "upn": "upn must look like an e-mail address, such as a.smith@force.police.uk",
        "display_name": "display_name must not be empty",
        "kind": "kind must be one of: officer, staff, special_constable",
        "business_unit_id": "no business unit with id 999999999",
    }


async def test_missing_person_is_404(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    assert (await eng.get("/api/v1/people/999999999")).status_code == 404
    assert (await eng.get("/api/v1/people/99999999999999999999")).status_code == 404
    r = await eng.patch("/api/v1/people/999999999", json={"kind": "staff"})
    assert r.status_code == 404


async def test_list_filters_and_paginates(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    bu = await factories.business_unit()
    tag = unique()
    people = [
        await _new_person(eng, display_name=f"Pat {tag} {i}", business_unit_id=bu["id"])
        for i in range(3)
    ]
    await eng.patch(f"/api/v1/people/{people[2]['id']}", json={"active": False, "kind": "staff"})

    page = (await eng.get("/api/v1/people", params={"q": tag, "limit": 2})).json()
    assert [p["id"] for p in page["items"]] == [people[0]["id"], people[1]["id"]]
    rest = (
        await eng.get(
            "/api/v1/people", params={"q": tag, "limit": 2, "cursor": page["next_cursor"]}
        )
    ).json()
    assert [p["id"] for p in rest["items"]] == [people[2]["id"]] and rest["next_cursor"] is None

    async def ids(**params: Any) -> list[int]:
        r = await eng.get("/api/v1/people", params=params)
        assert r.status_code == 200, r.text
        return [p["id"] for p in r.json()["items"]]

    assert await ids(business_unit=str(bu["code"]).lower()) == [p["id"] for p in people]
    assert await ids(business_unit=bu["code"], active="false") == [people[2]["id"]]
    assert await ids(business_unit=bu["code"], kind="staff") == [people[2]["id"]]
    assert await ids(employee_number=str(people[1]["employee_number"]).lower()) == [people[1]["id"]]
    assert await ids(upn=str(people[0]["upn"]).upper()) == [people[0]["id"]]
    # q matches an employee number prefix and part of a UPN too.
    assert await ids(q=str(people[1]["employee_number"]).lower()) == [people[1]["id"]]
    # LIKE wildcards in q are literal characters.
    assert await ids(q="%", business_unit=bu["code"]) == []


async def test_roles(client_for: ClientFactory, anon: httpx.AsyncClient) -> None:
    person = await factories.person()
    for role, can_write in [
        ("admin", True),
        ("engineer", True),
        ("stores", True),
        ("finance", False),
        ("mdm", False),
        ("auditor", False),
    ]:
        c = await client_for(role)
        assert (await c.get("/api/v1/people?limit=1")).status_code == 200, role
        assert (await c.get(f"/api/v1/people/{person['id']}")).status_code == 200, role
        r = await c.post(
            "/api/v1/people", json={"employee_number": unique("E"), "display_name": "R"}
        )
        assert r.status_code == (201 if can_write else 403), role
        r = await c.patch(f"/api/v1/people/{person['id']}", json={"display_name": f"R {role}"})
        assert r.status_code == (200 if can_write else 403), role
    assert (await anon.get("/api/v1/people")).status_code == 401
