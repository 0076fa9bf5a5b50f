"""Business units: the list/create/get/patch shape every record follows."""

from __future__ import annotations

import httpx

from tests.conftest import ClientFactory, unique


async def test_create_get_patch_with_etag_and_events(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    code = unique("bcu-")[:12]
    r = await eng.post("/api/v1/business-units", json={"code": f" {code} ", "name": "North West"})
    assert r.status_code == 201, r.text
    bu = r.json()
    assert bu["code"] == code.upper() and bu["version"] == 1
    assert r.headers["etag"] == '"1"'

    r = await eng.get(f"/api/v1/business-units/{bu['id']}")
    assert r.status_code == 200 and r.headers["etag"] == '"1"'

    r = await eng.patch(
        f"/api/v1/business-units/{bu['id']}",
        json={"name": "North West BCU"},
        headers={"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "North West BCU" and r.headers["etag"] == '"2"'

    # A stale If-Match is refused and changes nothing.
    r = await eng.patch(
        f"/api/v1/business-units/{bu['id']}",
        json={"name": "Lost update"},
        headers={"If-Match": '"1"'},
    )
    assert r.status_code == 412
    assert (await eng.get(f"/api/v1/business-units/{bu['id']}")).json()["name"] == "North West BCU"

    auditor = await client_for("auditor")
    events = (await auditor.get(f"/api/v1/events?entity=business_unit&entity_id={bu['id']}")).json()
    assert [e["action"] for e in events["items"]] == ["created", "updated"]
    assert events["items"][1]["before"] == {"name": "North West"}
    assert events["items"][1]["after"] == {"name": "North West BCU"}


async def test_patch_that_changes_nothing_writes_nothing(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    bu = (
        await eng.post("/api/v1/business-units", json={"code": unique()[:10], "name": "X"})
    ).json()
    r = await eng.patch(f"/api/v1/business-units/{bu['id']}", json={"name": "X"})
    assert r.status_code == 200 and r.json()["version"] == 1


async def test_duplicate_code_is_409_naming_existing(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    code = unique()[:10]
    first = (await eng.post("/api/v1/business-units", json={"code": code, "name": "A"})).json()
    r = await eng.post("/api/v1/business-units", json={"code": code.lower(), "name": "B"})
    assert r.status_code == 409
    assert r.json()["existing_id"] == first["id"]
    assert r.json()["errors"][0]["field"] == "code"


async def test_validation_names_field(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    r = await eng.post("/api/v1/business-units", json={"code": "", "name": "A"})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"field": "code", "message": "code must be 1 to 16 letters, digits or dashes"}
    ]
    r = await eng.post("/api/v1/business-units", json={"code": "X1", "name": "A", "colour": "red"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "colour"


async def test_missing_record_is_404(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    r = await eng.get("/api/v1/business-units/999999999")
    assert r.status_code == 404
    assert r.json()["detail"] == "no business unit with id 999999999"


async def test_list_filters_and_paginates(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    tag = unique()[:6]
    for i in range(3):
        await eng.post("/api/v1/business-units", json={"code": f"{tag}{i}", "name": f"Unit {tag}"})
    r = await eng.get(f"/api/v1/business-units?q={tag}&limit=2")
    page = r.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = (
        await eng.get(f"/api/v1/business-units?q={tag}&limit=2&cursor={page['next_cursor']}")
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None


async def test_roles(client_for: ClientFactory, anon: httpx.AsyncClient) -> None:
    for role, can_write in [
        ("admin", True),
        ("engineer", True),
        ("stores", True),
        ("finance", False),
        ("mdm", False),
        ("auditor", False),
    ]:
        c = await client_for(role)
        assert (await c.get("/api/v1/business-units?limit=1")).status_code == 200, role
        r = await c.post("/api/v1/business-units", json={"code": unique()[:10], "name": "R"})
        assert r.status_code == (201 if can_write else 403), role
    assert (await anon.get("/api/v1/business-units")).status_code == 401


async def test_if_match_that_is_not_an_etag_is_400(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    bu = (
        await eng.post("/api/v1/business-units", json={"code": unique()[:10], "name": "X"})
    ).json()
    # "\u00b2" (superscript two) passes str.isdigit() but not int(): once a 500.
    for raw in ('"\u00b2"'.encode("latin-1"), b'"-1"', b'"one"', b"W/"):
        r = await eng.patch(
            f"/api/v1/business-units/{bu['id']}", json={"name": "Y"}, headers={b"If-Match": raw}
        )
        assert r.status_code == 400, (raw, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "If-Match" in r.json()["detail"]
    assert (await eng.get(f"/api/v1/business-units/{bu['id']}")).json()["version"] == 1


async def test_name_with_a_nul_is_422_naming_it(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    r = await eng.post("/api/v1/business-units", json={"code": unique()[:10], "name": "a\x00b"})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["name"]
    r = await eng.post("/api/v1/business-units", json={"code": unique()[:10], "name": "a\xa0b"})
    assert r.status_code == 201 and r.json()["name"] == "a b"
