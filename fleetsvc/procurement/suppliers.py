"""Suppliers: who the fleet is bought from."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

import asyncpg
import msgspec

from fleetsvc.auth import Actor
from fleetsvc.checks import Problems, documented_text, like_pattern, text
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import (
    Filters,
    changes_of,
    check_id,
    get_record,
    insert_record,
    list_page,
    struct_of,
    update_record,
)


class Supplier(msgspec.Struct):
    id: int
    name: str
    version: int
    created_at: datetime
    updated_at: datetime


class SupplierCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, documented_text(200)]


class SupplierUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, documented_text(200)] | msgspec.UnsetType = msgspec.UNSET


def _check_supplier(values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    p = Problems()
    if "name" in out:
        out["name"] = text(p, "name", out["name"], max_len=200)
    p.raise_if_any()
    return out


async def create_supplier(conn: asyncpg.Connection, actor: Actor, data: SupplierCreate) -> Supplier:
    row = await insert_record(
        conn,
        actor,
        table="supplier",
        entity="supplier",
        values=_check_supplier(msgspec.structs.asdict(data)),
    )
    return struct_of(Supplier, row)


async def get_supplier(conn: asyncpg.Connection, supplier_id: int) -> Supplier:
    check_id("supplier", supplier_id)
    return struct_of(Supplier, await get_record(conn, "supplier", "supplier", supplier_id))


async def update_supplier(
    conn: asyncpg.Connection,
    actor: Actor,
    supplier_id: int,
    changes: SupplierUpdate,
    expected_version: int | None,
) -> Supplier:
    check_id("supplier", supplier_id)
    row = await update_record(
        conn,
        actor,
        table="supplier",
        entity="supplier",
        record_id=supplier_id,
        changes=_check_supplier(changes_of(changes)),
        expected_version=expected_version,
    )
    return struct_of(Supplier, row)


async def list_suppliers(
    conn: asyncpg.Connection, page: PageRequest, *, name: str | None = None, q: str | None = None
) -> Page[Supplier]:
    f = Filters()
    if name is not None:
        f.add("lower(name) = lower({})", name.strip())
    if q and q.strip():
        f.add("name ILIKE {}", like_pattern(q))
    found = await list_page(conn, "SELECT * FROM supplier", f, page)
    return Page([struct_of(Supplier, r) for r in found.items], found.next_cursor)
