"""Where a device no one holds is kept: the location a move gives an asset.

An asset in stock, in repair or awaiting rebuild is kept at a location; in any other
status it has none (the database checks it too). A move into one of those statuses goes
to the location the caller names, else where the asset is kept now, else the location it
was last kept at (from its history), else the default location
(``FLEETSVC_DEFAULT_LOCATION``). Every move goes through ``fleetsvc.assets.moves``, which
asks here.
"""

from __future__ import annotations

import asyncpg

from fleetsvc.audit import HISTORY
from fleetsvc.errors import FieldProblem
from fleetsvc.locations import default_location_id, location_problems
from fleetsvc.vocabulary import KEPT_AT_LOCATION

# The newest event of the asset that says where it was kept (a move into stock names its
# location in ``after``; a move out of it, in ``before``), if that location still exists.
# An asset has few entries: all of them are read by the asset (each table's index for it),
# then the newest taken. As one ``ORDER BY id DESC LIMIT 1`` PostgreSQL may walk a table's
# keyset backwards instead, filtering every delivered item on the way (a delivery's items
# are found by block range, which it costs as dearer than such a walk on a register of
# less than about 100,000 items).
_LAST_LOCATION = f"""
WITH kept AS MATERIALIZED (
    SELECT e.id, COALESCE(e.after ->> 'location_id', e.before ->> 'location_id') AS location_id
    FROM {HISTORY} e
    WHERE e.entity = 'asset' AND e.entity_id = $1
      AND COALESCE(e.after ->> 'location_id', e.before ->> 'location_id') IS NOT NULL
)
SELECT l.id FROM (SELECT location_id FROM kept ORDER BY id DESC LIMIT 1) last
JOIN location l ON l.id::text = last.location_id
"""


async def placement_problems(
    conn: asyncpg.Connection, to: str, location_id: int | None
) -> list[FieldProblem]:
    """A location a caller names for a move: only for a move into a status kept at one,
    and one that exists."""
    if location_id is None:
        return []
    if to not in KEPT_AT_LOCATION:
        return [
            FieldProblem(
                "location_id",
                "location_id is only used when moving to in_stock, in_repair or rebuild"
                f" (a device that is {to} is kept at no location)",
            )
        ]
    return await location_problems(conn, "location_id", location_id)


async def location_for_move(
    conn: asyncpg.Connection, asset: asyncpg.Record, to: str, asked: int | None
) -> int | None:
    """The location the asset is kept at after moving to ``to`` (None: kept at none).

    ``asset`` is its row as it is before the move (``lock_asset``); ``asked`` the location
    the caller named, already checked (``placement_problems``).
    """
    if to not in KEPT_AT_LOCATION:
        return None
    if asked is not None:
        return asked
    if asset["location_id"] is not None:
        return int(asset["location_id"])
    last: int | None = await conn.fetchval(_LAST_LOCATION, asset["id"])
    if last is not None:
        return last
    return await default_location_id(conn)
