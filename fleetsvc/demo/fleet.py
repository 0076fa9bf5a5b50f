"""The demo's fleet in service: its handsets issued to its officers and staff, its spare
tablets rebuilt and issued to its special constables, and its fitted tablets given
NetMotion seats, through the assets' and licences' own paths
(``fleetsvc.assets.batch_moves``, ``fleetsvc.procurement.licences``).

Only the demo's own records: handsets and tablets its imports delivered that have never
been in service, people it created who hold nothing, the licence pool its CDW file made.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import asyncpg

from fleetsvc.assets.batch_moves import AssetMove, move_assets
from fleetsvc.auth import Actor
from fleetsvc.demo import provenance
from fleetsvc.demo.shape import LICENCE_CONTRACT, NETMOTION_KEY, spread
from fleetsvc.procurement.licences import LicencePoolUpdate, assign_seats, update_pool
from fleetsvc.vocabulary import AssetStatus

ISSUED: Final = "issued (demo)"
SPECIALS_ISSUED: Final = "issued to a special constable (demo)"
SPECIALS_IN_SERVICE: Final = dt.date(2023, 5, 2)

# The demo's devices of one category, in stock and never in service, oldest first.
_NEVER_ISSUED: Final = f"""
SELECT a.id FROM asset a JOIN device_model m ON m.id = a.model_id
LEFT JOIN purchase_order po ON po.id = a.purchase_order_id
WHERE a.delivery_import_id IN {provenance.DEMO_IMPORTS}
  AND m.category = $1 AND a.status = 'in_stock' AND a.in_service_on IS NULL
  AND ($2::text IS NULL OR po.number = $2)
  AND NOT EXISTS (SELECT 1 FROM install i WHERE i.removed_on IS NULL
                  AND (i.tablet_id = a.id OR i.dock_id = a.id))
ORDER BY a.id
"""

# The demo's people who hold nothing. In a fixed but mixed order: people were made unit by
# unit, and handing the first order's phones out by id would give them all to HQ staff.
_HOLDERS: Final = f"""
SELECT p.id FROM person p
WHERE p.id IN {provenance.mine("person")} AND p.active
  AND (p.kind = 'special_constable') = $1
  AND NOT EXISTS (SELECT 1 FROM asset x WHERE x.person_id = p.id)
ORDER BY CASE WHEN $1 THEN '' ELSE md5(p.employee_number) END, p.id
LIMIT $2
"""


async def issue_handsets(
    conn: asyncpg.Connection, actor: Actor, po_number: str, start: dt.date, end: dt.date
) -> int:
    """Issue the demo's handsets delivered on ``po_number`` to its officers and staff who
    hold nothing, in service on dates spread across ``start``..``end``."""
    phones = [r["id"] for r in await conn.fetch(_NEVER_ISSUED, "smartphone", po_number)]
    holders = [r["id"] for r in await conn.fetch(_HOLDERS, False, len(phones))]
    days = spread(start, end, len(phones))
    moves = [
        AssetMove(asset_id=a, to=AssetStatus.DEPLOYED, reason=ISSUED, person_id=p, service_start=d)
        for a, p, d in zip(phones, holders, days, strict=False)
    ]
    return await move_assets(conn, actor, moves)


async def issue_spare_tablets(conn: asyncpg.Connection, actor: Actor) -> int:
    """The demo's tablets no vehicle holds went for rebuild and came back, and were issued
    to its special constables: three moves each, as stores would record them."""
    spares = [r["id"] for r in await conn.fetch(_NEVER_ISSUED, "ivma_tablet", None)]
    specials = [r["id"] for r in await conn.fetch(_HOLDERS, True, len(spares))]
    pairs = list(zip(spares, specials, strict=False))
    for to, reason in (
        (AssetStatus.REBUILD, "rebuilt to standard build"),
        (AssetStatus.IN_STOCK, "back from rebuild"),
    ):
        await move_assets(
            conn, actor, [AssetMove(asset_id=a, to=to, reason=reason) for a, _ in pairs]
        )
    issued = [
        AssetMove(
            asset_id=a,
            to=AssetStatus.DEPLOYED,
            reason=SPECIALS_ISSUED,
            person_id=p,
            service_start=SPECIALS_IN_SERVICE,
        )
        for a, p in pairs
    ]
    return await move_assets(conn, actor, issued)


async def assign_netmotion(conn: asyncpg.Connection, actor: Actor) -> int:
    """The NetMotion pool came in on the demo's CDW delivery (on the reseller framework's
    order); it belongs to the licence contract, whose support charge finance forecasts, and
    each tablet the demo fitted in a vehicle holds a seat."""
    pool = await conn.fetchrow(
        "SELECT id, contract_id, seats FROM licence_pool WHERE licence_key = $1"
        f" AND delivery_import_id IN {provenance.DEMO_IMPORTS}",
        NETMOTION_KEY,
    )
    contract = await conn.fetchval(
        f"SELECT id FROM contract WHERE reference = $1 AND id IN {provenance.mine('contract')}",
        LICENCE_CONTRACT,
    )
    if pool is None or contract is None:
        return 0
    if pool["contract_id"] != contract:
        await update_pool(conn, actor, pool["id"], LicencePoolUpdate(contract_id=contract), None)
    fitted = await conn.fetch(
        "SELECT i.tablet_id FROM install i"
        f" WHERE i.delivery_import_id IN {provenance.DEMO_IMPORTS} AND i.removed_on IS NULL"
        "   AND NOT EXISTS (SELECT 1 FROM licence_seat s"
        "                   WHERE s.pool_id = $1 AND s.asset_id = i.tablet_id)"
        " ORDER BY i.id"
        " LIMIT GREATEST($2::int - (SELECT count(*) FROM licence_seat WHERE pool_id = $1), 0)",
        pool["id"],
        pool["seats"],
    )
    if not fitted:
        return 0
    seats = await assign_seats(conn, actor, pool["id"], [r["tablet_id"] for r in fitted])
    return len(seats)
