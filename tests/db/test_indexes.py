"""Every index on the asset table says which of the service's queries it serves.

Each index costs every delivered item an entry; one that serves no query is pure cost. The
migration that adds an index on ``asset`` describes it with ``COMMENT ON INDEX`` (the query
it serves), and this test fails for one that does not.
"""

from __future__ import annotations

from db.engine import connection


async def test_every_asset_index_names_the_query_it_serves(app: object) -> None:
    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT c.relname, obj_description(c.oid, 'pg_class') AS purpose"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = 'asset'::regclass ORDER BY c.relname"
        )
    assert rows, "the asset table has no index at all"
    assert [r["relname"] for r in rows if not r["purpose"]] == []


async def test_unique_keys_that_are_mostly_null_index_only_their_values(app: object) -> None:
    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT c.relname, i.indisunique AS is_unique,"
            " pg_get_expr(i.indpred, i.indrelid) AS predicate"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = 'asset'::regclass AND c.relname = ANY($1::text[])",
            ["asset_tag_uq", "asset_mdm_device_uq"],
        )
    found = {r["relname"]: (r["is_unique"], r["predicate"]) for r in rows}
    assert found == {
        "asset_tag_uq": (True, "(asset_tag IS NOT NULL)"),
        "asset_mdm_device_uq": (True, "(mdm_device_id IS NOT NULL)"),
    }


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
        "mdm_device_user_upn_idx",
    }
