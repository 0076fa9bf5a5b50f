"""Suppliers: who the fleet is bought from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from fleetsvc.auth import Actor
from fleetsvc.checks import (
    Problems,
    like_pattern,
    text,
)
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import (
    Filters,
    check_id,
    get_record,
    insert_record,
    list_page,
    update_record,
)


def _check_supplier(values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    p = Problems()
    if "name" in out:
        out["name"] = text(p, "name", out["name"], max_len=200)
    p.raise_if_any()
    return out


async def create_supplier(
    conn: asyncpg.Connection, actor: Actor, values: Mapping[str, Any]
) -> asyncpg.Record:
    return await insert_record(
        conn, actor, table="supplier", entity="supplier", values=_check_supplier(values)
    )


async def get_supplier(conn: asyncpg.Connection, supplier_id: int) -> asyncpg.Record:
    check_id("supplier", supplier_id)
    return await get_record(conn, "supplier", "supplier", supplier_id)


async def update_supplier(
    conn: asyncpg.Connection,
    actor: Actor,
    supplier_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None,
) -> asyncpg.Record:
    check_id("supplier", supplier_id)
    return await update_record(
        conn,
        actor,
        table="supplier",
        entity="supplier",
        record_id=supplier_id,
        changes=_check_supplier(changes),
        expected_version=expected_version,
    )


async def list_suppliers(
    conn: asyncpg.Connection, page: PageRequest, *, name: str | None = None, q: str | None = None
) -> Page[asyncpg.Record]:
    f = Filters()
    if name is not None:
        f.add("lower(name) = lower({})", name.strip())
    if q and q.strip():
        f.add("name ILIKE {}", like_pattern(q))
    return await list_page(conn, "SELECT * FROM supplier", f, page)
