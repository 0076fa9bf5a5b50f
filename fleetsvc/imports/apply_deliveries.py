"""Applying a delivery's new rows, set-based: the items (handsets, tablets, docks), kept at
the location the import names, and their SIMs, fitted in them, in one ``INSERT …
SELECT``, their history in one more (a created item each, with its SIM, sealed by one
event of the import), then the new licence lines (``apply_licences``).
"""

from __future__ import annotations

from typing import Final

import asyncpg

from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.errors import Conflict
from fleetsvc.imports import apply_licences
from fleetsvc.imports.queries import ENTITY
from fleetsvc.imports.summary import DeliveryCounts
from fleetsvc.logs import get_logger

log = get_logger("fleetsvc.imports")

# The new handsets and their SIMs in one statement, each SIM fitted in its handset (the open
# fitting is on the SIM's row: migration 2026-12-04T15:00:02). Each new item takes its id
# from the asset sequence in file order first (``numbered``, read once), so its SIM names it
# directly, not by joining the inserted assets back on maker and serial (a hash of every new
# row and a second sort). No ON CONFLICT: the plan was made under APPLY_LOCK in this
# transaction, so a unique violation means another writer registered one of these items
# meanwhile (answered as a Conflict), and the arbiter pre-check of every unique index would
# cost a second index descent per row.
INSERT_DELIVERY: Final = """
WITH numbered AS MATERIALIZED (
    SELECT nextval('asset_id_seq') AS asset_id, p.*
    FROM (SELECT model_id, manufacturer, serial_number, imei, purchase_order_id, contract_id,
                 supplier_order_ref, delivery_ref, unit_cost, delivered_on, lifecycle_months,
                 iccid, msisdn, airtime_contract_id
          FROM import_plan WHERE kind = 'asset' AND outcome = 'new' ORDER BY row_number) p
),
ins AS (
    INSERT INTO asset (id, model_id, manufacturer, serial_number, imei, status,
                       purchase_order_id, contract_id, delivery_import_id, supplier_order_ref,
                       delivery_ref, unit_cost, delivered_on, refresh_due_on, location_id)
    SELECT n.asset_id, n.model_id, n.manufacturer, n.serial_number, n.imei, 'in_stock',
           n.purchase_order_id, n.contract_id, $1, n.supplier_order_ref, n.delivery_ref,
           n.unit_cost, n.delivered_on,
           refresh_due(NULL, n.delivered_on, n.lifecycle_months, NULL), arrive.location_id
    FROM numbered n, (SELECT location_id FROM delivery_import WHERE id = $1) AS arrive
    RETURNING 1
),
new_sims AS (
    INSERT INTO sim (iccid, msisdn, contract_id, asset_id, delivery_import_id, fitting_id,
                     fitted_at)
    SELECT iccid, msisdn, airtime_contract_id, asset_id, $1, nextval('sim_fitting_id_seq'),
           now()
    FROM numbered WHERE iccid IS NOT NULL
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins) AS assets, (SELECT count(*) FROM new_sims) AS sims
"""

# The created items' history, one row each with its SIM (if it has one), in id order: sealed
# by the import's event ($1, its actor $2-$4). The item's entry id and its SIM's are drawn
# here, in that order (the item's first, as its record came first before), over the items in
# id order; the values are those a "created" event held (event_history builds them). Every
# SIM of the delivery is fitted in one of its items, and a handset holds one SIM.
INSERT_CREATED: Final = """
INSERT INTO created_item (id, event_id, actor_name, actor_role, request_id, delivery_import_id,
    asset_id, model_id, manufacturer, serial_number, imei, status, purchase_order_id,
    contract_id, supplier_order_ref, delivery_ref, unit_cost, delivered_on, refresh_due_on,
    location_id, sim_record_id, sim_id, iccid, msisdn, sim_contract_id)
SELECT nextval('event_id_seq'), $1::bigint, $2::text, $3::text, $4::text,
       i.delivery_import_id, i.id, i.model_id, i.manufacturer, i.serial_number, i.imei,
       i.status, i.purchase_order_id, i.contract_id, i.supplier_order_ref, i.delivery_ref,
       i.unit_cost, i.delivered_on, i.refresh_due_on, i.location_id,
       CASE WHEN i.sim_id IS NOT NULL THEN nextval('event_id_seq') END, i.sim_id, i.iccid,
       i.msisdn, i.sim_contract_id
FROM (SELECT a.id, a.delivery_import_id, a.model_id, a.manufacturer, a.serial_number, a.imei,
             a.status, a.purchase_order_id, a.contract_id, a.supplier_order_ref,
             a.delivery_ref, a.unit_cost, a.delivered_on, a.refresh_due_on, a.location_id,
             s.id AS sim_id, s.iccid, s.msisdn, s.contract_id AS sim_contract_id
      FROM asset a
      LEFT JOIN sim s ON s.asset_id = a.id AND s.delivery_import_id = $5
      WHERE a.delivery_import_id = $5
      ORDER BY a.id) i
"""


async def record_history(conn: asyncpg.Connection, actor: Actor, import_id: int) -> int:
    """The delivery's new items' history: a created item each (its SIM on its row), and one
    event for the import that seals them (``audit.record_created``). Returns how many
    history entries (an item's and its SIM's)."""
    return await audit.record_created(conn, actor, ENTITY, import_id, INSERT_CREATED, import_id)


async def summarise_history(conn: asyncpg.Connection) -> None:
    """After an import's commit: its created items' new block ranges summarised at once
    (``created_item_summarize``, migration 2026-12-04T17:00:01), not when autovacuum comes
    by; until then every history lookup by asset, SIM, actor or time reads the whole
    delivery. Outside the import's transaction (``conn`` in none), and never its failure: a
    range left unsummarised is autovacuum's to do, as before."""
    try:
        await conn.execute("SELECT created_item_summarize()")
    except asyncpg.PostgresError as exc:
        log.warning("created_items_not_summarised", error=str(exc))


async def apply(
    conn: asyncpg.Connection, actor: Actor, import_id: int, counts: DeliveryCounts
) -> None:
    """Register the plan's new items and licence seats (the plan's transaction, its lock)."""
    if counts.new:
        # What follows reads rows just inserted, which the planner cannot count: hash joins,
        # never a nested loop over them (see plan.build).
        await conn.execute("SET LOCAL enable_nestloop = off")
        try:
            await conn.fetchrow(INSERT_DELIVERY, import_id)
        except asyncpg.UniqueViolationError:
            # Another writer registered one of these items after the plan was made.
            raise Conflict(
                "the register changed while the import was being applied; commit it again"
            ) from None
        await record_history(conn, actor, import_id)
        await conn.execute("RESET enable_nestloop")
    if counts.licence_rows:
        await apply_licences.apply(conn, actor, import_id)
