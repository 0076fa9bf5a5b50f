"""Closing a stocktake: its result frozen as the register stands, then the moves chosen,
each an event, all in the caller's one transaction.

- ``move_elsewhere_here``: a device scanned here that the register has elsewhere is put
  here. One kept at another location (in stock, in repair, awaiting rebuild) keeps its
  status and changes location; one marked lost or stolen is back in stock here; one with a
  holder is taken back into stock here by the same move a transition makes (its issue or
  install ends: ``fleetsvc.assets.moves.apply_move``, one device at a time, since leaving a
  holder ends other records too). A device being built (staging), retired or disposed is
  left as it is, with a note.
- ``mark_missing_lost``: a device expected here in stock and not scanned is marked lost,
  unless the MDM saw it within ``FLEETSVC_MDM_STALE_DAYS`` (a device that checked in
  yesterday is not lost). One in repair or awaiting rebuild is left, with a note.

Every other move is set-based: one statement per kind of move, and one per kind of event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import asyncpg
import msgspec

from fleetsvc import audit
from fleetsvc.assets.moves import apply_move, lock_asset
from fleetsvc.auth import Actor
from fleetsvc.errors import Conflict
from fleetsvc.settings import get_settings
from fleetsvc.stocktakes.documents import (
    StocktakeClose,
    StocktakeCounts,
    StocktakeMoves,
    StocktakeReport,
)
from fleetsvc.stocktakes.result import FREEZE
from fleetsvc.stocktakes.service import STOCKTAKE, Frozen, get_stocktake, head_row
from fleetsvc.vocabulary import AssetStatus, StocktakeStatus

_FROZEN_COUNTS: Final = """
SELECT count(*) FILTER (WHERE section = 'found')::int AS found,
       count(*) FILTER (WHERE section = 'missing')::int AS missing,
       count(*) FILTER (WHERE section = 'elsewhere')::int AS elsewhere,
       count(*) FILTER (WHERE section = 'unknown')::int AS unknown,
       count(*) FILTER (WHERE section = 'duplicates')::int AS duplicates,
       (SELECT count(*) FROM stocktake_scan WHERE stocktake_id = $1)::int AS scans
FROM stocktake_item WHERE stocktake_id = $1
"""

# $1 stocktake, $2 its location. Each returns the assets it moved; the asset's state is
# checked again in the WHERE, so a device another request moved meanwhile is left alone.
_RELOCATE: Final = """
UPDATE asset a SET location_id = $2, version = a.version + 1, updated_at = now()
FROM stocktake_item i
WHERE i.stocktake_id = $1 AND i.section = 'elsewhere' AND i.asset_id = a.id
  AND a.status IN ('in_stock', 'in_repair', 'rebuild') AND a.location_id IS DISTINCT FROM $2
RETURNING a.id
"""
_FOUND_AGAIN: Final = """
UPDATE asset a SET status = 'in_stock', location_id = $2, version = a.version + 1,
                   updated_at = now()
FROM stocktake_item i
WHERE i.stocktake_id = $1 AND i.section = 'elsewhere' AND i.asset_id = a.id
  AND a.status IN ('lost', 'stolen')
RETURNING a.id
"""
# $3: the MDM's stale window in days.
_MARK_LOST: Final = """
UPDATE asset a SET status = 'lost', location_id = NULL, version = a.version + 1,
                   updated_at = now()
FROM stocktake_item i
WHERE i.stocktake_id = $1 AND i.section = 'missing' AND i.asset_id = a.id
  AND a.status = 'in_stock' AND a.location_id = $2
  AND (i.last_seen_at IS NULL OR i.last_seen_at < now() - make_interval(days => $3))
RETURNING a.id
"""
_MARK: Final = """
UPDATE stocktake_item SET action = $3
WHERE stocktake_id = $1 AND section = $4 AND asset_id = ANY($2::int[])
"""
# The lines a chosen move left as they were, and why.
_NOT_MOVED: Final = """
UPDATE stocktake_item i SET action = 'not_moved', note = CASE
    WHEN i.section = 'elsewhere' AND i.status = 'staging'
        THEN 'being built (staging): not put in stock by a stocktake'
    WHEN i.section = 'elsewhere' AND i.status = 'retired'
        THEN 'retired: not put back in stock by a stocktake'
    WHEN i.section = 'elsewhere' AND i.status = 'disposed'
        THEN 'disposed: a disposed device is never put back in stock'
    WHEN i.section = 'missing' AND i.status IN ('in_repair', 'rebuild')
        THEN i.status || ': only a device in stock is marked lost'
    WHEN i.section = 'missing' AND i.last_seen_at >= now() - make_interval(days => $4)
        THEN 'checked in with the MDM on '
             || to_char(i.last_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') || ': not lost'
    ELSE 'the register changed while the stocktake was closing: left as it is'
    END
WHERE i.stocktake_id = $1 AND i.action IS NULL AND i.asset_id IS NOT NULL
  AND ((i.section = 'elsewhere' AND $2) OR (i.section = 'missing' AND $3))
"""

# The events of the set-based moves, from the frozen lines (the state before) and what was
# done ($2 the location, $3 the reason).
_RELOCATED_EVENTS: Final = """
SELECT 'asset' AS entity, i.asset_id AS entity_id, 'relocated' AS action,
       jsonb_build_object('location_id', i.location_id) AS before,
       jsonb_build_object('location_id', $2::int, 'reason', $3::text) AS after
FROM stocktake_item i
WHERE i.stocktake_id = $1 AND i.section = 'elsewhere' AND i.action = 'moved_here'
  AND i.status IN ('in_stock', 'in_repair', 'rebuild')
ORDER BY i.asset_id
"""
_FOUND_AGAIN_EVENTS: Final = """
SELECT 'asset' AS entity, i.asset_id AS entity_id, 'transition' AS action,
       jsonb_build_object('status', i.status, 'person_id', NULL, 'location_id', NULL) AS before,
       jsonb_build_object('status', 'in_stock', 'person_id', NULL, 'location_id', $2::int,
                          'reason', $3::text) AS after
FROM stocktake_item i
WHERE i.stocktake_id = $1 AND i.section = 'elsewhere' AND i.action = 'moved_here'
  AND i.status IN ('lost', 'stolen')
ORDER BY i.asset_id
"""
_LOST_EVENTS: Final = """
SELECT 'asset' AS entity, i.asset_id AS entity_id, 'transition' AS action,
       jsonb_build_object('status', 'in_stock', 'person_id', NULL, 'location_id', $2::int)
           AS before,
       jsonb_build_object('status', 'lost', 'person_id', NULL, 'location_id', NULL,
                          'reason', $3::text) AS after
FROM stocktake_item i
WHERE i.stocktake_id = $1 AND i.section = 'missing' AND i.action = 'marked_lost'
ORDER BY i.asset_id
"""


async def close_stocktake(
    conn: asyncpg.Connection, actor: Actor, stocktake_id: int, choice: StocktakeClose
) -> StocktakeReport:
    """Freeze the result, make the moves chosen, and close; a closed one is a Conflict."""
    head = await head_row(conn, stocktake_id, for_update=True)
    if head["status"] == StocktakeStatus.CLOSED:
        raise Conflict(
            f"stocktake {stocktake_id} was closed on {head['closed_at']:%d/%m/%Y};"
            " its result is frozen"
        )
    location_id, code = head["location_id"], head["location"]
    await conn.execute(FREEZE, stocktake_id, location_id)
    moved = lost = 0
    if choice.move_elsewhere_here:
        reason = f"found at {code} by stocktake {stocktake_id}"
        moved = await _move_here(conn, actor, stocktake_id, location_id, reason)
    if choice.mark_missing_lost:
        reason = f"not found at {code} by stocktake {stocktake_id}"
        lost = await _mark_lost(conn, actor, stocktake_id, location_id, reason)
    not_moved = await conn.execute(
        _NOT_MOVED,
        stocktake_id,
        choice.move_elsewhere_here,
        choice.mark_missing_lost,
        get_settings().mdm_stale_days,
    )
    frozen = Frozen(
        counts=await _counts(conn, stocktake_id),
        moves=StocktakeMoves(
            moved_here=moved, marked_lost=lost, not_moved=int(not_moved.split()[-1])
        ),
    )
    await conn.execute(
        "UPDATE stocktake SET status = 'closed', closed_at = now(), closed_by = $2,"
        " move_elsewhere_here = $3, mark_missing_lost = $4, counts = $5::jsonb,"
        " version = version + 1, updated_at = now() WHERE id = $1",
        stocktake_id,
        actor.name,
        choice.move_elsewhere_here,
        choice.mark_missing_lost,
        msgspec.json.encode(frozen).decode(),
    )
    await audit.record(
        conn,
        actor,
        STOCKTAKE,
        stocktake_id,
        "closed",
        before={"status": StocktakeStatus.OPEN},
        after={
            "status": StocktakeStatus.CLOSED,
            **msgspec.structs.asdict(choice),
            **msgspec.structs.asdict(frozen.counts),
            **msgspec.structs.asdict(frozen.moves),
        },
    )
    return await get_stocktake(conn, stocktake_id)


async def _counts(conn: asyncpg.Connection, stocktake_id: int) -> StocktakeCounts:
    row = await conn.fetchrow(_FROZEN_COUNTS, stocktake_id)
    assert row is not None
    return StocktakeCounts(
        expected=row["found"] + row["missing"],
        scans=row["scans"],
        found=row["found"],
        missing=row["missing"],
        elsewhere=row["elsewhere"],
        unknown=row["unknown"],
        duplicates=row["duplicates"],
    )


async def _mark(
    conn: asyncpg.Connection, stocktake_id: int, ids: Sequence[int], action: str, section: str
) -> None:
    if ids:
        await conn.execute(_MARK, stocktake_id, list(ids), action, section)


async def _move_here(
    conn: asyncpg.Connection, actor: Actor, stocktake_id: int, location_id: int, reason: str
) -> int:
    """Put the devices scanned here that the register has elsewhere here; how many moved."""
    relocated = [r["id"] for r in await conn.fetch(_RELOCATE, stocktake_id, location_id)]
    found = [r["id"] for r in await conn.fetch(_FOUND_AGAIN, stocktake_id, location_id)]
    await _mark(conn, stocktake_id, [*relocated, *found], "moved_here", "elsewhere")
    for events in (_RELOCATED_EVENTS, _FOUND_AGAIN_EVENTS):
        await audit.record_from_query(conn, actor, events, stocktake_id, location_id, reason)
    held = await conn.fetch(
        "SELECT asset_id FROM stocktake_item WHERE stocktake_id = $1 AND section = 'elsewhere'"
        " AND status = 'deployed' ORDER BY asset_id",
        stocktake_id,
    )
    returned = []
    for line in held:
        asset = await lock_asset(conn, line["asset_id"])
        if asset["status"] != AssetStatus.DEPLOYED:
            continue  # moved by someone else since the result was frozen
        await apply_move(conn, actor, asset, AssetStatus.IN_STOCK, reason, location_id=location_id)
        returned.append(asset["id"])
    await _mark(conn, stocktake_id, returned, "moved_here", "elsewhere")
    return len(relocated) + len(found) + len(returned)


async def _mark_lost(
    conn: asyncpg.Connection, actor: Actor, stocktake_id: int, location_id: int, reason: str
) -> int:
    stale_days = get_settings().mdm_stale_days
    lost = [r["id"] for r in await conn.fetch(_MARK_LOST, stocktake_id, location_id, stale_days)]
    await _mark(conn, stocktake_id, lost, "marked_lost", "missing")
    await audit.record_from_query(conn, actor, _LOST_EVENTS, stocktake_id, location_id, reason)
    return len(lost)
