"""A delivery's history is tamper-evident: ``verify_chain`` recomputes the digest its sealing
event holds, over its created items (format 3, ``created_item``: one row per item, its SIM
on it) or, for imports sealed before, its created records (formats 1 and 2,
``created_record``), and names that event when a row was changed, removed or added, and
names a row's event when no event seals it; the database refuses to change them, even for
their owner.

Each test gets a database of its own (``own_db``): they break the trail on purpose."""

from __future__ import annotations

import asyncpg
import pytest

from fleetsvc import audit
from fleetsvc.audit_chain import (
    RECORDS_DIGEST_SQL,
    RECORDS_DIGEST_V1_SQL,
    ChainReport,
    verify_chain,
)
from fleetsvc.auth import Actor
from tests.fleetsvc.test_audit_chain import as_owner, check

ADMIN = Actor("tests", "admin")
# Three handsets of import 1, as a delivery writes them ($1: the sealing event), the first
# two with a SIM: five history entries.
ITEMS = (
    "INSERT INTO created_item (id, event_id, actor_name, actor_role, request_id,"
    " delivery_import_id, asset_id, model_id, manufacturer, serial_number, unit_cost,"
    " delivered_on, sim_record_id, sim_id, iccid, msisdn, sim_contract_id)"
    " SELECT nextval('event_id_seq'), $1::bigint, $2, $3, $4, 1, g, 7, 'samsung', 'R58R' || g,"
    " 289.00, DATE '2036-06-02', CASE WHEN g < 3 THEN nextval('event_id_seq') END,"
    " CASE WHEN g < 3 THEN 10 + g END, CASE WHEN g < 3 THEN '8944100000000000' || g END,"
    " CASE WHEN g = 1 THEN '447700900001' END, CASE WHEN g < 3 THEN 5 END"
    " FROM generate_series(1, 3) g ORDER BY g"
)
ITEM_TRIGGER_OFF = "ALTER TABLE created_item DISABLE TRIGGER created_item_no_update_delete"
ITEM_TRIGGER_ON = "ALTER TABLE created_item ENABLE TRIGGER created_item_no_update_delete"
# Three handsets of import 1 as created records ($1: the sealing event), as imports wrote
# them before created items.
RECORDS = (
    "INSERT INTO created_record (event_id, actor_name, actor_role, request_id, entity,"
    " entity_id, delivery_import_id, model_id, manufacturer, serial_number, unit_cost,"
    " delivered_on) SELECT $1::bigint, $2, $3, $4, 'asset', g, 1, 7, 'samsung', 'R58R' || g,"
    " 289.00, DATE '2036-06-02'"
    " FROM generate_series(1, 3) g ORDER BY g"
)
TRIGGER_OFF = "ALTER TABLE created_record DISABLE TRIGGER created_record_no_update_delete"
TRIGGER_ON = "ALTER TABLE created_record ENABLE TRIGGER created_record_no_update_delete"


async def _write_items(conn: asyncpg.Connection) -> None:
    assert await audit.record_created(conn, ADMIN, "delivery_import", 1, ITEMS) == 5


# Format 2, as imports sealed created records before created items.
_V2_SEAL = (
    "WITH r AS (" + RECORDS + " RETURNING *)"
    " INSERT INTO event (id, actor_name, actor_role, request_id, entity, entity_id, action,"
    " after) SELECT $1::bigint, $2, $3, $4, 'delivery_import', 1, 'items_created',"
    " jsonb_build_object('records', count(*), 'records_format', 2,"
    f" 'records_sha256', {RECORDS_DIGEST_SQL}) FROM r"
)


async def _write_records(conn: asyncpg.Connection) -> None:
    seal = await conn.fetchval("SELECT nextval(pg_get_serial_sequence('event', 'id'))")
    await conn.execute(_V2_SEAL, seal, ADMIN.name, ADMIN.role, ADMIN.request_id)


# What each kind of seal writes, its entries, and its table's append-only trigger off and on.
KINDS = {
    "items": (_write_items, 5, ITEM_TRIGGER_OFF, ITEM_TRIGGER_ON),
    "records": (_write_records, 3, TRIGGER_OFF, TRIGGER_ON),
}


async def _sealed(url: str, kind: str = "items", *settings: str) -> int:
    """Writes the items (or records) and their event; returns the event's id."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for sql in settings:
                await conn.execute(sql)
            await KINDS[kind][0](conn)
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


@pytest.mark.parametrize("kind", KINDS)
async def test_sealed_items_and_records_verify_and_are_counted(own_db: str, kind: str) -> None:
    await _sealed(own_db, kind)
    entries = KINDS[kind][1]
    report = await check(own_db)
    assert report.ok and report.records_checked == entries, report.summary()
    assert f"{entries} created records" in report.summary()


async def test_an_imports_items_show_as_its_handsets_and_sims_created_entries(
    own_db: str,
) -> None:
    """Each item and each SIM is an entry of its own in the history, by its own id, with the
    sealing event's actor and time."""
    seal = await _sealed(own_db)
    conn = await asyncpg.connect(own_db)
    try:
        rows = await conn.fetch(
            "SELECT h.id, h.entity, h.entity_id, h.actor_name, h.occurred_at = e.occurred_at AS t"
            " FROM event_history h, event e WHERE e.id = $1 AND h.action = 'created'"
            " ORDER BY h.id",
            seal,
        )
    finally:
        await conn.close()
    assert [(r["entity"], r["entity_id"]) for r in rows] == [
        ("asset", 1),
        ("sim", 11),
        ("asset", 2),
        ("sim", 12),
        ("asset", 3),
    ]
    ids = [r["id"] for r in rows]
    assert ids == list(range(seal + 1, seal + 6))
    assert all(r["actor_name"] == "tests" and r["t"] for r in rows)


CHANGES = [
    ("items", "UPDATE created_item SET serial_number = 'R58R9' WHERE asset_id = 2"),
    ("items", "UPDATE created_item SET unit_cost = 1.00 WHERE asset_id = 3"),
    ("items", "UPDATE created_item SET iccid = '89441000000000009' WHERE asset_id = 1"),
    ("items", "UPDATE created_item SET msisdn = NULL WHERE asset_id = 1"),
    ("items", "UPDATE created_item SET sim_contract_id = 6 WHERE asset_id = 2"),
    ("items", "UPDATE created_item SET sim_record_id = sim_record_id + 100 WHERE asset_id = 2"),
    ("items", "DELETE FROM created_item WHERE asset_id = 1"),
    ("items", "DELETE FROM created_item WHERE asset_id = 3"),
    ("records", "UPDATE created_record SET serial_number = 'R58R9' WHERE entity_id = 2"),
    ("records", "UPDATE created_record SET unit_cost = 1.00 WHERE entity_id = 3"),
    ("records", "DELETE FROM created_record WHERE entity_id = 1"),
]


@pytest.mark.parametrize(("kind", "change"), CHANGES)
async def test_a_row_changed_by_the_owner_is_named_by_its_event(
    own_db: str, kind: str, change: str
) -> None:
    seal = await _sealed(own_db, kind)
    _, _, off, on = KINDS[kind]
    await as_owner(own_db, off, change, on)
    _broken_at(await check(own_db), seal, "do not match the digest")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "change",
    [
        "UPDATE {table} SET actor_name = 'someone' WHERE {key} = 2",
        "UPDATE {table} SET occurred_at = occurred_at - interval '1 day' WHERE {key} = 3",
        "UPDATE {table} SET request_id = 'req-forged' WHERE {key} = 1",
    ],
    ids=["actor", "time", "request"],
)
async def test_a_rows_actor_or_time_changed_by_the_owner_is_named_by_its_event(
    own_db: str, kind: str, change: str
) -> None:
    """Formats 2 and 3 digest neither: verify holds them equal to the sealing event's."""
    seal = await _sealed(own_db, kind)
    _, _, off, on = KINDS[kind]
    table, key = (
        ("created_item", "asset_id") if kind == "items" else ("created_record", "entity_id")
    )
    await as_owner(own_db, off, change.format(table=table, key=key), on)
    _broken_at(await check(own_db), seal, "another time, actor or request id")


_ADD_ITEM = (
    "INSERT INTO created_item (event_id, actor_name, actor_role, delivery_import_id, asset_id,"
    " model_id, serial_number) VALUES ({seal}, 'tests', 'admin', 1, 4, 7, 'R58R4')"
)
_ADD_RECORD = (
    "INSERT INTO created_record (event_id, actor_name, actor_role, entity, entity_id,"
    " delivery_import_id, model_id, serial_number) VALUES ({seal}, 'tests', 'admin',"
    " 'asset', 4, 1, 7, 'R58R4')"
)


@pytest.mark.parametrize(
    ("kind", "added"),
    [("items", _ADD_ITEM), ("records", _ADD_RECORD), ("items", _ADD_RECORD)],
    ids=["item", "record", "record-to-items"],
)
async def test_a_row_added_to_a_sealed_import_is_named(own_db: str, kind: str, added: str) -> None:
    """In the seal's table or the other one (a format-3 seal covers items only)."""
    seal = await _sealed(own_db, kind)
    await as_owner(own_db, added.format(seal=seal))
    _broken_at(await check(own_db), seal, "do not match the digest")


async def test_an_item_added_to_a_format_2_seal_is_named(own_db: str) -> None:
    seal = await _sealed(own_db, "records")
    await as_owner(own_db, _ADD_ITEM.format(seal=seal))
    _broken_at(await check(own_db), seal, "do not match the digest")


@pytest.mark.parametrize("added", [_ADD_ITEM, _ADD_RECORD], ids=["item", "record"])
async def test_a_row_no_event_seals_is_named(own_db: str, added: str) -> None:
    await _sealed(own_db)
    await as_owner(own_db, added.format(seal=424242))
    _broken_at(await check(own_db), 424242, "added outside an import")


@pytest.mark.parametrize(
    ("kind", "sql"),
    [
        ("items", "UPDATE created_item SET imei = NULL"),
        ("items", "UPDATE created_item_sim SET msisdn = NULL"),
        ("items", "DELETE FROM created_item"),
        ("items", "DELETE FROM created_item_bare"),
        ("items", "TRUNCATE created_item"),
        ("items", "TRUNCATE created_item_sim"),
        ("items", "TRUNCATE created_item_bare"),
        ("records", "UPDATE created_record SET imei = NULL"),
        ("records", "DELETE FROM created_record"),
        ("records", "TRUNCATE created_record"),
    ],
)
async def test_items_and_records_are_append_only_even_for_their_owner(
    own_db: str, kind: str, sql: str
) -> None:
    await _sealed(own_db, kind)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await as_owner(own_db, sql)
    conn = await asyncpg.connect(own_db)
    try:
        assert (await verify_chain(conn)).ok
    finally:
        await conn.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_the_digest_does_not_depend_on_the_sessions_date_and_time_settings(
    own_db: str, kind: str
) -> None:
    """Sealed in a session that spells dates and times its own way, checked in another."""
    await _sealed(
        own_db,
        kind,
        "SET LOCAL DateStyle = 'SQL, DMY'",
        "SET LOCAL TimeZone = 'America/New_York'",
    )
    report = await check(own_db)
    assert report.ok and report.records_checked == KINDS[kind][1], report.summary()


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
    await _sealed(own_db, "records")
    await _sealed(own_db)
    report = await check(own_db)
    assert report.ok and report.records_checked == 3 + 3 + 5, report.summary()
    await as_owner(
        own_db,
        TRIGGER_OFF,
        f"UPDATE created_record SET delivered_on = DATE '2036-06-03' WHERE event_id = {old}"
        " AND entity_id = 2",
        TRIGGER_ON,
    )
    _broken_at(await check(own_db), old, "do not match the digest")
