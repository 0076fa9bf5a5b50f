"""Assets: register one or a batch, read with model/SIM/holder, change, identity rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from tests import factories
from tests.conftest import ClientFactory, unique


async def _new(eng: httpx.AsyncClient, **kw: Any) -> httpx.Response:
    model = kw.pop("model", None) or await factories.device_model()
    body = {"model_id": model["id"], "serial_number": unique("sn"), **kw}
    return await eng.post("/api/v1/assets", json=body)


async def test_register_read_and_patch_an_asset(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    model = await factories.device_model(manufacturer="Samsung ", lifecycle_months=36)
    con = await factories.contract()
    imei = factories.new_imei()
    serial = unique("r5")
    r = await eng.post(
        "/api/v1/assets",
        json={
            "model_id": model["id"],
            "serial_number": f" {serial.lower()} ",
            "imei": imei,
            "asset_tag": unique("FP-"),
            "contract_id": con["id"],
            "unit_cost": "£289.00",
            "delivered_on": "2022-11-14",
            "notes": "boxed",
        },
    )
    assert r.status_code == 201, r.text
    a = r.json()
    assert r.headers["etag"] == '"1"'
    assert a["serial_number"] == serial.upper()
    assert a["manufacturer"] == "samsung"  # the model's, lower-case
    assert a["status"] == "in_stock" and a["imei"] == imei and a["unit_cost"] == "289.00"
    assert a["model"] == {
        "id": model["id"],
        "manufacturer": "Samsung ",
        "model_name": model["model_name"],
        "category": "smartphone",
    }
    assert a["sim"] is None and a["holder"] is None and a["mdm"] is None
    # Not in service yet: the refresh date runs from delivery.
    assert a["refresh_due_on"] == "2025-11-14"

    got = await eng.get(f"/api/v1/assets/{a['id']}")
    assert got.status_code == 200 and got.json() == a and got.headers["etag"] == '"1"'

    r = await eng.patch(
        f"/api/v1/assets/{a['id']}",
        json={"delivered_on": "2023-01-31", "notes": "re-boxed"},
        headers={"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["refresh_due_on"] == "2026-01-31" and r.headers["etag"] == '"2"'
    r = await eng.patch(
        f"/api/v1/assets/{a['id']}",
        json={"refresh_due_override": "2027-06-30"},
        headers={"If-Match": '"2"'},
    )
    assert r.json()["refresh_due_on"] == "2027-06-30"
    stale = await eng.patch(
        f"/api/v1/assets/{a['id']}", json={"notes": "lost update"}, headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert (await eng.get(f"/api/v1/assets/{a['id']}")).json()["notes"] == "re-boxed"

    events = (await eng.get(f"/api/v1/assets/{a['id']}/events")).json()["items"]
    assert [e["action"] for e in events] == ["created", "updated", "updated"]
    assert events[1]["before"] == {
        "delivered_on": "2022-11-14",
        "notes": "boxed",
        "refresh_due_on": "2025-11-14",
    }
    assert events[1]["after"]["refresh_due_on"] == "2026-01-31"


async def test_get_shows_sim_holder_and_mdm_in_one_read(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    bu = await factories.business_unit()
    person = await factories.person(business_unit_id=bu["id"])
    asset = await factories.asset(
        status="deployed",
        person_id=person["id"],
        mdm_device_id=unique("mdm-"),
        mdm_compliance="compliant",
    )
    sim = await factories.sim(asset_id=asset["id"])
    a = (await eng.get(f"/api/v1/assets/{asset['id']}")).json()
    assert a["sim"] == {"id": sim["id"], "iccid": sim["iccid"], "msisdn": sim["msisdn"]}
    assert a["holder"]["kind"] == "person"
    assert a["holder"]["person_id"] == person["id"]
    assert a["holder"]["display_name"] == person["display_name"]
    assert a["mdm"]["device_id"] == asset["mdm_device_id"]
    assert a["mdm"]["compliance"] == "compliant"


async def test_model_change_copies_the_makers_name_and_lifecycle(
    client_for: ClientFactory,
) -> None:
    eng = await client_for("engineer")
    a = (await _new(eng, delivered_on="2022-01-01")).json()
    other = await factories.device_model(manufacturer="Zebra", lifecycle_months=60)
    r = await eng.patch(f"/api/v1/assets/{a['id']}", json={"model_id": other["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["manufacturer"] == "zebra" and r.json()["refresh_due_on"] == "2027-01-01"


async def test_imei_rules(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    good = factories.new_imei()
    wrong = good[:14] + str((int(good[14]) + 1) % 10)
    r = await _new(eng, imei=wrong)
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"field": "imei", "message": f"IMEI check digit is wrong: expected {good[14]}"}
    ]
    r = await _new(eng, imei=good[:14])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "imei"
    r = await _new(eng, imei="35-2099-0017-6148")
    assert r.status_code == 422
    r = await _new(eng, imei=f"{good[:2]} {good[2:8]} {good[8:]}")  # spaced is fine
    assert r.status_code == 201 and r.json()["imei"] == good


async def test_duplicates_are_409_naming_the_existing_asset(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    model = await factories.device_model(manufacturer="Samsung")
    first = (await _new(eng, model=model, imei=factories.new_imei(), asset_tag=unique())).json()

    r = await _new(eng, model=model, imei=first["imei"])
    assert r.status_code == 409
    assert r.json()["existing_id"] == first["id"] and r.json()["errors"][0]["field"] == "imei"

    same_maker = await factories.device_model(manufacturer="SAMSUNG")
    r = await _new(eng, model=same_maker, serial_number=first["serial_number"].lower())
    assert r.status_code == 409
    assert r.json()["existing_id"] == first["id"]
    assert r.json()["errors"][0]["field"] == "serial_number"

    r = await _new(eng, model=model, asset_tag=first["asset_tag"])
    assert r.status_code == 409 and r.json()["existing_id"] == first["id"]

    # Serials are unique per manufacturer only.
    other_maker = await factories.device_model(manufacturer="Apple")
    r = await _new(eng, model=other_maker, serial_number=first["serial_number"])
    assert r.status_code == 201

    # A PATCH onto another asset's IMEI is refused the same way.
    second = (await _new(eng, model=model)).json()
    r = await eng.patch(f"/api/v1/assets/{second['id']}", json={"imei": first["imei"]})
    assert r.status_code == 409 and r.json()["existing_id"] == first["id"]


async def test_create_validation_names_every_field(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    r = await eng.post(
        "/api/v1/assets",
        json={
            "model_id": 2_000_000_000,
            "serial_number": "has space",
            "status": "deployed",
            "unit_cost": "-3",
            "contract_id": 2_000_000_000,
        },
    )
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"model_id", "serial_number", "status", "unit_cost", "contract_id"}


async def test_bad_input_is_a_problem_never_500(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    model = await factories.device_model()
    cases: list[tuple[str, str, Any, int]] = [
        ("POST", "/api/v1/assets", {"model_id": "x", "serial_number": "A"}, 422),
        ("POST", "/api/v1/assets", {"model_id": 10**12, "serial_number": "A"}, 422),
        ("POST", "/api/v1/assets", {"serial_number": "A"}, 422),
        ("POST", "/api/v1/assets", {"model_id": model["id"], "serial_number": "A", "x": 1}, 422),
        ("POST", "/api/v1/assets", [1, 2], 422),
        ("POST", "/api/v1/assets", {"model_id": model["id"], "serial_number": ""}, 422),
        (
            "POST",
            "/api/v1/assets",
            {"model_id": model["id"], "serial_number": "A", "delivered_on": "31/02/2022"},
            422,
        ),
        (
            "POST",
            "/api/v1/assets",
            {"model_id": model["id"], "serial_number": "A", "unit_cost": "1" * 20},
            422,
        ),
        ("GET", "/api/v1/assets/999999999", None, 404),
        ("GET", "/api/v1/assets/99999999999999", None, 404),
        ("GET", "/api/v1/assets/abc", None, 404),
        ("GET", "/api/v1/assets/999999999/events", None, 404),
        ("PATCH", "/api/v1/assets/999999999", {"notes": "x"}, 404),
        ("POST", "/api/v1/assets/999999999/transitions", {"to": "lost", "reason": "x"}, 404),
        ("GET", "/api/v1/people/999999999/assets", None, 404),
    ]
    for method, url, body, status in cases:
        r = await eng.request(method, url, json=body)
        assert r.status_code == status, (method, url, body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json"), url
    r = await eng.post(
        "/api/v1/assets", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400


async def test_dates_outside_the_registers_range_are_422(client_for: ClientFactory) -> None:
    """A delivery date whose refresh date (20 years on) no calendar library holds was a 500;
    9999-12-31 was stored as PostgreSQL's 'infinity' and read back as "infinity"."""
    eng = await client_for("engineer")
    model = await factories.device_model("ivma_tablet", lifecycle_months=240)
    for field, value in [
        ("delivered_on", "9998-06-01"),
        ("delivered_on", "9999-12-31"),
        ("delivered_on", "0001-01-01"),
        ("refresh_due_override", "9999-12-31"),
    ]:
        body = {"model_id": model["id"], "serial_number": unique("d"), field: value}
        r = await eng.post("/api/v1/assets", json=body)
        assert r.status_code == 422, (field, value, r.text)
        assert r.json()["errors"] == [
            {"field": field, "message": "must be a date from 1990 to 2099"}
        ]
        r = await eng.post("/api/v1/assets/batch", json={"items": [body]})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == f"items.0.{field}"
    asset = await factories.asset(model=model)
    r = await eng.patch(f"/api/v1/assets/{asset['id']}", json={"delivered_on": "9998-06-01"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "delivered_on"
    r = await eng.patch(f"/api/v1/assets/{asset['id']}", json={"delivered_on": "2099-12-31"})
    assert r.status_code == 200 and r.json()["refresh_due_on"] == "2119-12-31"
    vehicle = await factories.vehicle()
    r = await eng.post(
        f"/api/v1/vehicles/{vehicle['id']}/installs",
        json={"job_reference": unique("J"), "tablet_id": asset["id"], "installed_on": "0001-01-01"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "installed_on"


async def test_batch_registers_all_in_one_go(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    model = await factories.device_model()
    items = [
        {"model_id": model["id"], "serial_number": unique("b"), "imei": factories.new_imei()}
        for _ in range(50)
    ]
    r = await stores.post("/api/v1/assets/batch", json={"items": items})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["created"] == 50
    assert [a["serial_number"] for a in body["items"]] == [
        i["serial_number"].upper() for i in items
    ]
    assert all(a["refresh_due_on"] is None for a in body["items"])  # no delivery date yet
    events = (await stores.get(f"/api/v1/assets/{body['items'][7]['id']}/events")).json()
    assert [e["action"] for e in events["items"]] == ["created"]
    assert events["items"][0]["after"]["imei"] == items[7]["imei"]


async def test_batch_is_all_or_nothing_and_names_every_failure(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    model = await factories.device_model()
    existing = await factories.asset(model=model)
    good = factories.new_imei()
    bad_check = good[:14] + str((int(good[14]) + 1) % 10)
    dup_imei = factories.new_imei()
    items: list[dict[str, Any]] = [
        {"model_id": model["id"], "serial_number": unique("ok")},
        {"model_id": model["id"], "serial_number": unique("ok"), "imei": dup_imei},
        {"model_id": model["id"], "serial_number": unique("ok")},
        {"model_id": model["id"], "serial_number": unique("bad"), "imei": bad_check},
        {"model_id": model["id"], "serial_number": unique("dup"), "imei": dup_imei},
        {"model_id": model["id"], "serial_number": existing["serial_number"]},
        {"model_id": 2_000_000_000, "serial_number": unique("nomodel")},
    ]
    r = await stores.post("/api/v1/assets/batch", json={"items": items})
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert {
        "field": "items.3.imei",
        "message": f"IMEI check digit is wrong: expected {good[14]}",
    } in errors
    fields = [e["field"] for e in errors]
    assert fields == [
        "items.3.imei",
        "items.4.imei",
        "items.5.serial_number",
        "items.6.model_id",
    ]
    assert f"id {existing['id']}" in errors[2]["message"]
    assert "items.1" in errors[1]["message"]
    # Nothing was registered.
    for item in items[:3]:
        r = await stores.get(f"/api/v1/assets?serial={item['serial_number']}")
        assert r.json()["items"] == []


async def test_batch_names_every_item_that_cannot_be_read(client_for: ClientFactory) -> None:
    """Wrong types, missing and unknown fields are named for every item, with the rule
    failures of the readable items, in one answer; nothing is registered."""
    stores = await client_for("stores")
    model = await factories.device_model()
    good = {"model_id": model["id"], "serial_number": unique("ok")}
    items: list[Any] = [
        {"serial_number": unique("nomodel")},
        good,
        {"model_id": "one", "serial_number": unique("x")},
        {"model_id": model["id"], "serial_number": unique("x"), "colour": "black"},
        {"model_id": model["id"], "serial_number": unique("x"), "imei": "123"},
        "not an object",
        {"model_id": model["id"], "serial_number": unique("x"), "delivered_on": "31/02/2022"},
    ]
    r = await stores.post("/api/v1/assets/batch", json={"items": items})
    assert r.status_code == 422, r.text
    assert [(e["field"], e["message"]) for e in r.json()["errors"]] == [
        ("items.0.model_id", "is required"),
        ("items.2.model_id", "Expected `int`, got `str`"),
        ("items.3.colour", "is not a field this request accepts"),
        ("items.4.imei", "IMEI must be 15 digits; this has 3"),
        ("items.5", "Expected `object`, got `str`"),
        ("items.6.delivered_on", "Invalid RFC3339 encoded date"),
    ]
    r = await stores.get(f"/api/v1/assets?serial={good['serial_number']}")
    assert r.json()["items"] == []
    for body, field in [
        ([good], "body"),
        ({"items": good}, "items"),
        ({}, "items"),
        ({"items": [good], "extra": 1}, "extra"),
    ]:
        r = await stores.post("/api/v1/assets/batch", json=body)
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == [field]
    r = await stores.post(
        "/api/v1/assets/batch", content=b'{"items": [', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400


async def test_batch_limits(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    model = await factories.device_model()
    too_many = [{"model_id": model["id"], "serial_number": f"X{i}"} for i in range(1001)]
    r = await stores.post("/api/v1/assets/batch", json={"items": too_many})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items"
    r = await stores.post("/api/v1/assets/batch", json={"items": []})
    assert r.status_code == 422
    r = await stores.post(
        "/api/v1/assets/batch", json={"items": [{"model_id": model["id"], "serial": "X"}]}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "items.0.serial"


async def test_people_assets_lists_what_a_person_holds(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    person = await factories.person()
    held = [await factories.asset(status="deployed", person_id=person["id"]) for _ in range(2)]
    await factories.asset()
    r = await eng.get(f"/api/v1/people/{person['id']}/assets")
    assert r.status_code == 200
    assert [a["id"] for a in r.json()["items"]] == [h["id"] for h in held]
    assert dt.date.fromisoformat(r.json()["items"][0]["delivered_on"])
