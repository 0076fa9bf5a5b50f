"""Every index on the tables a delivery writes (asset, sim, sim_fitting, created_item) says
which of the service's queries it serves, and the one serial index serves both kinds of
serial lookup.

Each index costs every delivered item an entry; one that serves no query is pure cost. The
migration that adds an index on these tables describes it with ``COMMENT ON INDEX`` (the
query it serves), and this test fails for one that does not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from db.engine import connection, transaction
from tests import factories
from tests.conftest import Databases

DELIVERY_TABLES = (
    "asset",
    "sim",
    "sim_fitting",
    "created_record",
    "created_item",
    "created_item_sim",
    "created_item_bare",
)


@pytest.mark.parametrize("table", DELIVERY_TABLES)
async def test_every_index_names_the_query_it_serves(app: object, table: str) -> None:
    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT c.relname, obj_description(c.oid, 'pg_class') AS purpose"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = $1::regclass ORDER BY c.relname",
            table,
        )
    assert rows, f"the {table} table has no index at all"
    assert [r["relname"] for r in rows if not r["purpose"]] == []


async def test_a_serial_is_indexed_once(app: object) -> None:
    """One index holds the serial: a second one would cost every delivered item an entry."""
    async with connection() as conn:
        names = await conn.fetch(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = 'asset'::regclass AND a.attname = 'serial_number'"
        )
    assert [r["relname"] for r in names] == ["asset_serial_uq"]


@pytest.mark.parametrize(
    "where",
    ["serial_number = 'R58N1'", "manufacturer = 'samsung' AND serial_number = 'R58N1'"],
)
async def test_serial_lookups_read_the_serial_index(app: object, where: str) -> None:
    async with transaction() as conn:
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            r[0] for r in await conn.fetch(f"EXPLAIN SELECT id FROM asset WHERE {where}")
        )
    assert "asset_serial_uq" in plan and "Index Cond" in plan, plan


async def test_serials_are_still_unique_per_maker(app: object) -> None:
    model = await factories.device_model()
    first = await factories.asset(model)
    other_maker = await factories.device_model(manufacturer=f"Other {first['id']}")
    # The same serial from another maker is another item.
    await factories.asset(other_maker, serial_number=first["serial_number"])
    with pytest.raises(asyncpg.UniqueViolationError):
        await factories.asset(model, serial_number=first["serial_number"])


async def test_unique_keys_that_are_mostly_null_index_only_their_values(app: object) -> None:
    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT c.relname, i.indisunique AS is_unique,"
            " pg_get_expr(i.indpred, i.indrelid) AS predicate"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = ANY(ARRAY['asset'::regclass, 'mdm_device'::regclass])"
            " AND c.relname = ANY($1::text[])",
            ["asset_tag_uq", "mdm_device_primary_uq"],
        )
    found = {r["relname"]: (r["is_unique"], r["predicate"]) for r in rows}
    assert found == {
        "asset_tag_uq": (True, "(asset_tag IS NOT NULL)"),
        "mdm_device_primary_uq": (True, "is_primary"),
    }


async def test_an_asset_has_one_mdm_device_and_a_device_one_asset(app: object) -> None:
    """The asset's MDM device is its primary record: one per asset, and never without one
    (an MDM device id is one row, so it is one asset's at most)."""
    asset = await factories.asset()
    insert = (
        "INSERT INTO mdm_device (mdm_device_id, device_name, asset_id, is_primary)"
        " VALUES ($1, '', $2, $3)"
    )
    async with transaction() as conn:
        await conn.execute(insert, f"d1-{asset['id']}", asset["id"], True)
        await conn.execute(insert, f"d2-{asset['id']}", asset["id"], False)
        with pytest.raises(asyncpg.UniqueViolationError, match="mdm_device_primary_uq"):
            async with conn.transaction():
                await conn.execute(insert, f"d3-{asset['id']}", asset["id"], True)
        with pytest.raises(asyncpg.CheckViolationError, match="mdm_device_primary_chk"):
            async with conn.transaction():
                await conn.execute(insert, f"d4-{asset['id']}", None, True)
        with pytest.raises(asyncpg.UniqueViolationError, match="mdm_device_id_key"):
            async with conn.transaction():
                await conn.execute(insert, f"d1-{asset['id']}", None, False)


async def test_every_mdm_device_index_names_the_query_it_serves(app: object) -> None:
    # A first MDM sync inserts every device: each index costs each of them an entry.
    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT c.relname, obj_description(c.oid, 'pg_class') AS purpose"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = 'mdm_device'::regclass ORDER BY c.relname"
        )
    assert [r["relname"] for r in rows if not r["purpose"]] == []
    assert {r["relname"] for r in rows} == {
        "mdm_device_pkey",
        "mdm_device_mdm_device_id_key",
        "mdm_device_asset_idx",
        "mdm_device_primary_uq",
        "mdm_device_user_upn_idx",
    }


async def test_a_records_time_costs_it_no_btree_entry(app: object) -> None:
    """Records are appended in time order: their time is indexed by block range (BRIN),
    and a window with no records is answered from it, not by walking every record."""
    async with connection() as conn:
        kinds = await conn.fetch(
            "SELECT c.relname, a.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_am a ON a.oid = c.relam JOIN pg_attribute t ON t.attrelid = i.indrelid"
            " AND t.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = 'created_record'::regclass AND t.attname = 'occurred_at'"
        )
    assert [(r["relname"], r["amname"]) for r in kinds] == [("created_record_occurred_idx", "brin")]
    async with transaction() as conn:
        # Left only the bitmap scans (a small test table could make walking the keyset cheaper).
        await conn.execute("SET LOCAL enable_seqscan = off")
        await conn.execute("SET LOCAL enable_indexscan = off")
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN SELECT id FROM created_record"
                " WHERE occurred_at >= now() + interval '1 day' ORDER BY id LIMIT 51"
            )
        )
    assert "created_record_occurred_idx" in plan, plan


async def test_an_imports_items_cost_them_no_btree_entry(app: object) -> None:
    """A delivery's items are inserted together: their import is indexed by block range
    (BRIN), and an import's items are read through it (its history, the re-commit check)."""
    async with connection() as conn:
        kinds = await conn.fetch(
            "SELECT c.relname, a.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_am a ON a.oid = c.relam JOIN pg_attribute t ON t.attrelid = i.indrelid"
            " AND t.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = ANY('{asset,sim}'::regclass[])"
            " AND t.attname = 'delivery_import_id' ORDER BY 1"
        )
    assert [(r["relname"], r["amname"]) for r in kinds] == [
        ("asset_import_idx", "brin"),
        ("sim_import_idx", "brin"),
    ]
    async with transaction() as conn:
        await conn.execute("SET LOCAL enable_seqscan = off")
        for table in ("asset", "sim"):
            plan = "\n".join(
                r[0]
                for r in await conn.fetch(
                    f"EXPLAIN SELECT count(*) FROM {table} WHERE delivery_import_id = 1"
                )
            )
            assert f"{table}_import_idx" in plan, plan


async def test_a_sims_open_fitting_is_on_its_row_and_costs_no_fitting_row(app: object) -> None:
    """A delivery's fittings are all open: each is on its SIM's row, so ``sim_fitting``,
    which holds removed fittings only, has no unique index over open ones (a SIM has one
    ``asset_id``; a handset holds one SIM by ``sim_asset_uq``)."""
    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT c.relname, i.indisunique AS is_unique,"
            " pg_get_expr(i.indpred, i.indrelid) AS predicate"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = 'sim_fitting'::regclass AND NOT i.indisprimary"
        )
    assert {r["relname"]: (r["is_unique"], r["predicate"]) for r in rows} == {
        "sim_fitting_asset_idx": (False, None),
        "sim_fitting_sim_idx": (False, None),
    }
    sim = await factories.sim()
    asset = await factories.asset()
    async with transaction() as conn:
        with pytest.raises(asyncpg.CheckViolationError, match="sim_fitting_removed_chk"):
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO sim_fitting (sim_id, asset_id) VALUES ($1, $2)",
                    sim["id"],
                    asset["id"],
                )
        # An open fitting names the handset the SIM is in, and has its time.
        with pytest.raises(asyncpg.CheckViolationError, match="sim_fitting_open_chk"):
            async with conn.transaction():
                await conn.execute(
                    "UPDATE sim SET fitting_id = nextval('sim_fitting_id_seq'), fitted_at = now()"
                    " WHERE id = $1",
                    sim["id"],
                )
        with pytest.raises(asyncpg.UniqueViolationError, match="sim_asset_uq"):
            async with conn.transaction():
                other = await factories.sim()
                for s in (sim, other):
                    await conn.execute(
                        "UPDATE sim SET asset_id = $2, fitting_id = nextval('sim_fitting_id_seq'),"
                        " fitted_at = now() WHERE id = $1",
                        s["id"],
                        asset["id"],
                    )


async def test_a_sims_history_reads_both_fitting_indexes(app: object) -> None:
    from fleetsvc.sims import ALL_FITTINGS

    async with transaction() as conn:
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                # No ORDER BY: on the few rows other tests leave, walking a primary key in id
                # order and filtering is a plan as cheap, and the test would depend on the order
                # the suite ran in.
                f"EXPLAIN SELECT f.id FROM ({ALL_FITTINGS}) f WHERE f.sim_id = 1"
            )
        )
        # A handset's fittings (its history, a subject access) through the other pair.
        by_asset = "\n".join(
            r[0]
            for r in await conn.fetch(
                f"EXPLAIN SELECT f.sim_id FROM ({ALL_FITTINGS}) f"
                " WHERE f.asset_id = ANY('{1,2}'::int[])"
            )
        )
    assert "sim_pkey" in plan and "sim_fitting_sim_idx" in plan, plan
    assert "sim_asset_uq" in by_asset and "sim_fitting_asset_idx" in by_asset, by_asset


# A register big enough for the planner's choice to matter: 20,000 items of three deliveries
# (the third, of 50, by a rare actor), nine in ten with a SIM, in id order as an import
# writes them; summarised and analysed, as autovacuum leaves them. Rolled back after.
_ITEMS = """
INSERT INTO created_item (id, event_id, actor_name, actor_role, delivery_import_id, asset_id,
    model_id, manufacturer, serial_number, imei, status, unit_cost, delivered_on, location_id,
    sim_record_id, sim_id, iccid, occurred_at)
SELECT nextval('event_id_seq'), d, CASE WHEN d = 3 THEN 'tests-rare' ELSE 'tests-common' END,
       'admin', d, 900000 + g, 7, 'samsung', 'R58T' || g, NULL, 'in_stock', 289.00,
       DATE '2036-06-02', 1, CASE WHEN g % 10 <> 0 THEN nextval('event_id_seq') END,
       CASE WHEN g % 10 <> 0 THEN 900000 + g END,
       CASE WHEN g % 10 <> 0 THEN '8944' || lpad(g::text, 15, '0') END,
       timestamptz '2036-06-02' + d * interval '1 hour'
FROM generate_series(1, 20000) g,
     LATERAL (SELECT CASE WHEN g <= 9950 THEN 1 WHEN g <= 10000 THEN 3 ELSE 2 END AS d) x
ORDER BY g
"""


@pytest.fixture
async def item_register(databases: Databases) -> AsyncIterator[asyncpg.Connection]:
    # As the owner: ANALYZE and summarising a BRIN index are the owner's (autovacuum's).
    conn = await asyncpg.connect(databases.owner)
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(_ITEMS)
        await conn.execute("ANALYZE created_item")
        await conn.execute(
            "SELECT brin_summarize_new_values('created_item_sim_brin'),"
            " brin_summarize_new_values('created_item_bare_brin')"
        )
        yield conn
    finally:
        await tx.rollback()
        await conn.close()


async def _plan(conn: asyncpg.Connection, sql: str, *args: object) -> str:
    return "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + sql, *args))


async def test_an_assets_history_reads_its_items_block_ranges(
    item_register: asyncpg.Connection,
) -> None:
    """An asset's history, where it was last kept and its events by entity read the ranges
    that can hold the asset (BRIN), never every item with a SIM."""
    from fleetsvc.assets.history import _HISTORY_SQL
    from fleetsvc.assets.placement import _LAST_LOCATION

    by_entity = "SELECT id FROM event_history WHERE entity = $1 AND entity_id = $2 ORDER BY id"
    plans = [
        await _plan(item_register, _HISTORY_SQL, 905001, 0, 51),
        await _plan(item_register, _LAST_LOCATION, 905001),
        await _plan(item_register, by_entity + " LIMIT 51", "asset", 905001),
        await _plan(item_register, by_entity + " LIMIT 51", "sim", 905001),
    ]
    for plan in plans:
        assert "Bitmap Index Scan on created_item_sim_brin" in plan, plan
        assert "Seq Scan on created_item_sim" not in plan, plan


async def test_a_page_of_the_trail_walks_each_tables_keyset(
    item_register: asyncpg.Connection,
) -> None:
    """The first page and one in the middle merge each table's ids in order: the items',
    their SIMs' (``sim_record_id``) and the events'; nothing is sorted."""
    middle = await item_register.fetchval(
        "SELECT id FROM created_item_sim ORDER BY id OFFSET 9000 LIMIT 1"
    )
    for plan in [
        await _plan(item_register, "SELECT id FROM event_history ORDER BY id LIMIT 51"),
        await _plan(
            item_register, "SELECT id FROM event_history WHERE id > $1 ORDER BY id LIMIT 51", middle
        ),
    ]:
        for index in ("created_item_sim_pkey", "created_item_sim_record_idx", "event_pkey"):
            assert (
                f"Index Only Scan using {index}" in plan or f"Index Scan using {index}" in plan
            ), plan
        assert "Merge Append" in plan and "Sort" not in plan.replace("Sort Key", ""), plan
