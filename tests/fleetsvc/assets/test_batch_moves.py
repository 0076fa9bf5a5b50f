"""Many moves at once (``move_assets``): the rules and events of one move, all or none."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from db.engine import connection, transaction
from fleetsvc import audit
from fleetsvc.assets.batch_moves import AssetMove, move_assets
from fleetsvc.assets.moves import Transition, transition
from fleetsvc.auth import Actor
from fleetsvc.errors import Conflict, TransitionRefused, ValidationFailed
from tests import factories

pytestmark = pytest.mark.usefixtures("app")
ACTOR = Actor("tests", "admin")


async def _moves(moves: list[AssetMove]) -> int:
    async with transaction() as conn:
        return await move_assets(conn, ACTOR, moves)


async def _row(table: str, key: str, value: int) -> dict[str, Any]:
    async with connection() as conn:
        row = await conn.fetchrow(f"SELECT * FROM {table} WHERE {key} = $1", value)
    assert row is not None
    return dict(row)


async def _last_event(asset_id: int) -> dict[str, Any]:
    """The asset's last event as read (a reason is held by reference: each its own)."""
    async with connection() as conn:
        row = await conn.fetchrow(
            "SELECT action, before, after FROM event"
            " WHERE entity = 'asset' AND entity_id = $1 ORDER BY id DESC LIMIT 1",
            asset_id,
        )
        assert row is not None
        [event] = await audit.decode_events(conn, [row])
    return event


async def test_a_batch_writes_what_one_move_writes() -> None:
    model = await factories.device_model()
    one, many = await factories.asset(model), await factories.asset(model)
    person = await factories.person()
    async with transaction() as conn:
        await transition(
            conn,
            ACTOR,
            one["id"],
            Transition(to="deployed", reason="issued", person_id=person["id"]),
        )
    assert (
        await _moves(
            [AssetMove(asset_id=many["id"], to="deployed", reason="issued", person_id=person["id"])]
        )
        == 1
    )
    a, b = await _row("asset", "id", one["id"]), await _row("asset", "id", many["id"])
    same = ("status", "person_id", "in_service_on", "refresh_due_on", "version")
    assert {k: a[k] for k in same} == {k: b[k] for k in same}
    assert await _last_event(one["id"]) == await _last_event(many["id"])
    assert (await _row("assignment", "asset_id", many["id"]))["ended_at"] is None


async def test_a_first_issue_recorded_later_starts_on_its_service_date() -> None:
    asset, person = await factories.asset(), await factories.person()
    day = dt.date(2021, 9, 1)
    await _moves(
        [
            AssetMove(
                asset_id=asset["id"],
                to="deployed",
                reason="issued",
                person_id=person["id"],
                service_start=day,
            )
        ]
    )
    moved = await _row("asset", "id", asset["id"])
    assert moved["in_service_on"] == day and moved["refresh_due_on"] == dt.date(2024, 9, 1)
    started = (await _row("assignment", "asset_id", asset["id"]))["started_at"]
    assert started.date() == day


async def test_leaving_deployed_ends_the_issue() -> None:
    asset, person = await factories.asset(), await factories.person()
    await _moves(
        [AssetMove(asset_id=asset["id"], to="deployed", reason="x", person_id=person["id"])]
    )
    await _moves([AssetMove(asset_id=asset["id"], to="in_stock", reason="handed back")])
    issue = await _row("assignment", "asset_id", asset["id"])
    assert issue["ended_at"] is not None and issue["end_reason"] == "handed back"
    assert (await _row("asset", "id", asset["id"]))["person_id"] is None


async def test_one_bad_move_moves_none_and_every_problem_is_named() -> None:
    model = await factories.device_model()
    good, bad, twice = [await factories.asset(model) for _ in range(3)]
    left = await factories.person(active=False, left_on=dt.date(2026, 1, 31))
    with pytest.raises(ValidationFailed) as caught:
        await _moves(
            [
                AssetMove(asset_id=good["id"], to="staging", reason="build"),
                AssetMove(asset_id=bad["id"], to="deployed", reason="issue", person_id=left["id"]),
                AssetMove(asset_id=twice["id"], to="deployed", reason=" "),
                AssetMove(asset_id=twice["id"], to="staging", reason="again"),
            ]
        )
    problems = {(p.field, p.message) for p in caught.value.problems}
    assert ("moves.2.reason", "say why the asset is moving") in problems
    assert any(f.startswith("moves.3.asset_id") for f, _ in problems)
    assert (await _row("asset", "id", good["id"]))["version"] == good["version"]

    with pytest.raises(ValidationFailed) as caught:
        await _moves(
            [
                AssetMove(asset_id=good["id"], to="staging", reason="build"),
                AssetMove(asset_id=bad["id"], to="deployed", reason="issue", person_id=left["id"]),
            ]
        )
    [problem] = caught.value.problems
    assert (
        problem.field == "moves.1.person_id" and "left the force on 31/01/2026" in problem.message
    )
    assert (await _row("asset", "id", good["id"]))["status"] == "in_stock"


async def test_a_move_the_table_refuses_is_a_409_naming_the_allowed_ones() -> None:
    asset = await factories.asset(status="retired")
    with pytest.raises(Conflict) as caught:
        await _moves([AssetMove(asset_id=asset["id"], to="deployed", reason="again")])
    refused = TransitionRefused("retired", "deployed", ["in_stock", "disposed"])
    assert caught.value.message == f"moves.0: asset {asset['id']}: {refused.message}"


async def test_kit_fitted_in_a_vehicle_moves_on_its_own() -> None:
    tablet = await factories.asset(await factories.device_model(category="ivma_tablet"))
    vehicle = await factories.vehicle()
    await factories.insert(
        "install",
        job_reference=f"JOB-{tablet['id']}",
        vehicle_id=vehicle["id"],
        tablet_id=tablet["id"],
        installed_on=dt.date(2022, 1, 5),
    )
    async with transaction() as conn:
        await conn.execute(
            "UPDATE asset SET status = 'deployed', location_id = NULL WHERE id = $1", tablet["id"]
        )
    with pytest.raises(Conflict) as caught:
        await _moves([AssetMove(asset_id=tablet["id"], to="in_stock", reason="back")])
    assert "fitted in a vehicle; move it on its own" in caught.value.message
