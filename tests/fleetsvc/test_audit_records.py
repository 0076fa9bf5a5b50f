"""Created records (a delivery's history) are tamper-evident: ``verify_chain`` recomputes
the digest their sealing event holds and names that event when a record was changed,
removed or added, and names a record's event when no event seals it; the database refuses
to change them, even for their owner.

Each test gets a database of its own (``own_db``): they break the trail on purpose."""

from __future__ import annotations

import asyncpg
import pytest

from fleetsvc import audit
from fleetsvc.audit_chain import RECORDS_DIGEST_V1_SQL, ChainReport, verify_chain
from fleetsvc.auth import Actor
from tests.fleetsvc.test_audit_chain import as_owner, check

ADMIN = Actor("tests", "admin")
# Three handsets of import 1, as a delivery writes them ($1: the sealing event).
RECORDS = (
    "INSERT INTO created_record (event_id, actor_name, actor_role, request_id, entity,"
    " entity_id, delivery_import_id, model_id, manufacturer, serial_number, unit_cost,"
    " delivered_on) SELECT $1::bigint, $2, $3, $4, 'asset', g, 1, 7, 'samsung', 'R58R' || g,"
    " 289.00, DATE '2036-06-02'"
    " FROM generate_series(1, 3) g ORDER BY g"
)
TRIGGER_OFF = "ALTER TABLE created_record DISABLE TRIGGER created_record_no_update_delete"
TRIGGER_ON = "ALTER TABLE created_record ENABLE TRIGGER created_record_no_update_delete"


async def _sealed(url: str) -> int:
    """Writes the records and their event; returns the event's id."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            assert await audit.record_created(conn, ADMIN, "delivery_import", 1, RECORDS) == 3
        seal: int = await conn.fetchval(
            "SELECT id FROM event WHERE action = 'items_created' ORDER BY id DESC LIMIT 1"
        )
        return seal
    finally:
        await conn.close()


def _broken_at(report: ChainReport, event_id: int, words: str) -> None:
    assert not report.ok, report.summary()
    assert report.first_break is not None and report.first_break.event_id == event_id
    assert words in report.first_break.problem, report.first_break.problem
    assert f"event {event_id}" in report.summary()


async def test_sealed_records_verify_and_are_counted(own_db: str) -> None:
    await _sealed(own_db)
    report = await check(own_db)
    assert report.ok and report.records_checked == 3, report.summary()
    assert "3 created records" in report.summary()


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE created_record SET serial_number = 'R58R9' WHERE entity_id = 2",
        "UPDATE created_record SET unit_cost = 1.00 WHERE entity_id = 3",
        "DELETE FROM created_record WHERE entity_id = 1",
    ],
    ids=["serial", "cost", "deleted"],
)
async def test_a_record_changed_by_the_owner_is_named_by_its_event(
    own_db: str, change: str
) -> None:
    seal = await _sealed(own_db)
    await as_owner(own_db, TRIGGER_OFF, change, TRIGGER_ON)
    _broken_at(await check(own_db), seal, "do not match the digest")


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE created_record SET actor_name = 'someone' WHERE entity_id = 2",
        "UPDATE created_record SET occurred_at = occurred_at - interval '1 day'"
        " WHERE entity_id = 3",
        "UPDATE created_record SET request_id = 'req-forged' WHERE entity_id = 1",
    ],
    ids=["actor", "time", "request"],
)
async def test_a_records_actor_or_time_changed_by_the_owner_is_named_by_its_event(
    own_db: str, change: str
) -> None:
    """Format 2 digests neither: verify holds them equal to the sealing event's."""
    seal = await _sealed(own_db)
    await as_owner(own_db, TRIGGER_OFF, change, TRIGGER_ON)
    _broken_at(await check(own_db), seal, "another time, actor or request id")


async def test_a_record_added_to_a_sealed_import_is_named(own_db: str) -> None:
    seal = await _sealed(own_db)
    await as_owner(
        own_db,
        "INSERT INTO created_record (event_id, actor_name, actor_role, entity, entity_id,"
        f" delivery_import_id, model_id, serial_number) VALUES ({seal}, 'tests', 'admin',"
        " 'asset', 4, 1, 7, 'R58R4')",
    )
    _broken_at(await check(own_db), seal, "do not match the digest")


async def test_a_record_no_event_seals_is_named(own_db: str) -> None:
    await _sealed(own_db)
    await as_owner(
        own_db,
        "INSERT INTO created_record (event_id, actor_name, actor_role, entity, entity_id,"
        " delivery_import_id, model_id, serial_number) VALUES (424242, 'tests', 'admin',"
        " 'asset', 9, 1, 7, 'R58R9')",
    )
    _broken_at(await check(own_db), 424242, "added outside an import")


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE created_record SET imei = NULL",
        "DELETE FROM created_record",
        "TRUNCATE created_record",
    ],
)
async def test_records_are_append_only_even_for_their_owner(own_db: str, sql: str) -> None:
    await _sealed(own_db)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await as_owner(own_db, sql)
    conn = await asyncpg.connect(own_db)
    try:
        assert (await verify_chain(conn)).ok
    finally:
        await conn.close()


async def test_the_digest_does_not_depend_on_the_sessions_date_and_time_settings(
    own_db: str,
) -> None:
    """Sealed in a session that spells dates and times its own way, checked in another."""
    conn = await asyncpg.connect(own_db)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL DateStyle = 'SQL, DMY'")
            await conn.execute("SET LOCAL TimeZone = 'America/New_York'")
            await audit.record_created(conn, ADMIN, "delivery_import", 1, RECORDS)
    finally:
        await conn.close()
    report = await check(own_db)
    assert report.ok and report.records_checked == 3, report.summary()


# Format 1, as seals were written before format 2: a jsonb array per record, and no
# records_format in the event.
_V1_SEAL = (
    "INSERT INTO event (id, actor_name, actor_role, entity, entity_id, action, after)"
    " SELECT $1::bigint, 'tests', 'admin', 'delivery_import', 1, 'items_created',"
    f" jsonb_build_object('records', count(*), 'records_sha256', {RECORDS_DIGEST_V1_SQL})"
    " FROM created_record r WHERE r.event_id = $1"
)


async def _sealed_in_format_1(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            seal: int = await conn.fetchval("SELECT nextval(pg_get_serial_sequence('event', 'id'))")
            await conn.execute(RECORDS, seal, "tests", "admin", None)
            await conn.execute(_V1_SEAL, seal)
        return seal
    finally:
        await conn.close()


async def test_seals_of_format_1_still_verify_and_a_change_is_named(own_db: str) -> None:
    old = await _sealed_in_format_1(own_db)
    await _sealed(own_db)
    report = await check(own_db)
    assert report.ok and report.records_checked == 6, report.summary()
    await as_owner(
        own_db,
        TRIGGER_OFF,
        f"UPDATE created_record SET delivered_on = DATE '2036-06-03' WHERE event_id = {old}"
        " AND entity_id = 2",
        TRIGGER_ON,
    )
    _broken_at(await check(own_db), old, "do not match the digest")
