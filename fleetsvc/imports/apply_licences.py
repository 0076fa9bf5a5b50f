"""Applying a delivery's new licence lines, set-based: each key's seats added to its pool
(created when the key is new) in one upsert, and an event per pool and per supplier order.
"""

from __future__ import annotations

from typing import Final

import asyncpg

from fleetsvc import audit
from fleetsvc.auth import Actor

LICENCE_REFS: Final = """
SELECT licence_key, supplier_order_ref, sum(quantity)::int AS seats
FROM import_plan WHERE kind = 'licence' AND outcome = 'new'
GROUP BY licence_key, supplier_order_ref ORDER BY licence_key, supplier_order_ref
"""

UPSERT_POOLS: Final = """
WITH per_key AS (
    SELECT licence_key, min(description) AS product, sum(quantity)::int AS seats,
           min(contract_id) AS contract_id, min(purchase_order_id) AS purchase_order_id,
           min(unit_cost) AS unit_cost
    FROM import_plan WHERE kind = 'licence' AND outcome = 'new' GROUP BY licence_key
),
before AS (
    SELECT lp.licence_key, lp.seats FROM licence_pool lp JOIN per_key USING (licence_key)
),
up AS (
    INSERT INTO licence_pool (product, licence_key, seats, contract_id, purchase_order_id,
                              delivery_import_id, unit_cost)
    SELECT COALESCE(product, licence_key), licence_key, seats, contract_id, purchase_order_id,
           $1, unit_cost
    FROM per_key ORDER BY licence_key
    ON CONFLICT (licence_key) DO UPDATE
        SET seats = licence_pool.seats + EXCLUDED.seats,
            version = licence_pool.version + 1, updated_at = now()
    RETURNING id, licence_key, product, seats, contract_id, purchase_order_id
)
SELECT up.*, b.seats AS seats_before FROM up LEFT JOIN before b USING (licence_key)
"""


async def apply(conn: asyncpg.Connection, actor: Actor, import_id: int) -> None:
    """Add the plan's new licence seats to their pools and record it."""
    refs = await conn.fetch(LICENCE_REFS)
    pools = await conn.fetch(UPSERT_POOLS, import_id)
    pool_ids = {p["licence_key"]: p["id"] for p in pools}
    events = []
    for p in pools:
        if p["seats_before"] is None:
            after = {
                "product": p["product"],
                "seats": p["seats"],
                "contract_id": p["contract_id"],
                "purchase_order_id": p["purchase_order_id"],
                "delivery_import_id": import_id,
            }
            events.append(audit.EventRow("licence_pool", p["id"], "created", None, after))
        else:
            events.append(
                audit.EventRow(
                    "licence_pool",
                    p["id"],
                    "updated",
                    {"seats": p["seats_before"]},
                    {"seats": p["seats"]},
                )
            )
    for r in refs:
        after = {
            "supplier_order_ref": r["supplier_order_ref"],
            "seats_added": r["seats"],
            "delivery_import_id": import_id,
        }
        events.append(
            audit.EventRow("licence_pool", pool_ids[r["licence_key"]], "seats_added", None, after)
        )
    await audit.record_many(conn, actor, events)
