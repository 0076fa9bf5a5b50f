"""Suppliers: who the fleet is bought from."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeVar

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


S = TypeVar("S", SupplierCreate, SupplierUpdate)


def _check_supplier(data: S) -> S:
    p = Problems()
    if isinstance(data.name, str):
        data = msgspec.structs.replace(data, name=text(p, "name", data.name, max_len=200))
    p.raise_if_any()
    return data


async def create_supplier(conn: asyncpg.Connection, actor: Actor, data: SupplierCreate) -> Supplier:
    row = await insert_record(
        conn,
        actor,
        table="supplier",
        entity="supplier",
        values=msgspec.structs.asdict(_check_supplier(data)),
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
        changes=changes_of(_check_supplier(changes)),
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
