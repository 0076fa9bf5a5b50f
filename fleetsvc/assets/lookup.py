"""Finding assets: one by id, a page of a filtered list, and what a person holds now.

The read paths answer with the JSON documents PostgreSQL wrote
(``fleetsvc.assets.document``), passed through untouched; ``get_asset`` and
``get_assets`` read the same documents as ``Asset`` Structs for the writes' answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import asyncpg

from fleetsvc.assets.document import DOCUMENT_SELECT, Asset, as_asset
from fleetsvc.assets.filters import AssetFilter, asset_filters
from fleetsvc.errors import NotFound
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import Filters, check_id, list_page

ASSET = "asset"


@dataclass(frozen=True, slots=True)
class AssetDocument:
    """One asset as the API's JSON document (see ``DOCUMENT_SELECT``), and its version."""

    version: int
    json: str


async def get_asset_document(conn: asyncpg.Connection, asset_id: int) -> AssetDocument:
    """The read path of ``GET /assets/{id}``: one query, the document built by PostgreSQL."""
    row = await conn.fetchrow(f"{DOCUMENT_SELECT} WHERE a.id = $1", check_id(ASSET, asset_id))
    if row is None:
        raise NotFound(ASSET, asset_id)
    return AssetDocument(row["version"], row["doc"])


async def get_asset(conn: asyncpg.Connection, asset_id: int) -> Asset:
    return as_asset((await get_asset_document(conn, asset_id)).json)


# A page found by a broad filter (status, category, model, contract, business
# unit, refresh date, or none) is read in two statements, in one snapshot: the
# ids of the page, then their documents. PostgreSQL plans a filtered
# ``ORDER BY id LIMIT $n`` afresh on every execution (rightly: a generic plan
# could walk the whole table for a rare status), and planning the documents'
# joins cost more than running them. The ids query is cheap to plan; the
# documents-by-id query settles on one generic plan (primary-key lookups, right
# for any page). A lookup by a unique key (IMEI, serial, number, holder, free
# text) stays one statement: PostgreSQL keeps a generic plan for it already, and
# two statements would cost a custom plan for a one-element id list.
PAGE_IDS_SELECT = "SELECT a.id FROM asset a"
DOCUMENTS_BY_ID = f"{DOCUMENT_SELECT} WHERE a.id = ANY($1::int[]) ORDER BY a.id"
_BROAD_FILTERS = (
    "category",
    "status",
    "model_id",
    "contract_id",
    "business_unit",
    "location",
    "refresh_due_before",
)


async def get_assets(conn: asyncpg.Connection, ids: Sequence[int]) -> list[Asset]:
    """Assets by id, in the order of ``ids`` (a batch's answer); every id must exist."""
    rows = await conn.fetch(DOCUMENTS_BY_ID, list(ids))
    by_id = {r["id"]: as_asset(r["doc"]) for r in rows}
    return [by_id[i] for i in ids]


def _is_lookup(flt: AssetFilter) -> bool:
    """The filter names one asset, holder or search term (a handful of rows at most)."""
    return any(
        getattr(flt, name) is not None
        for name in AssetFilter.__dataclass_fields__
        if name not in _BROAD_FILTERS
    )


def _snapshot(conn: asyncpg.Connection) -> AbstractAsyncContextManager[Any]:
    """Several reads that see one snapshot (a caller's transaction, if it has one)."""
    if conn.is_in_transaction():
        return nullcontext()
    return conn.transaction(isolation="repeatable_read", readonly=True)


async def _document_page(
    conn: asyncpg.Connection, filters: Filters, page: PageRequest, *, lookup: bool
) -> Page[str]:
    if lookup:
        rows = await list_page(conn, DOCUMENT_SELECT, filters, page, id_column="a.id")
        return Page(items=[r["doc"] for r in rows.items], next_cursor=rows.next_cursor)
    async with _snapshot(conn):
        ids = await list_page(conn, PAGE_IDS_SELECT, filters, page, id_column="a.id")
        docs = await conn.fetch(DOCUMENTS_BY_ID, [r["id"] for r in ids.items]) if ids.items else []
    return Page(items=[r["doc"] for r in docs], next_cursor=ids.next_cursor)


async def list_assets(conn: asyncpg.Connection, flt: AssetFilter, page: PageRequest) -> Page[str]:
    """A page of assets as the API's JSON documents (see ``DOCUMENT_SELECT``)."""
    return await _document_page(conn, asset_filters(flt), page, lookup=_is_lookup(flt))


async def list_person_assets(
    conn: asyncpg.Connection, person_id: int, page: PageRequest
) -> Page[str]:
    """What a person holds now (the leaver checklist), as the API's JSON documents."""
    exists = await conn.fetchval(
        "SELECT true FROM person WHERE id = $1", check_id("person", person_id)
    )
    if not exists:
        raise NotFound("person", person_id)
    f = Filters()
    f.add("a.person_id = {}", person_id)
    return await _document_page(conn, f, page, lookup=True)
