"""Leaver recovery over HTTP: a leaver's case lists their devices and seats; each device
back closes its line (one move, a batch, a stocktake), the last one the case; a line
written off marks the device lost; overdue cases are found and counted."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import httpx
import pytest

from db.engine import transaction
from tests import factories
from tests.conftest import ClientFactory, unique


async def _leaver_with(
    eng: httpx.AsyncClient, devices: int, *, left_on: dt.date | None = None, **kw: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A person holding ``devices`` phones (the first with a licence seat), then PATCHed
    to a leaver."""
    person = await factories.person(**kw)
    assets = [
        await factories.asset(status="deployed", person_id=person["id"]) for _ in range(devices)
    ]
    if assets:
        pool = await factories.insert(
            "licence_pool", product="NetMotion Mobility", licence_key=unique("KEY-"), seats=5
        )
        await factories.insert("licence_seat", pool_id=pool["id"], asset_id=assets[0]["id"])
    body: dict[str, Any] = {"active": False}
    if left_on is not None:
        body["left_on"] = left_on.isoformat()
    r = await eng.patch(f"/api/v1/people/{person['id']}", json=body)
    assert r.status_code == 200, r.text
    return person, assets


async def _case_of(client: httpx.AsyncClient, person_id: int) -> dict[str, Any]:
    r = await client.get("/api/v1/recoveries", params={"person_id": person_id})
    assert r.status_code == 200, r.text
    [case] = r.json()["items"]
    r = await client.get(f"/api/v1/recoveries/{case['id']}")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _move(eng: httpx.AsyncClient, asset_id: int, to: str) -> httpx.Response:
    return await eng.post(
        f"/api/v1/assets/{asset_id}/transitions", json={"to": to, "reason": "handed in"}
    )


async def test_a_leaver_opens_a_case_that_closes_with_the_last_device_back(
    client_for: ClientFactory,
) -> None:
    eng = await client_for("engineer")
    auditor = await client_for("auditor")
    bu = await factories.business_unit()
    person, assets = await _leaver_with(eng, 2, business_unit_id=bu["id"])
    case = await _case_of(auditor, person["id"])
    assert case["status"] == "open" and case["overdue"] is False
    assert case["business_unit_id"] == bu["id"]
    assert case["due_on"] == (dt.date.today() + dt.timedelta(days=14)).isoformat()
    assert (case["lines"], case["lines_open"]) == (2, 2)
    lines = {line["asset_id"]: line for line in case["items"]}
    assert set(lines) == {a["id"] for a in assets}
    seats = lines[assets[0]["id"]]["licence_seats"]
    assert [s["product"] for s in seats] == ["NetMotion Mobility"]
    assert lines[assets[1]["id"]]["licence_seats"] == []
    # Filter by business unit and status.
    r = await auditor.get("/api/v1/recoveries", params={"business_unit": bu["code"]})
    assert [c["id"] for c in r.json()["items"]] == [case["id"]]

    version = case["version"]
    assert (await _move(eng, assets[0]["id"], "in_stock")).status_code == 200
    case = await _case_of(auditor, person["id"])
    assert case["version"] == version + 1  # a line changed: a new ETag
    first = next(line for line in case["items"] if line["asset_id"] == assets[0]["id"])
    assert first["status"] == "recovered" and first["closed_at"] is not None
    assert case["status"] == "open" and case["lines_open"] == 1

    assert (await _move(eng, assets[1]["id"], "in_repair")).status_code == 200
    case = await _case_of(auditor, person["id"])
    assert case["status"] == "closed" and case["lines_open"] == 0
    assert case["closed_at"] is not None
    r = await auditor.get("/api/v1/events", params={"entity": "recovery_case"})
    assert r.status_code == 200
    actions = [e["action"] for e in r.json()["items"] if e["entity_id"] == case["id"]]
    assert actions[:1] == ["opened"] and actions[-1] == "closed"


async def test_write_off_marks_the_device_lost_and_needs_stores(
    client_for: ClientFactory,
) -> None:
    eng = await client_for("engineer")
    stores = await client_for("stores")
    person, [phone] = await _leaver_with(eng, 1)
    case = await _case_of(stores, person["id"])
    line = case["items"][0]
    url = f"/api/v1/recoveries/{case['id']}/lines/{line['id']}/write-off"
    assert (await eng.post(url, json={"reason": "not returned"})).status_code == 403
    r = await stores.post(url, json={"reason": "  "})
    assert r.status_code == 422, r.text
    r = await stores.post(url, json={"reason": "officer emigrated; device not returned"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "closed"
    assert body["items"][0]["status"] == "written_off"
    assert body["items"][0]["reason"] == "officer emigrated; device not returned"
    assert body["items"][0]["asset_status"] == "lost"
    r = await stores.get(f"/api/v1/assets/{phone['id']}")
    assert r.json()["status"] == "lost"
    r = await stores.post(url, json={"reason": "again"})
    assert r.status_code == 409, r.text
    r = await stores.post(
        f"/api/v1/recoveries/{case['id']}/lines/999999/write-off", json={"reason": "x"}
    )
    assert r.status_code == 404


async def test_batch_moves_and_stock_returns_settle_lines(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    person, assets = await _leaver_with(eng, 2)
    from fleetsvc.assets.batch_moves import AssetMove, move_assets
    from fleetsvc.auth import Actor

    async with transaction() as conn:
        moved = await move_assets(
            conn,
            Actor("test", "admin"),
            [AssetMove(asset_id=a["id"], to="in_stock", reason="bulk return") for a in assets],
        )
    assert moved == 2
    case = await _case_of(eng, person["id"])
    assert case["status"] == "closed"
    assert {line["status"] for line in case["items"]} == {"recovered"}


async def test_overdue_cases_are_filtered_and_counted(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    auditor = await client_for("auditor")
    before = (await auditor.get("/api/v1/reports/summary")).json()
    left = dt.date.today() - dt.timedelta(days=40)
    person, _ = await _leaver_with(eng, 1, left_on=left)
    async with transaction() as conn:
        # Opened 30 days ago, as a case would be that nobody acted on.
        await conn.execute(
            "UPDATE recovery_case SET opened_at = now() - interval '30 days',"
            " due_on = current_date - 16 WHERE person_id = $1",
            person["id"],
        )
    case = await _case_of(auditor, person["id"])
    assert case["overdue"] is True and case["left_on"] == left.isoformat()
    r = await auditor.get("/api/v1/recoveries", params={"overdue": "true", "limit": 1000})
    assert case["id"] in [c["id"] for c in r.json()["items"]]
    r = await auditor.get("/api/v1/recoveries", params={"overdue": "false", "limit": 1000})
    assert case["id"] not in [c["id"] for c in r.json()["items"]]
    r = await auditor.get("/api/v1/recoveries", params={"status": "lost"})
    assert r.status_code == 422
    after = (await auditor.get("/api/v1/reports/summary")).json()
    assert after["recoveries_overdue"] == before["recoveries_overdue"] + 1
    r = await auditor.get("/api/v1/notices/preview")
    section = next(s for s in r.json()["sections"] if s["key"] == "recoveries_overdue")
    assert section["count"] >= 1


async def test_a_device_held_by_a_leaver_never_falls_out_of_a_case() -> None:
    """The database refuses, at commit, a leaver holding a device no open line lists, and a
    line closed while the leaver still holds its device, whatever path writes."""
    person = await factories.person()
    phone = await factories.asset(status="deployed", person_id=person["id"])
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="no open recovery"):
        async with transaction() as conn:
            await conn.execute(
                "UPDATE person SET active = false, left_on = current_date WHERE id = $1",
                person["id"],
            )
    eng_actor_person, [held] = person, [phone]
    async with transaction() as conn:
        from fleetsvc.auth import Actor
        from fleetsvc.recoveries.cases import open_cases

        await conn.execute(
            "UPDATE person SET active = false, left_on = current_date WHERE id = $1",
            eng_actor_person["id"],
        )
        assert await open_cases(conn, Actor("test", "admin"), [eng_actor_person["id"]]) == 1
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="still held"):
        async with transaction() as conn:
            await conn.execute(
                "UPDATE recovery_line SET status = 'recovered', closed_at = now()"
                " WHERE asset_id = $1",
                held["id"],
            )


async def test_a_stocktake_that_finds_a_leavers_device_recovers_it(
    client_for: ClientFactory,
) -> None:
    eng = await client_for("engineer")
    stores = await client_for("stores")
    person, [phone] = await _leaver_with(eng, 1)
    store = await factories.location()
    r = await stores.post("/api/v1/stocktakes", json={"location_id": store["id"]})
    assert r.status_code == 201, r.text
    stocktake = r.json()
    r = await stores.post(
        f"/api/v1/stocktakes/{stocktake['id']}/scans", json={"codes": [phone["serial_number"]]}
    )
    assert r.status_code == 200, r.text
    r = await stores.post(
        f"/api/v1/stocktakes/{stocktake['id']}/close", json={"move_elsewhere_here": True}
    )
    assert r.status_code == 200, r.text
    case = await _case_of(stores, person["id"])
    assert case["status"] == "closed" and case["items"][0]["status"] == "recovered"


async def test_a_leaver_who_comes_back_has_their_case_cancelled(
    client_for: ClientFactory,
) -> None:
    """PATCH active true: the open case and its lines are cancelled (reason returned), no
    longer overdue or counted; the status filter finds it; leaving again opens a new case
    listing the same device."""
    eng = await client_for("engineer")
    auditor = await client_for("auditor")
    left = dt.date.today() - dt.timedelta(days=40)
    person, [phone] = await _leaver_with(eng, 1, left_on=left)
    async with transaction() as conn:
        await conn.execute(
            "UPDATE recovery_case SET due_on = current_date - 16 WHERE person_id = $1",
            person["id"],
        )
    case = await _case_of(auditor, person["id"])
    assert case["overdue"] is True and case["reason"] is None
    before = (await auditor.get("/api/v1/reports/summary")).json()

    r = await eng.patch(f"/api/v1/people/{person['id']}", json={"active": True})
    assert r.status_code == 200, r.text
    case = await _case_of(auditor, person["id"])
    assert (case["status"], case["reason"], case["overdue"]) == ("cancelled", "returned", False)
    assert case["closed_at"] is not None and case["lines_open"] == 0
    [line] = case["items"]
    assert (line["status"], line["reason"], line["asset_status"]) == (
        "cancelled",
        "returned",
        "deployed",
    )
    after = (await auditor.get("/api/v1/reports/summary")).json()
    assert after["recoveries_overdue"] == before["recoveries_overdue"] - 1
    r = await auditor.get("/api/v1/recoveries", params={"status": "cancelled", "limit": 1000})
    assert r.status_code == 200, r.text
    assert case["id"] in [c["id"] for c in r.json()["items"]]
    r = await auditor.get("/api/v1/events", params={"entity": "recovery_case", "limit": 1000})
    [event] = [e for e in r.json()["items"] if e["entity_id"] == case["id"] and
               e["action"] == "cancelled"]  # fmt: skip
    assert event["after"]["reason"] == "returned"
    assert event["after"]["asset_ids"] == [phone["id"]]

    # Leaving again: a new case, listing the device again.
    r = await eng.patch(f"/api/v1/people/{person['id']}", json={"active": False})
    assert r.status_code == 200, r.text
    r = await auditor.get("/api/v1/recoveries", params={"person_id": person["id"]})
    statuses = sorted((c["status"], c["lines_open"]) for c in r.json()["items"])
    assert statuses == [("cancelled", 0), ("open", 1)]


async def test_the_database_holds_the_case_statuses_and_the_cancel_reason() -> None:
    person = await factories.person(active=False, left_on=dt.date(2020, 1, 31))
    case = await factories.insert(
        "recovery_case",
        person_id=person["id"],
        status="open",
        left_on=dt.date(2020, 1, 31),
        due_on=dt.date(2020, 2, 14),
        opened_by="tests",
    )
    for sql, constraint in (
        ("status = 'withdrawn', closed_at = now()", "recovery_case_status_chk"),
        ("status = 'cancelled', closed_at = now()", "recovery_case_reason_chk"),
        ("status = 'cancelled', closed_at = now(), reason = 'bored'", "cancel_reason_chk"),
        ("status = 'cancelled', reason = 'returned'", "recovery_case_closed_chk"),
    ):
        with pytest.raises(asyncpg.CheckViolationError, match=constraint):
            async with transaction() as conn:
                await conn.execute(f"UPDATE recovery_case SET {sql} WHERE id = $1", case["id"])
