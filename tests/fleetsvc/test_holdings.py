"""What a person or a vehicle holds: the leaver checklist (now and before, with the dates),
the leavers still holding devices (keyset-paged), and a vehicle's kit, the fitted one first."""

from __future__ import annotations

import datetime as dt

import pytest

from db.engine import connection, transaction
from fleetsvc import holdings
from fleetsvc.errors import NotFound
from fleetsvc.pagination import PageRequest, decode_cursor
from tests import factories


async def test_the_checklist_holds_now_and_before_with_the_dates(app: object) -> None:
    person = await factories.person()
    now = await factories.asset(status="deployed", person_id=person["id"])
    before = await factories.asset()
    async with transaction() as conn:
        await conn.execute(
            "INSERT INTO assignment (asset_id, person_id, started_at) VALUES ($1, $2, $3)",
            now["id"],
            person["id"],
            dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
        )
        await conn.execute(
            "INSERT INTO assignment (asset_id, person_id, started_at, ended_at, end_reason)"
            " VALUES ($1, $2, $3, $4, 'recovered')",
            before["id"],
            person["id"],
            dt.datetime(2021, 6, 1, tzinfo=dt.UTC),
            dt.datetime(2024, 4, 30, tzinfo=dt.UTC),
        )
    async with connection() as conn:
        checklist = await holdings.person_checklist(conn, person["id"])
        with pytest.raises(NotFound):
            await holdings.person_checklist(conn, 999_999_999)
        counts = await holdings.held_counts(conn, [person["id"], 999_999_999])
    assert [h.asset_id for h in checklist.now] == [now["id"]]
    assert checklist.now[0].started_at == dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    assert checklist.now[0].ended_at is None
    (held,) = checklist.before
    assert held.asset_id == before["id"] and held.end_reason == "recovered"
    assert held.ended_at == dt.datetime(2024, 4, 30, tzinfo=dt.UTC)
    assert counts == {person["id"]: 1}


async def test_leavers_holding_devices_page_by_id(app: object) -> None:
    leavers = [await factories.person(active=False, left_on=dt.date(2026, 1, 1)) for _ in range(3)]
    for n, leaver in enumerate(leavers):
        for _ in range(n + 1):
            await factories.asset(status="deployed", person_id=leaver["id"])
    handed_back = await factories.person(active=False, left_on=dt.date(2026, 1, 1))
    mine = {p["id"] for p in leavers}
    seen: dict[int, int] = {}
    after = leavers[0]["id"] - 1
    async with connection() as conn:
        while True:
            found = await holdings.leavers_holding(conn, PageRequest(2, after))
            seen.update({p.id: p.held for p in found.items if p.id in mine | {handed_back["id"]}})
            if found.next_cursor is None:
                break
            after = decode_cursor(found.next_cursor)
    assert seen == {leavers[0]["id"]: 1, leavers[1]["id"]: 2, leavers[2]["id"]: 3}


async def test_a_vehicles_kit_lists_the_fitted_one_first(app: object) -> None:
    vehicle = await factories.vehicle()
    tablet_model = await factories.device_model("ivma_tablet")
    old_tablet = await factories.asset(tablet_model)
    new_tablet = await factories.asset(tablet_model)
    await factories.insert(
        "install",
        job_reference=f"JOB-{old_tablet['id']}",
        vehicle_id=vehicle["id"],
        tablet_id=old_tablet["id"],
        installed_on=dt.date(2021, 6, 1),
        removed_on=dt.date(2022, 1, 1),
        removal_reason="faulty",
    )
    await factories.insert(
        "install",
        job_reference=f"JOB-{new_tablet['id']}",
        vehicle_id=vehicle["id"],
        tablet_id=new_tablet["id"],
        installed_on=dt.date(2022, 1, 2),
    )
    async with connection() as conn:
        kit = await holdings.vehicle_kit(conn, vehicle["id"])
        fitted = await holdings.fitted_now(conn, [vehicle["id"]])
        with pytest.raises(NotFound):
            await holdings.vehicle_kit(conn, 999_999_999)
    assert [k.tablet_id for k in kit] == [new_tablet["id"], old_tablet["id"]]
    assert kit[1].removal_reason == "faulty"
    assert fitted[vehicle["id"]].tablet_id == new_tablet["id"]
