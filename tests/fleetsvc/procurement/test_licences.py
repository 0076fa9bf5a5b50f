"""Licence seats under concurrency, driven step by step at the service level."""

from __future__ import annotations

import asyncio
from typing import cast

import asyncpg
import pytest

from db.engine import pool
from fleetsvc.auth import Actor
from fleetsvc.errors import Conflict
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
