"""Opening a stocktake of a location, reading one with its result, and listing them.

A location has at most one open stocktake (the database says so too): two counts of one
store at once would each call the other's scans missing.
"""

from __future__ import annotations

from typing import Final

import asyncpg
import msgspec

from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.checks import filter_choice
from fleetsvc.errors import Conflict, NotFound, ValidationFailed
from fleetsvc.locations import location_code, location_problems
from fleetsvc.pagination import Page, PageRequest, make_page
from fleetsvc.records import Filters, check_id, insert_row
from fleetsvc.stocktakes.documents import (
    Stocktake,
    StocktakeCounts,
    StocktakeMoves,
    StocktakeOpen,
    StocktakeReport,
)
from fleetsvc.stocktakes.result import live_counts, result_lines, sections_of
from fleetsvc.vocabulary import StocktakeStatus

STOCKTAKE: Final = "stocktake"
DEFAULT_LINES: Final = 100

_HEAD: Final = (
    "SELECT s.*, l.code AS location, l.name AS location_name"
    " FROM stocktake s JOIN location l ON l.id = s.location_id"
)


class Frozen(msgspec.Struct):
    """The ``counts`` column of a closed stocktake."""

    counts: StocktakeCounts
    moves: StocktakeMoves


async def head_row(
    conn: asyncpg.Connection, stocktake_id: int, *, for_update: bool = False
) -> asyncpg.Record:
    check_id(STOCKTAKE, stocktake_id)
    row = await conn.fetchrow(
        f"{_HEAD} WHERE s.id = $1{' FOR UPDATE OF s' if for_update else ''}", stocktake_id
    )
    if row is None:
        raise NotFound(STOCKTAKE, stocktake_id)
    return row


async def stocktake_of(conn: asyncpg.Connection, row: asyncpg.Record) -> Stocktake:
    """The stocktake a row of ``_HEAD`` describes: its counts frozen, or counted now."""
    moves: StocktakeMoves | None = None
    if row["status"] == StocktakeStatus.CLOSED:
        frozen = msgspec.json.decode(row["counts"], type=Frozen)
        counts, moves = frozen.counts, frozen.moves
    else:
        counts = await live_counts(conn, row["id"], row["location_id"])
    return Stocktake(
        id=row["id"],
        location_id=row["location_id"],
        location=row["location"],
        location_name=row["location_name"],
        status=row["status"],
        opened_by=row["opened_by"],
        opened_at=row["created_at"],
        closed_by=row["closed_by"],
        closed_at=row["closed_at"],
        move_elsewhere_here=row["move_elsewhere_here"],
        mark_missing_lost=row["mark_missing_lost"],
        counts=counts,
        moves=moves,
        version=row["version"],
    )


async def get_stocktake(
    conn: asyncpg.Connection, stocktake_id: int, *, limit: int = DEFAULT_LINES
) -> StocktakeReport:
    """A stocktake and its result, showing the first ``limit`` lines of each section."""
    row = await head_row(conn, stocktake_id)
    head = await stocktake_of(conn, row)
    lines, counts = await result_lines(
        conn,
        stocktake_id,
        row["location_id"],
        frozen=row["status"] == StocktakeStatus.CLOSED,
        limit=limit,
    )
    return StocktakeReport(**msgspec.structs.asdict(head), sections=sections_of(lines, counts))


async def _explain_open(
    conn: asyncpg.Connection, exc: asyncpg.UniqueViolationError
) -> Conflict | None:
    """Two stocktakes of one location opened at once: the other one won."""
    if exc.constraint_name != "stocktake_open_uq":
        return None
    return Conflict("the location is being counted already; scan into its open stocktake")


async def open_stocktake(
    conn: asyncpg.Connection, actor: Actor, data: StocktakeOpen
) -> StocktakeReport:
    """Start counting the devices kept at a location (one open stocktake per location)."""
    problems = await location_problems(conn, "location_id", data.location_id)
    if problems:
        raise ValidationFailed(problems)
    already = await conn.fetchrow(
        "SELECT s.id, l.code FROM stocktake s JOIN location l ON l.id = s.location_id"
        " WHERE s.location_id = $1 AND s.status = 'open'",
        data.location_id,
    )
    if already is not None:
        raise Conflict(
            f"{already['code']} is being counted already: stocktake {already['id']} is open;"
            " scan into it, or close it first",
            existing_id=already["id"],
        )
    values = {
        "location_id": data.location_id,
        "status": StocktakeStatus.OPEN,
        "opened_by": actor.name,
        "opened_role": actor.role,
    }
    row = await insert_row(conn, STOCKTAKE, values, explain=_explain_open)
    await audit.record(conn, actor, STOCKTAKE, row["id"], "created", after=values)
    return await get_stocktake(conn, row["id"])


async def list_stocktakes(
    conn: asyncpg.Connection,
    page: PageRequest,
    *,
    status: str | None = None,
    location: str | None = None,
) -> Page[Stocktake]:
    """Stocktakes newest first; filters: status, location (code)."""
    f = Filters()
    if status is not None:
        f.add("s.status = {}", filter_choice("status", status, StocktakeStatus))
    if location is not None:
        f.add("l.code = {}", location_code(location))
    if page.after_id is not None:
        f.add("s.id < {}", page.after_id)
    f.args.append(page.limit + 1)
    rows = await conn.fetch(f"{_HEAD}{f.where()} ORDER BY s.id DESC LIMIT ${len(f.args)}", *f.args)
    found = make_page(list(rows), page, key=lambda r: int(r["id"]))
    return Page([await stocktake_of(conn, r) for r in found.items], found.next_cursor)
