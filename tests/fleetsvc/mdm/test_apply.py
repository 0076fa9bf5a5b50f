"""Applying batches: the staging tables a connection keeps between batches start each batch
empty, whether the batch before was on the same connection, in the same transaction, or
rolled back."""

from __future__ import annotations

import asyncio
import contextvars

import asyncpg
import msgspec
import pytest

from db.engine import connection, transaction
from fleetsvc.auth import Actor
from fleetsvc.mdm.apply import apply_batch
from fleetsvc.mdm.checks import ManagedDevice, check_device
from fleetsvc.vocabulary import MdmRunSource
from tests import factories
from tests.conftest import unique

ACTOR = Actor("tests:mdm-apply", "admin")


def device(serial: str) -> ManagedDevice:
    return ManagedDevice(
        id=unique("dev-").lower(),
        serial_number=serial,
        manufacturer="samsung",
        compliance_state="compliant",
        last_sync_date_time="2026-11-20T08:00:00Z",
    )


async def test_two_batches_in_one_transaction_each_apply_only_their_own(app: object) -> None:
    a, b = await factories.asset(), await factories.asset()
    run_key = unique("run-")
    async with transaction() as conn:
        first = await apply_batch(
            conn,
            ACTOR,
            run_key=run_key,
            source=MdmRunSource.PUSH,
            batch_no=1,
            checked=[check_device(0, device(a["serial_number"]))],
        )
        second = await apply_batch(
            conn,
            ACTOR,
            run_key=run_key,
            source=MdmRunSource.PUSH,
            batch_no=2,
            checked=[check_device(0, device(b["serial_number"]))],
        )
    assert (first.counts.matched, first.counts.changed) == (1, 1)
    # Had the first batch's rows still been staged, it would have counted them again.
    assert (second.counts.received, second.counts.matched, second.counts.changed) == (2, 2, 2)
    async with connection() as conn:
        held = await conn.fetch(
            "SELECT asset_id FROM mdm_device WHERE asset_id = ANY($1) AND is_primary"
            " ORDER BY asset_id",
            [a["id"], b["id"]],
        )
    assert [r["asset_id"] for r in held] == sorted([a["id"], b["id"]])


async def test_a_batch_after_one_rolled_back_on_the_same_connection_applies(app: object) -> None:
    a = await factories.asset()
    async with connection() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await apply_batch(
                    conn,
                    ACTOR,
                    run_key=unique("run-"),
                    source=MdmRunSource.PUSH,
                    batch_no=1,
                    checked=[check_device(0, device(a["serial_number"]))],
                )
                raise RuntimeError("rolled back")
        async with conn.transaction():
            run = await apply_batch(
                conn,
                ACTOR,
                run_key=unique("run-"),
                source=MdmRunSource.PUSH,
                batch_no=1,
                checked=[check_device(0, device(a["serial_number"]))],
            )
    assert (run.counts.matched, run.counts.changed) == (1, 1)


async def test_two_runs_passing_each_other_leave_an_asset_one_mdm_device(app: object) -> None:
    """Two runs matching one asset to two records at once: the second waits for the first
    to commit, then reads its record as the asset's and replaces it with its own newer one
    (an asset has one MDM device: both taking it would break the unique index)."""
    asset = await factories.asset()
    older = device(asset["serial_number"])
    newer = ManagedDevice(**{**msgspec.structs.asdict(older), "id": unique("dev-").lower()})
    newer.last_sync_date_time = "2026-11-21T08:00:00Z"

    async def apply(conn: asyncpg.Connection, record: ManagedDevice) -> None:
        await apply_batch(
            conn,
            ACTOR,
            run_key=unique("run-"),
            source=MdmRunSource.PUSH,
            batch_no=1,
            checked=[check_device(0, record)],
        )

    async with transaction() as first:
        await apply(first, older)
        first_pid = await first.fetchval("SELECT pg_backend_pid()")

        async def second_run() -> int:
            async with transaction() as second:
                await apply(second, newer)
                return int(await second.fetchval("SELECT pg_backend_pid()"))

        # A context of its own: not the first run's transaction, which this task's holds.
        second = asyncio.create_task(second_run(), context=contextvars.Context())
        async with connection() as watcher:
            for _ in range(1000):
                waiting = await watcher.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND pid <> $1 AND datname = current_database()",
                    first_pid,
                )
                if waiting or second.done():
                    break
                await asyncio.sleep(0.01)
        assert not second.done(), "the second run did not wait for the first"
    await second
    async with connection() as conn:
        held = await conn.fetch(
            "SELECT mdm_device_id FROM mdm_device WHERE asset_id = $1 AND is_primary", asset["id"]
        )
    assert [r["mdm_device_id"] for r in held] == [newer.id]
