"""Licence pools and the seats they give to assets.

A pool's seats in use and free are counted when read; a seat is given under a lock on
the pool, so the last seat goes to exactly one of the requests racing for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated

import asyncpg
import msgspec

from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.checks import (
    Money,
    Problems,
    check_each,
    documented_text,
    existing_id,
    existing_ids,
    given_once,
    known_id,
    like_pattern,
    money,
    text,
)
from fleetsvc.conflicts import unique_conflicts
from fleetsvc.errors import Conflict, NotFound, ValidationFailed
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import (
    MAX_ID,
    Filters,
    RecordRef,
    changes_of,
    check_id,
    get_record,
    insert_record,
    list_page,
    lock_current,
    struct_of,
    update_record,
)
from fleetsvc.vocabulary import documented

MAX_SEATS = 10_000_000


class LicencePool(msgspec.Struct):
    id: int
    product: str
    licence_key: str
    seats: int
    seats_used: int
    seats_free: int
    contract_id: int | None
    purchase_order_id: int | None
    unit_cost: Decimal | None
    version: int
    created_at: datetime
    updated_at: datetime


Product = Annotated[str, documented_text(200)]
LicenceKey = Annotated[str, documented_text(100)]
Seats = Annotated[int, documented(minimum=1, maximum=MAX_SEATS)]


class LicencePoolCreate(msgspec.Struct, forbid_unknown_fields=True):
    product: Product
    licence_key: LicenceKey
    seats: Seats
    contract_id: RecordRef
    purchase_order_id: RecordRef | None = None
    unit_cost: Money | None = None


class LicencePoolUpdate(msgspec.Struct, forbid_unknown_fields=True):
    product: Product | msgspec.UnsetType = msgspec.UNSET
    licence_key: LicenceKey | msgspec.UnsetType = msgspec.UNSET
    seats: Seats | msgspec.UnsetType = msgspec.UNSET
    contract_id: RecordRef | msgspec.UnsetType = msgspec.UNSET
    purchase_order_id: RecordRef | msgspec.UnsetType | None = msgspec.UNSET
    unit_cost: Money | msgspec.UnsetType | None = msgspec.UNSET


class LicenceSeat(msgspec.Struct):
    id: int
    pool_id: int
    asset_id: int
    assigned_at: datetime


POOL_SELECT = (
    "SELECT lp.*, (SELECT count(*) FROM licence_seat s WHERE s.pool_id = lp.id) AS seats_used"
    " FROM licence_pool lp"
)


def _pool_of(row: asyncpg.Record) -> LicencePool:
    return LicencePool(
        seats_free=max(0, row["seats"] - row["seats_used"]),
        **{f: row[f] for f in LicencePool.__struct_fields__ if f != "seats_free"},
    )


class _Checked(msgspec.Struct):
    """A pool's fields as checked (for a change, those it sets): text tidied, the unit cost
    a Decimal."""

    product: str | msgspec.UnsetType = msgspec.UNSET
    licence_key: str | msgspec.UnsetType = msgspec.UNSET
    seats: int | msgspec.UnsetType = msgspec.UNSET
    contract_id: int | msgspec.UnsetType = msgspec.UNSET
    purchase_order_id: int | msgspec.UnsetType | None = msgspec.UNSET
    unit_cost: Decimal | msgspec.UnsetType | None = msgspec.UNSET


async def _check_pool(
    conn: asyncpg.Connection, data: LicencePoolCreate | LicencePoolUpdate
) -> _Checked:
    p = Problems()
    out = _Checked(
        seats=data.seats, contract_id=data.contract_id, purchase_order_id=data.purchase_order_id
    )
    if isinstance(data.product, str):
        out.product = text(p, "product", data.product, max_len=200)
    if isinstance(data.licence_key, str):
        out.licence_key = text(p, "licence_key", data.licence_key, max_len=100)
    if isinstance(data.seats, int) and not 1 <= data.seats <= MAX_SEATS:
        p.add("seats", f"seats must be from 1 to {MAX_SEATS}")
    if isinstance(data.contract_id, int):
        await existing_id(conn, p, "contract_id", "contract", "contract", data.contract_id)
    if not isinstance(data.purchase_order_id, msgspec.UnsetType):
        await existing_id(
            conn,
            p,
            "purchase_order_id",
            "purchase_order",
            "purchase order",
            data.purchase_order_id,
        )
    if not isinstance(data.unit_cost, msgspec.UnsetType):
        out.unit_cost = money(p, "unit_cost", data.unit_cost)
    p.raise_if_any()
    return out


async def create_pool(
    conn: asyncpg.Connection, actor: Actor, data: LicencePoolCreate
) -> LicencePool:
    checked = changes_of(await _check_pool(conn, data))
    row = await insert_record(
        conn, actor, table="licence_pool", entity="licence_pool", values=checked
    )
    return await get_pool(conn, row["id"])


async def get_pool(conn: asyncpg.Connection, pool_id: int) -> LicencePool:
    check_id("licence_pool", pool_id)
    row = await conn.fetchrow(f"{POOL_SELECT} WHERE lp.id = $1", pool_id)
    if row is None:
        raise NotFound("licence_pool", pool_id)
    return _pool_of(row)


async def update_pool(
    conn: asyncpg.Connection,
    actor: Actor,
    pool_id: int,
    changes: LicencePoolUpdate,
    expected_version: int | None,
) -> LicencePool:
    await lock_current(conn, "licence_pool", "licence_pool", pool_id, expected_version)
    checked = changes_of(await _check_pool(conn, changes))
    if "seats" in checked:
        used = await _seats_used(conn, pool_id)
        if checked["seats"] < used:
            raise ValidationFailed.one(
                "seats", f"seats cannot be fewer than the {used} seats in use"
            )
    await update_record(
        conn,
        actor,
        table="licence_pool",
        entity="licence_pool",
        record_id=pool_id,
        changes=checked,
        expected_version=expected_version,
    )
    return await get_pool(conn, pool_id)


async def _seats_used(conn: asyncpg.Connection, pool_id: int) -> int:
    used: int = await conn.fetchval("SELECT count(*) FROM licence_seat WHERE pool_id = $1", pool_id)
    return used


async def list_pools(
    conn: asyncpg.Connection,
    page: PageRequest,
    *,
    contract_id: int | None = None,
    licence_key: str | None = None,
    q: str | None = None,
) -> Page[LicencePool]:
    f = Filters()
    if contract_id is not None:
        f.add("lp.contract_id = {}", contract_id)
    if licence_key is not None:
        f.add("lp.licence_key = {}", licence_key.strip())
    if q and q.strip():
        f.add("lp.product ILIKE {}", like_pattern(q))
    found = await list_page(conn, POOL_SELECT, f, page, id_column="lp.id")
    return Page([_pool_of(r) for r in found.items], found.next_cursor)


async def assign_seat(
    conn: asyncpg.Connection, actor: Actor, pool_id: int, asset_id: int
) -> LicenceSeat:
    """Give an asset a seat in the pool; a full pool or a second seat is a 409.

    The pool row is locked first, so concurrent assignments for the last seat
    are counted one after the other and exactly one wins.
    """
    check_id("licence_pool", pool_id)
    pool = await get_record(conn, "licence_pool", "licence_pool", pool_id, for_update=True)
    p = Problems()
    await existing_id(conn, p, "asset_id", "asset", "asset", asset_id)
    p.raise_if_any()
    held = await conn.fetchval(
        "SELECT id FROM licence_seat WHERE pool_id = $1 AND asset_id = $2", pool_id, asset_id
    )
    if held is not None:
        raise Conflict(
            f"asset {asset_id} already has a seat in licence pool {pool_id}",
            existing_id=held,
            field="asset_id",
        )
    used = await _seats_used(conn, pool_id)
    if used >= pool["seats"]:
        raise Conflict(
            f"licence pool {pool_id} ({pool['product']}) is full: all {pool['seats']} seats"
            " are in use; release one or add seats"
        )
    async with unique_conflicts(conn):
        seat = await conn.fetchrow(
            "INSERT INTO licence_seat (pool_id, asset_id) VALUES ($1, $2) RETURNING *",
            pool_id,
            asset_id,
        )
    assert seat is not None
    await audit.record_many(conn, actor, _assigned_events(pool, [asset_id]))
    return struct_of(LicenceSeat, seat)


def _assigned_events(pool: asyncpg.Record, asset_ids: Sequence[int]) -> list[audit.EventRow]:
    """A seat given is an event on the pool and on the asset."""
    events = []
    for asset_id in asset_ids:
        events.append(
            audit.EventRow(
                "licence_pool", pool["id"], "seat_assigned", None, {"asset_id": asset_id}
            )
        )
        events.append(
            audit.EventRow(
                "asset",
                asset_id,
                "licence_seat_assigned",
                None,
                {"licence_pool_id": pool["id"], "product": pool["product"]},
            )
        )
    return events


async def assign_seats(
    conn: asyncpg.Connection, actor: Actor, pool_id: int, asset_ids: Sequence[int]
) -> list[LicenceSeat]:
    """``assign_seat`` for many assets at once (the demo's fitted tablets), set-based and
    all or none: an unknown asset or one given twice is a 422, one with a seat already or
    more assets than free seats a 409. The pool is locked first, as for one seat."""
    check_id("licence_pool", pool_id)
    pool = await get_record(conn, "licence_pool", "licence_pool", pool_id, for_update=True)
    p = Problems()
    known = await existing_ids(conn, "asset", asset_ids)
    rows = [{"asset_id": a} for a in asset_ids]
    check_each(
        p, "asset_ids", rows, lambda p, r: known_id(p, "asset_id", "asset", r["asset_id"], known)
    )
    given_once(p, rows, "asset_ids", ("asset_id",))
    p.raise_if_any()
    held = await conn.fetchrow(
        "SELECT id, asset_id FROM licence_seat WHERE pool_id = $1 AND asset_id = ANY($2::int[])"
        " ORDER BY id LIMIT 1",
        pool_id,
        list(asset_ids),
    )
    if held is not None:
        raise Conflict(
            f"asset {held['asset_id']} already has a seat in licence pool {pool_id}",
            existing_id=held["id"],
            field="asset_ids",
        )
    free = pool["seats"] - await _seats_used(conn, pool_id)
    if len(asset_ids) > free:
        raise Conflict(
            f"licence pool {pool_id} ({pool['product']}) has {max(free, 0)} free seats, not the"
            f" {len(asset_ids)} asked for; release some or add seats"
        )
    async with unique_conflicts(conn):
        seats = await conn.fetch(
            "INSERT INTO licence_seat (pool_id, asset_id) SELECT $1, a.id"
            " FROM unnest($2::int[]) WITH ORDINALITY AS a(id, n) ORDER BY a.n RETURNING *",
            pool_id,
            list(asset_ids),
        )
    await audit.record_many(conn, actor, _assigned_events(pool, asset_ids))
    by_asset = {s["asset_id"]: struct_of(LicenceSeat, s) for s in seats}
    return [by_asset[a] for a in asset_ids]


async def release_seat(
    conn: asyncpg.Connection, actor: Actor, pool_id: int, asset_id: int
) -> LicencePool:
    check_id("licence_pool", pool_id)
    pool = await get_record(conn, "licence_pool", "licence_pool", pool_id, for_update=True)
    released = (
        await conn.fetchrow(
            "DELETE FROM licence_seat WHERE pool_id = $1 AND asset_id = $2 RETURNING id",
            pool_id,
            asset_id,
        )
        if 1 <= asset_id <= MAX_ID
        else None
    )
    if released is None:
        raise NotFound(f"seat in licence pool {pool_id} for the asset", asset_id)
    await audit.record_many(
        conn,
        actor,
        [
            audit.EventRow("licence_pool", pool_id, "seat_released", {"asset_id": asset_id}, None),
            audit.EventRow(
                "asset",
                asset_id,
                "licence_seat_released",
                {"licence_pool_id": pool_id, "product": pool["product"]},
                None,
            ),
        ],
    )
    return await get_pool(conn, pool_id)


async def list_seats(
    conn: asyncpg.Connection, pool_id: int, page: PageRequest
) -> Page[LicenceSeat]:
    """The pool's seats, oldest assignment first."""
    await get_pool(conn, pool_id)
    f = Filters()
    f.add("pool_id = {}", pool_id)
    found = await list_page(
        conn, "SELECT id, pool_id, asset_id, assigned_at FROM licence_seat", f, page
    )
    return Page([struct_of(LicenceSeat, r) for r in found.items], found.next_cursor)
