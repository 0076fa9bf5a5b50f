"""Lifecycle moves over HTTP: the whole table, the rules, holders, dates, concurrency."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from db.engine import connection
from tests import factories
from tests.conftest import ClientFactory, unique
from tests.fleetsvc.assets.test_lifecycle import DESIGN


async def asset_in(status: str, **kw: Any) -> dict[str, Any]:
    """An asset already in ``status`` (set up with SQL, as if it had got there)."""
    if status == "deployed":
        person = await factories.person()
        asset = await factories.asset(status="deployed", person_id=person["id"], **kw)
        await factories.insert("assignment", asset_id=asset["id"], person_id=person["id"])
        return asset
    if status == "disposed":
        return await factories.asset(status="disposed", disposal_certificate_ref="WCN-0", **kw)
    return await factories.asset(status=status, **kw)


async def body_for(to: str) -> dict[str, Any]:
    body: dict[str, Any] = {"to": to, "reason": f"test move to {to}"}
    if to == "deployed":
        body["person_id"] = (await factories.person())["id"]
    if to == "disposed":
        body["certificate_ref"] = unique("WCN-")
    return body


@pytest.mark.parametrize("current", sorted(DESIGN))
@pytest.mark.parametrize("to", sorted(DESIGN))
async def test_every_pair_of_the_table(client_for: ClientFactory, current: str, to: str) -> None:
    eng = await client_for("engineer")
    asset = await asset_in(current)
    r = await eng.post(f"/api/v1/assets/{asset['id']}/transitions", json=await body_for(to))
    if to in DESIGN[current]:
        assert r.status_code == 200, r.text
        assert r.json()["status"] == to and r.headers["etag"] == '"2"'
    else:
        assert r.status_code == 409, r.text
        problem = r.json()
        assert problem["type"].endswith("transition-refused")
        assert set(problem["allowed"]) == DESIGN[current]
        after = (await eng.get(f"/api/v1/assets/{asset['id']}")).json()
        assert after["status"] == current and after["version"] == 1


async def test_disposal_without_certificate_is_422(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    asset = await asset_in("retired")
    url = f"/api/v1/assets/{asset['id']}/transitions"
    r = await eng.post(url, json={"to": "disposed", "reason": "WEEE"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "certificate_ref"
    r = await eng.post(url, json={"to": "disposed", "reason": "WEEE", "certificate_ref": "  "})
    assert r.status_code == 422
    r = await eng.post(url, json={"to": "disposed", "reason": "WEEE", "certificate_ref": "WCN-9"})
    assert r.status_code == 200 and r.json()["disposal_certificate_ref"] == "WCN-9"
    r = await eng.post(url, json={"to": "in_stock", "reason": "found it"})
    assert r.status_code == 409 and r.json()["allowed"] == []


async def test_deploy_rules(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    asset = await asset_in("in_stock")
    url = f"/api/v1/assets/{asset['id']}/transitions"
    r = await eng.post(url, json={"to": "deployed", "reason": "issue"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "person_id"
    leaver = await factories.person(active=False, left_on=dt.date(2025, 6, 30))
    r = await eng.post(url, json={"to": "deployed", "reason": "issue", "person_id": leaver["id"]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "person_id" and "left" in r.json()["detail"]
    r = await eng.post(url, json={"to": "deployed", "reason": "issue", "person_id": 2_000_000_000})
    assert r.status_code == 422
    r = await eng.post(url, json={"to": "lost", "reason": "x", "person_id": leaver["id"]})
    assert r.status_code == 422
    r = await eng.post(url, json={"to": "deployed", "reason": ""})
    assert r.status_code == 422
    r = await eng.post(url, json={"to": "flying", "reason": "x"})
    assert r.status_code == 422 and "in_stock" in r.json()["errors"][0]["message"]
    # A tablet is deployed by fitting it in a vehicle, and the message says so.
    tablet = await factories.asset(model=await factories.device_model("ivma_tablet"))
    r = await eng.post(
        f"/api/v1/assets/{tablet['id']}/transitions", json={"to": "deployed", "reason": "x"}
    )
    assert r.status_code == 422 and "installs" in r.json()["errors"][0]["message"]
    assert (await eng.get(f"/api/v1/assets/{asset['id']}")).json()["version"] == 1


async def test_in_service_date_is_set_on_first_deployment_only(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    model = await factories.device_model(lifecycle_months=36)
    asset = await factories.asset(model=model, delivered_on=dt.date(2020, 1, 1))
    url = f"/api/v1/assets/{asset['id']}/transitions"
    first, second = await factories.person(), await factories.person()
    today = dt.date.today()

    r = await eng.post(url, json={"to": "deployed", "reason": "issue", "person_id": first["id"]})
    a = r.json()
    assert a["in_service_on"] == today.isoformat()
    expected_refresh = await _refresh(today, 36)
    assert a["refresh_due_on"] == expected_refresh.isoformat()
    assert a["holder"]["person_id"] == first["id"]

    # Put an older in-service date in place, then cycle: it must never move again.
    async with connection() as conn:
        await conn.execute(
            "UPDATE asset SET in_service_on = '2021-05-01' WHERE id = $1", asset["id"]
        )
    await eng.post(url, json={"to": "in_stock", "reason": "returned"})
    r = await eng.post(url, json={"to": "deployed", "reason": "reissue", "person_id": second["id"]})
    assert r.json()["in_service_on"] == "2021-05-01"
    assert r.json()["refresh_due_on"] == "2024-05-01"


async def _refresh(start: dt.date, months: int) -> dt.date:
    async with connection() as conn:
        value: dt.date = await conn.fetchval(
            "SELECT refresh_due($1, NULL, $2, NULL)", start, months
        )
    return value


async def test_leaving_deployed_ends_the_assignment(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    person = await factories.person()
    asset = await asset_in("in_stock")
    url = f"/api/v1/assets/{asset['id']}/transitions"
    await eng.post(url, json={"to": "deployed", "reason": "issue", "person_id": person["id"]})
    assert [
        a["id"] for a in (await eng.get(f"/api/v1/people/{person['id']}/assets")).json()["items"]
    ] == [asset["id"]]
    r = await eng.post(url, json={"to": "stolen", "reason": "crime ref 123"})
    assert r.status_code == 200 and r.json()["holder"] is None
    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT person_id, ended_at, end_reason FROM assignment WHERE asset_id = $1",
            asset["id"],
        )
    assert len(rows) == 1 and rows[0]["person_id"] == person["id"]
    assert rows[0]["ended_at"] is not None and rows[0]["end_reason"] == "crime ref 123"
    assert (await eng.get(f"/api/v1/people/{person['id']}/assets")).json()["items"] == []

    events = (await eng.get(f"/api/v1/assets/{asset['id']}/events")).json()["items"]
    moves = [e for e in events if e["action"] == "transition"]
    assert [(m["before"]["status"], m["after"]["status"]) for m in moves] == [
        ("in_stock", "deployed"),
        ("deployed", "stolen"),
    ]
    assert moves[0]["after"]["person_id"] == person["id"]
    assert moves[1]["after"]["reason"] == "crime ref 123"


async def test_stale_if_match_is_412(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    asset = await asset_in("in_stock")
    url = f"/api/v1/assets/{asset['id']}/transitions"
    r = await eng.post(url, json={"to": "staging", "reason": "build"}, headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    r = await eng.post(url, json={"to": "in_stock", "reason": "x"}, headers={"If-Match": '"1"'})
    assert r.status_code == 412
    r = await eng.post(url, json={"to": "in_stock", "reason": "x"}, headers={"If-Match": "junk"})
    assert r.status_code == 400


@pytest.mark.parametrize("with_if_match", [False, True])
async def test_concurrent_deploys_one_wins(client_for: ClientFactory, with_if_match: bool) -> None:
    eng = await client_for("engineer")
    asset = await asset_in("in_stock")
    people = [await factories.person(), await factories.person()]
    headers = {"If-Match": '"1"'} if with_if_match else {}
    url = f"/api/v1/assets/{asset['id']}/transitions"
    results = await asyncio.gather(
        *(
            eng.post(
                url,
                json={"to": "deployed", "reason": "issue", "person_id": p["id"]},
                headers=headers,
            )
            for p in people
        )
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 412] if with_if_match else codes == [200, 409]
    events = (await eng.get(f"/api/v1/assets/{asset['id']}/events")).json()["items"]
    assert [e["after"]["status"] for e in events if e["action"] == "transition"] == ["deployed"]
    async with connection() as conn:
        n = await conn.fetchval("SELECT count(*) FROM assignment WHERE asset_id = $1", asset["id"])
    assert n == 1


async def test_history_shows_a_whole_life_in_order(client_for: ClientFactory) -> None:
    """Delivery, staging, a holder, a vehicle, a repair, a SIM, disposal: one list, oldest
    first, each step with its before and after."""
    eng = await client_for("engineer")
    model = await factories.device_model("ivma_tablet", lifecycle_months=60)
    person, vehicle = await factories.person(), await factories.vehicle()
    r = await eng.post(
        "/api/v1/assets",
        json={"model_id": model["id"], "serial_number": unique("L"), "delivered_on": "2022-01-04"},
    )
    tablet = r.json()["id"]
    url = f"/api/v1/assets/{tablet}/transitions"

    async def move(to: str, **kw: Any) -> None:
        r = await eng.post(url, json={"to": to, "reason": f"to {to}", **kw})
        assert r.status_code == 200, r.text

    await move("staging")
    await move("deployed", person_id=person["id"])
    await move("in_stock")
    r = await eng.post(
        f"/api/v1/vehicles/{vehicle['id']}/installs",
        json={"job_reference": unique("J"), "tablet_id": tablet, "installed_on": "2022-02-01"},
    )
    install = r.json()["id"]
    sim = (await eng.post("/api/v1/sims", json={"iccid": factories.new_iccid()})).json()["id"]
    r = await eng.post(f"/api/v1/sims/{sim}/fitting", json={"asset_id": tablet})
    assert r.status_code == 200, r.text
    r = await eng.post(f"/api/v1/installs/{install}/removal", json={"reason": "faulty"})
    assert r.status_code == 200, r.text
    await move("retired")
    await move("disposed", certificate_ref="WCN-1")

    events = (await eng.get(f"/api/v1/assets/{tablet}/events")).json()["items"]
    steps = [
        (
            e["entity"],
            e["action"],
            (e["before"] or {}).get("status"),
            (e["after"] or {}).get("status"),
        )
        for e in events
    ]
    assert steps == [
        ("asset", "created", None, "in_stock"),
        ("asset", "transition", "in_stock", "staging"),
        ("asset", "transition", "staging", "deployed"),
        ("asset", "transition", "deployed", "in_stock"),
        ("install", "created", None, None),
        ("asset", "transition", "in_stock", "deployed"),
        ("sim", "fitted", None, None),
        ("install", "removed", None, None),
        ("asset", "transition", "deployed", "in_repair"),
        ("asset", "transition", "in_repair", "retired"),
        ("asset", "transition", "retired", "disposed"),
    ]
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert events[2]["after"]["person_id"] == person["id"]
    assert events[5]["after"]["vehicle_id"] == vehicle["id"]
    assert "in_service_on" not in events[5]["after"]  # the first deployment set it
    assert events[2]["after"]["in_service_on"] == dt.date.today().isoformat()
    assert events[-1]["after"]["disposal_certificate_ref"] == "WCN-1"
