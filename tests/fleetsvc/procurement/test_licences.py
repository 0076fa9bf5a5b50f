"""Licence seats at the service level: under concurrency, driven step by step, and many
given at once."""

from __future__ import annotations

import asyncio
from typing import cast

import asyncpg
import pytest

from db.engine import connection, pool, transaction
from fleetsvc.auth import Actor
from fleetsvc.errors import Conflict, ValidationFailed
from fleetsvc.procurement import licences
from tests import factories
from tests.conftest import unique

ACTOR = Actor("tests", "admin")


async def test_second_request_for_the_last_seat_waits_and_is_refused(app: object) -> None:
    contract = await factories.contract("licence")
    pool_row = await factories.insert(
        "licence_pool",
        product="NetMotion",
        licence_key=unique("NM-"),
        seats=1,
        contract_id=contract["id"],
    )
    a, b = await factories.asset(), await factories.asset()

    async with pool().acquire() as first_proxy, pool().acquire() as second_proxy:
        # The services take a connection; a pooled one behaves the same.
        first = cast(asyncpg.Connection, first_proxy)
        second = cast(asyncpg.Connection, second_proxy)
        tx = first.transaction()
        await tx.start()
        try:
            await licences.assign_seat(first, ACTOR, pool_row["id"], a["id"])

            async def take_second() -> None:
                async with second.transaction():
                    await licences.assign_seat(second, ACTOR, pool_row["id"], b["id"])

            racer = asyncio.create_task(take_second())
            # Let the second request run until it either finishes or waits for the pool's lock.
            pid = second.get_server_pid()
            while not racer.done():
                waiting = await pool().fetchval(
                    "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
                )
                if waiting:
                    break
                await asyncio.sleep(0.005)
        finally:
            await tx.commit()
        with pytest.raises(Conflict, match="is full"):
            await racer

    seats = await pool().fetchval(
        "SELECT count(*) FROM licence_seat WHERE pool_id = $1", pool_row["id"]
    )
    assert seats == 1


async def _pool(seats: int) -> dict[str, object]:
    contract = await factories.contract("licence")
    return await factories.insert(
        "licence_pool",
        product="NetMotion",
        licence_key=unique("NM-"),
        seats=seats,
        contract_id=contract["id"],
    )


async def test_many_seats_are_given_at_once_with_their_events(app: object) -> None:
    pool_row = await _pool(seats=3)
    pool_id = int(str(pool_row["id"]))
    assets = [(await factories.asset())["id"] for _ in range(3)]
    async with transaction() as conn:
        seats = await licences.assign_seats(conn, ACTOR, pool_id, assets)
        got = await licences.get_pool(conn, pool_id)
    assert [s.asset_id for s in seats] == assets and {s.pool_id for s in seats} == {pool_id}
    assert (got.seats_used, got.seats_free) == (3, 0)
    async with connection() as conn:
        events = await conn.fetch(
            "SELECT entity, entity_id, action FROM event WHERE (entity = 'licence_pool'"
            " AND entity_id = $1) OR (entity = 'asset' AND entity_id = ANY($2)) ORDER BY id",
            pool_id,
            assets,
        )
    assert [(e["entity"], e["entity_id"], e["action"]) for e in events] == [
        row
        for a in assets
        for row in (
            ("licence_pool", pool_id, "seat_assigned"),
            ("asset", a, "licence_seat_assigned"),
        )
    ]


async def test_many_seats_are_all_or_none(app: object) -> None:
    pool_row = await _pool(seats=2)
    pool_id = int(str(pool_row["id"]))
    a, b, c = [(await factories.asset())["id"] for _ in range(3)]

    with pytest.raises(ValidationFailed) as failed:
        async with transaction() as conn:
            await licences.assign_seats(conn, ACTOR, pool_id, [a, 999_999_999, a])
    assert [(p.field, p.message) for p in failed.value.problems] == [
        ("asset_ids.1.asset_id", "no asset with id 999999999"),
        ("asset_ids.2.asset_id", f"asset_id {a} is also given at asset_ids.0"),
    ]
    with pytest.raises(Conflict, match="has 2 free seats, not the 3 asked for"):
        async with transaction() as conn:
            await licences.assign_seats(conn, ACTOR, pool_id, [a, b, c])
    async with transaction() as conn:
        await licences.assign_seat(conn, ACTOR, pool_id, a)
    with pytest.raises(Conflict) as held:
        async with transaction() as conn:
            await licences.assign_seats(conn, ACTOR, pool_id, [b, a])
    assert held.value.field == "asset_ids" and f"asset {a} already has a seat" in str(held.value)

    seats = await pool().fetchval("SELECT count(*) FROM licence_seat WHERE pool_id = $1", pool_id)
    assert seats == 1
