"""An asset's timeline (``GET /assets/{id}/events``): its own events, its installs' and
the fittings of the SIMs it has held, oldest first, from the audit trail (its events and,
for a delivered item, the created records its delivery sealed: ``audit.HISTORY``).
"""

from __future__ import annotations

import asyncpg

from fleetsvc import audit
from fleetsvc.assets.lookup import ASSET
from fleetsvc.audit import Event
from fleetsvc.errors import NotFound
from fleetsvc.pagination import Page, PageRequest, make_page
from fleetsvc.records import check_id
from fleetsvc.sims import ALL_FITTINGS

_COLUMNS = ", ".join(audit.EVENT_COLUMNS)
# One arm per entity (they cannot overlap), each read through its (entity, entity_id, id)
# index: as one OR, PostgreSQL walks the whole trail in id order filtering on it. The SIMs
# it has held: its fittings, open and removed (sims.ALL_FITTINGS).
_HISTORY_SQL = f"""
SELECT {_COLUMNS} FROM {audit.HISTORY}
WHERE entity = 'asset' AND entity_id = $1 AND id > $2
UNION ALL
SELECT {_COLUMNS} FROM {audit.HISTORY}
WHERE entity = 'install' AND entity_id = ANY(ARRAY(
        SELECT id FROM install WHERE tablet_id = $1
        UNION ALL SELECT id FROM install WHERE dock_id = $1))
  AND id > $2
UNION ALL
SELECT {_COLUMNS} FROM {audit.HISTORY}
WHERE entity = 'sim' AND entity_id = ANY(ARRAY(
        SELECT DISTINCT f.sim_id FROM ({ALL_FITTINGS}) f WHERE f.asset_id = $1))
  AND (before ->> 'asset_id' = $1::text OR after ->> 'asset_id' = $1::text)
  AND id > $2
ORDER BY id LIMIT $3"""


async def asset_history(
    conn: asyncpg.Connection, asset_id: int, page: PageRequest, *, read_already: bool = False
) -> Page[Event]:
    """The asset's whole life, oldest first: its own events, its installs' and its SIMs'.
    ``read_already``: the caller has just read the asset (its page), so it exists."""
    if not read_already:
        exists = await conn.fetchval(
            "SELECT true FROM asset WHERE id = $1", check_id(ASSET, asset_id)
        )
        if not exists:
            raise NotFound(ASSET, asset_id)
    rows = await conn.fetch(_HISTORY_SQL, asset_id, page.after_id or 0, page.limit + 1)
    return make_page(await audit.events_of(conn, rows), page, key=lambda e: e.id)
