"""The references of the tables a delivery writes (asset, sim, sim_fitting), checked once per
statement by triggers (migration 2026-12-04T09), hold as the foreign keys they replace did:
a missing parent fails the statement whole with SQLSTATE 23503 and the constraint's name, a
referenced parent cannot be deleted, re-keyed or truncated away, and a child written while
its parent is being deleted (or the other way round) waits for the other transaction and
then fails, in either order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from db.engine import transaction
from tests import factories
from tests.conftest import Databases, unique

REFERENCES: tuple[tuple[str, str, str, str], ...] = importlib.import_module(
    "db.piccolo_migrations.db_2026_12_04t09_00_00_000000_fk_statement_checks"
).REFERENCES
MISSING = 2_000_000_000  # an id no sequence of the test run reaches
pytestmark = pytest.mark.usefixtures("app")


def _ids(reference: tuple[str, str, str, str]) -> str:
    return reference[0]


async def make_parent(table: str) -> int:
    """A fresh row of ``table`` that nothing references yet."""
    if table == "purchase_order":
        row = await factories.insert(
            "purchase_order", number=unique("PO"), contract_id=(await factories.contract())["id"]
        )
    elif table == "delivery_import":
        row = await factories.insert(
            "delivery_import",
            profile="vodafone-despatch",
            file_name="d.csv",
            sha256=unique().lower().ljust(64, "0"),
            status="previewed",
            created_by="tests",
            created_role="stores",
        )
    else:
        make = {
            "device_model": factories.device_model,
            "person": factories.person,
            "contract": factories.contract,
            "location": factories.location,
            "asset": factories.asset,
            "sim": factories.sim,
        }[table]
        row = await make()
    return int(row["id"])


def child_values(child: str, column: str, key: int) -> dict[str, Any]:
    """What a row of ``child`` naming ``key`` in ``column`` needs besides its parents."""
    if child == "asset" and column == "person_id":
        return {"status": "deployed", "location_id": None, column: key}
    return {column: key}


async def make_child(child: str, column: str, key: int) -> int:
    """A row of ``child`` whose ``column`` names ``key`` (its other references valid)."""
    values = child_values(child, column, key)
    if child == "asset":
        if column == "model_id":
            async with transaction() as conn:
                model = await conn.fetchrow("SELECT * FROM device_model WHERE id = $1", key)
            row = await factories.asset(dict(model) if model else None, **values)
        else:
            row = await factories.asset(**values)
    elif child == "sim":
        row = await factories.sim(**values)
    else:
        # sim_fitting holds removed fittings (the open one is on the SIM's row).
        fitting = {
            "sim_id": (await factories.sim())["id"],
            "asset_id": (await factories.asset())["id"],
            "removed_at": dt.datetime.now(dt.UTC),
            **values,
        }
        row = await factories.insert("sim_fitting", **fitting)
    return int(row["id"])


def assert_missing(
    exc: pytest.ExceptionInfo[asyncpg.ForeignKeyViolationError],
    reference: tuple[str, str, str, str],
    key: int,
) -> None:
    name, child, column, parent = reference
    assert exc.value.sqlstate == "23503"
    assert exc.value.constraint_name == name
    assert exc.value.table_name == child
    assert exc.value.message == (
        f'insert or update on table "{child}" violates foreign key constraint "{name}"'
    )
    assert exc.value.detail == f'Key ({column})=({key}) is not present in table "{parent}".'


@pytest.mark.parametrize("reference", REFERENCES, ids=_ids)
async def test_a_child_naming_a_missing_parent_is_refused(
    reference: tuple[str, str, str, str],
) -> None:
    _, child, column, _ = reference
    with pytest.raises(asyncpg.ForeignKeyViolationError) as exc:
        await make_child(child, column, MISSING)
    assert_missing(exc, reference, MISSING)


@pytest.mark.parametrize("reference", REFERENCES, ids=_ids)
async def test_an_update_to_a_missing_parent_is_refused(
    reference: tuple[str, str, str, str],
) -> None:
    _, child, column, parent = reference
    row_id = await make_child(child, column, await make_parent(parent))
    values = child_values(child, column, MISSING)
    sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(values))
    with pytest.raises(asyncpg.ForeignKeyViolationError) as exc:
        async with transaction() as conn:
            await conn.execute(f"UPDATE {child} SET {sets} WHERE id = $1", row_id, *values.values())
    assert_missing(exc, reference, MISSING)


@pytest.mark.parametrize("reference", REFERENCES, ids=_ids)
async def test_a_referenced_parent_cannot_be_deleted_or_rekeyed(
    reference: tuple[str, str, str, str],
) -> None:
    name, child, column, parent = reference
    key = await make_parent(parent)
    await make_child(child, column, key)
    for sql in (
        f"DELETE FROM {parent} WHERE id = $1",
        f"UPDATE {parent} SET id = {MISSING} + id WHERE id = $1",
    ):
        with pytest.raises(asyncpg.ForeignKeyViolationError) as exc:
            async with transaction() as conn:
                await conn.execute(sql, key)
        assert exc.value.constraint_name == name
        assert exc.value.table_name == child
        assert exc.value.detail == f'Key (id)=({key}) is still referenced from table "{child}".'
    async with transaction() as conn:
        assert await conn.fetchval(f"SELECT count(*) FROM {child} WHERE {column} = $1", key) == 1


async def test_a_parent_nothing_references_is_deleted_and_rekeyed() -> None:
    model = await factories.device_model()
    async with transaction() as conn:
        await conn.execute("UPDATE device_model SET id = $2 WHERE id = $1", model["id"], MISSING)
        assert await conn.execute("DELETE FROM device_model WHERE id = $1", MISSING) == "DELETE 1"


async def bulk_assets(model_id: int, count: int) -> list[int]:
    """``count`` in-stock assets of one model, in one statement."""
    async with transaction() as conn:
        rows = await conn.fetch(
            "INSERT INTO asset (model_id, manufacturer, serial_number, status, location_id)"
            " SELECT $1, 'samsung', $2 || n, 'in_stock', (SELECT id FROM location"
            " WHERE code = 'STORES') FROM generate_series(1, $3) n RETURNING id",
            model_id,
            unique("BULK"),
            count,
        )
    return [r["id"] for r in rows]


# A statement of up to 100 rows is checked key by key; a larger one in one join: both ways.
SIZES = [3, 150]


@pytest.mark.parametrize("size", SIZES)
async def test_a_bulk_insert_with_one_bad_reference_fails_whole(size: int) -> None:
    model = await factories.device_model()
    asset_ids = await bulk_assets(model["id"], size)
    iccids = [factories.new_iccid() for _ in range(size + 1)]
    with pytest.raises(asyncpg.ForeignKeyViolationError) as exc:
        async with transaction() as conn:
            await conn.execute(
                "INSERT INTO sim (iccid, asset_id) SELECT * FROM unnest($1::text[], $2::int[])",
                iccids,
                [*asset_ids, MISSING],
            )
    assert_missing(exc, ("sim_asset_id_fkey", "sim", "asset_id", "asset"), MISSING)
    async with transaction() as conn:
        assert await conn.fetchval("SELECT count(*) FROM sim WHERE iccid = ANY($1)", iccids) == 0


@pytest.mark.parametrize("size", SIZES)
async def test_a_bulk_update_to_a_missing_parent_fails_whole(size: int) -> None:
    model = await factories.device_model()
    ids = await bulk_assets(model["id"], size)
    location = await factories.location()
    with pytest.raises(asyncpg.ForeignKeyViolationError) as exc:
        async with transaction() as conn:
            # Every row moves to a real location but the last, whose location is not there.
            await conn.execute(
                "UPDATE asset SET location_id = CASE WHEN id = $2 THEN $3::int ELSE $4::int END"
                " WHERE id = ANY($1)",
                ids,
                ids[-1],
                MISSING,
                location["id"],
            )
    assert_missing(exc, ("asset_location_id_fkey", "asset", "location_id", "location"), MISSING)
    async with transaction() as conn:
        # The same move with every location there passes.
        assert (
            await conn.execute(
                "UPDATE asset SET notes = 'moved', location_id = $2 WHERE id = ANY($1)",
                ids,
                location["id"],
            )
            == f"UPDATE {size}"
        )


@pytest.mark.parametrize("size", SIZES)
async def test_one_statement_inserts_parents_and_their_children(size: int) -> None:
    """As a delivery does: the check runs when the statement ends, so a SIM may name the
    asset the same statement inserted, and a fitting that SIM; a NULL names nothing."""
    model = await factories.device_model()
    location = await factories.default_location_id()
    serials = [unique("SN") for _ in range(size)]
    insert = """
    WITH numbered AS MATERIALIZED (
        SELECT nextval('asset_id_seq') AS id, s, $4::text[] AS iccids
        FROM unnest($3::text[]) s
    ), a AS (
        INSERT INTO asset (id, model_id, manufacturer, serial_number, status, location_id)
        SELECT id, $1, 'samsung', s, 'in_stock', $2 FROM numbered RETURNING id
    ), sims AS (
        INSERT INTO sim (iccid, asset_id, contract_id)
        SELECT iccids[row_number() OVER (ORDER BY id)], id, NULL FROM numbered
        RETURNING id, asset_id
    )
    INSERT INTO sim_fitting (sim_id, asset_id, removed_at) SELECT id, asset_id, now() FROM sims
    """
    iccids = [factories.new_iccid() for _ in serials]
    async with transaction() as conn:
        done = await conn.execute(insert, model["id"], location, serials, iccids)
    assert done == f"INSERT 0 {size}"
    # The same statement with an asset of a model that is not there fails whole.
    bad = [unique("SN") for _ in range(size)]
    with pytest.raises(asyncpg.ForeignKeyViolationError) as exc:
        async with transaction() as conn:
            await conn.execute(insert, MISSING, location, bad, [factories.new_iccid() for _ in bad])
    assert exc.value.constraint_name == "asset_model_id_fkey"
    async with transaction() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM asset WHERE serial_number = ANY($1)", bad)
            == 0
        )


async def test_an_update_that_keeps_its_keys_is_not_refused_for_them() -> None:
    asset = await factories.asset()
    async with transaction() as conn:
        assert (
            await conn.execute("UPDATE asset SET notes = 'checked' WHERE id = $1", asset["id"])
            == "UPDATE 1"
        )


async def test_truncating_a_parent_is_refused_while_children_name_it(databases: Databases) -> None:
    sim = await factories.sim()
    await factories.insert(
        "sim_fitting",
        sim_id=sim["id"],
        asset_id=(await factories.asset())["id"],
        removed_at=dt.datetime.now(dt.UTC),
    )
    owner = await asyncpg.connect(databases.owner)
    try:
        async with owner.transaction():
            await owner.execute("SET LOCAL lock_timeout = '10s'")
            with pytest.raises(asyncpg.ForeignKeyViolationError) as exc:
                async with owner.transaction():
                    await owner.execute("TRUNCATE sim")
            assert exc.value.constraint_name == "sim_fitting_sim_id_fkey"
            # With its children, it may go (rolled back here).
            await owner.execute("TRUNCATE sim, sim_fitting")
            raise _Rollback
    except _Rollback:
        pass
    finally:
        await owner.close()


class _Rollback(Exception):
    pass


async def test_fk_violations_lists_rows_whose_parent_is_missing(databases: Databases) -> None:
    """What validating a restored dump's rows does: nothing is broken in the register, and a
    row loaded with the checks off (as a restore with triggers disabled would) is found."""
    owner = await asyncpg.connect(databases.owner)
    try:
        assert await owner.fetch("SELECT * FROM fk_violations()") == []
        tx = owner.transaction()
        await tx.start()
        try:
            await owner.execute("ALTER TABLE sim DISABLE TRIGGER fk_references_insert")
            sim_id = await owner.fetchval(
                "INSERT INTO sim (iccid, asset_id) VALUES ($1, $2) RETURNING id",
                factories.new_iccid(),
                MISSING,
            )
            found = [tuple(r) for r in await owner.fetch("SELECT * FROM fk_violations()")]
            assert found == [("sim_asset_id_fkey", "sim", sim_id, MISSING)]
        finally:
            await tx.rollback()
    finally:
        await owner.close()


# Two sessions, as two requests of the service are: READ COMMITTED, each its own connection.


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[tuple[asyncpg.Connection, ...]]:
    a, b, watcher = [await asyncpg.connect(database_url) for _ in range(3)]
    try:
        yield a, b, watcher
    finally:
        for conn in (a, b, watcher):
            await conn.close()


async def wait_until_blocked(watcher: asyncpg.Connection, blocked: asyncpg.Connection) -> None:
    """Until ``blocked``'s backend waits for a lock another transaction holds."""
    pid = blocked.get_server_pid()
    async with asyncio.timeout(30):
        while not await watcher.fetchval("SELECT cardinality(pg_blocking_pids($1)) > 0", pid):  # noqa: ASYNC110 - polls the server
            await asyncio.sleep(0.01)


async def test_deleting_a_parent_waits_for_a_child_in_flight_then_fails(
    sessions: tuple[asyncpg.Connection, ...],
) -> None:
    a, b, watcher = sessions
    model = await factories.device_model()
    location = await factories.default_location_id()
    ta = a.transaction()
    await ta.start()
    await a.execute(
        "INSERT INTO asset (model_id, manufacturer, serial_number, status, location_id)"
        " VALUES ($1, 'samsung', $2, 'in_stock', $3)",
        model["id"],
        unique("SN"),
        location,
    )
    delete = asyncio.create_task(b.execute("DELETE FROM device_model WHERE id = $1", model["id"]))
    await wait_until_blocked(watcher, b)
    assert not delete.done()
    await ta.commit()
    with pytest.raises(asyncpg.ForeignKeyViolationError) as exc:
        await delete
    assert exc.value.constraint_name == "asset_model_id_fkey"
    assert await watcher.fetchval("SELECT count(*) FROM device_model WHERE id = $1", model["id"])


@pytest.mark.parametrize("deleter_commits", [True, False])
async def test_a_child_waits_for_a_parent_being_deleted(
    sessions: tuple[asyncpg.Connection, ...], deleter_commits: bool
) -> None:
    """The deleter commits: the child fails, naming the key. It rolls back: the child is
    written (the wait, not a guess made before it, decides)."""
    a, b, watcher = sessions
    parent = await factories.asset()
    tb = b.transaction()
    await tb.start()
    await b.execute("DELETE FROM asset WHERE id = $1", parent["id"])
    iccid = factories.new_iccid()
    insert = asyncio.create_task(
        a.execute("INSERT INTO sim (iccid, asset_id) VALUES ($1, $2)", iccid, parent["id"])
    )
    await wait_until_blocked(watcher, a)
    assert not insert.done()
    if deleter_commits:
        await tb.commit()
        with pytest.raises(asyncpg.ForeignKeyViolationError) as exc:
            await insert
        assert_missing(exc, ("sim_asset_id_fkey", "sim", "asset_id", "asset"), parent["id"])
    else:
        await tb.rollback()
        assert await insert == "INSERT 0 1"
    assert await watcher.fetchval("SELECT count(*) FROM sim WHERE iccid = $1", iccid) == (
        0 if deleter_commits else 1
    )


async def test_moving_a_child_to_a_parent_being_deleted_waits_then_fails(
    sessions: tuple[asyncpg.Connection, ...],
) -> None:
    """An UPDATE of the key is checked as an INSERT is (a holder who is leaving the table)."""
    a, b, watcher = sessions
    asset = await factories.asset(status="deployed", location_id=None)
    person = await factories.person()
    tb = b.transaction()
    await tb.start()
    await b.execute("DELETE FROM person WHERE id = $1", person["id"])
    move = asyncio.create_task(
        a.execute("UPDATE asset SET person_id = $2 WHERE id = $1", asset["id"], person["id"])
    )
    await wait_until_blocked(watcher, a)
    await tb.commit()
    with pytest.raises(asyncpg.ForeignKeyViolationError) as exc:
        await move
    assert exc.value.constraint_name == "asset_person_id_fkey"


@pytest.mark.parametrize("size", SIZES)
async def test_a_bulk_insert_waits_for_its_parent_being_deleted_then_fails(
    sessions: tuple[asyncpg.Connection, ...], size: int
) -> None:
    a, b, watcher = sessions
    model = await factories.device_model()
    tb = b.transaction()
    await tb.start()
    await b.execute("DELETE FROM device_model WHERE id = $1", model["id"])
    insert = asyncio.create_task(bulk_assets_on(a, model["id"], size))
    await wait_until_blocked(watcher, a)
    await tb.commit()
    with pytest.raises(asyncpg.ForeignKeyViolationError) as exc:
        await insert
    assert_missing(exc, REFERENCES[0], model["id"])


async def bulk_assets_on(conn: asyncpg.Connection, model_id: int, count: int) -> str:
    return str(
        await conn.execute(
            "INSERT INTO asset (model_id, manufacturer, serial_number, status, location_id)"
            " SELECT $1, 'samsung', $2 || n, 'in_stock', (SELECT id FROM location"
            " WHERE code = 'STORES') FROM generate_series(1, $3) n",
            model_id,
            unique("BULK"),
            count,
        )
    )


async def test_a_large_statements_check_reads_its_parents_by_their_keys_range() -> None:
    """A delivery's SIMs name the assets just inserted: their check reads the assets between
    the least and the greatest key named (migration 2026-12-04T19:00), not every asset of the
    register, with no nested loop (as a delivery's apply runs it); a key missing inside that
    range is still found."""
    model = await factories.device_model()
    register = 1000
    await bulk_assets(model["id"], register)  # a register larger than the statement
    named = await bulk_assets(model["id"], 150)
    # Rows the statement's scans of asset returned: in sequence, and through its key.
    read = (
        "SELECT pg_stat_get_xact_tuples_returned('asset'::regclass)"
        " + pg_stat_get_xact_tuples_returned('asset_pkey'::regclass)"
    )
    insert = "INSERT INTO sim (iccid, asset_id) SELECT * FROM unnest($1::text[], $2::int[])"
    async with transaction() as conn:
        await conn.execute("SET LOCAL enable_nestloop = off")
        # Whether the check can read a range (a small test table could make a scan cheaper).
        await conn.execute("SET LOCAL enable_seqscan = off")
        before = await conn.fetchval(read)
        await conn.execute(insert, [factories.new_iccid() for _ in named], named)
        returned = await conn.fetchval(read) - before
    # Each asset named found (p), then locked (l), and the ends of the table's key (whether
    # the range is narrow): twice 150 and a few, not the 1,150 and more there.
    assert returned <= 2 * len(named) + 10 < register, returned
    # The same check on other assets, one of which is gone: a key inside the range.
    others = await bulk_assets(model["id"], 151)
    async with transaction() as conn:
        await conn.execute("DELETE FROM asset WHERE id = $1", others[75])
    with pytest.raises(asyncpg.ForeignKeyViolationError) as exc:
        async with transaction() as conn:
            await conn.execute("SET LOCAL enable_nestloop = off")
            await conn.execute(insert, [factories.new_iccid() for _ in others], others)
    assert_missing(exc, ("sim_asset_id_fkey", "sim", "asset_id", "asset"), others[75])
