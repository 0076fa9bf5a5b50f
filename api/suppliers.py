"""Suppliers over HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.contracts import body_values
from api.dependencies import ActorDep, PageDep
from api.etags import HonoursIfMatch, if_match, with_etag
from api.guards import READ_REGISTER, WRITE_PROCUREMENT
from api.schemas import PageOf, page_of
from db.engine import connection, transaction
from fleetsvc.procurement import suppliers
from fleetsvc.records import changes_of


class Supplier(msgspec.Struct):
    id: int
    name: str
    version: int
    created_at: datetime
    updated_at: datetime


class SupplierCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class SupplierUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: str | msgspec.UnsetType = msgspec.UNSET


def to_supplier(row: asyncpg.Record) -> Supplier:
    return Supplier(**{f: row[f] for f in Supplier.__struct_fields__})


class SupplierController(Controller):
    path = "/suppliers"
    tags = ["suppliers"]

    @get("/", operation_id="listSuppliers", opt=READ_REGISTER)
    async def list_suppliers(
        self, page: PageDep, name: FromQuery[str | None] = None, q: FromQuery[str | None] = None
    ) -> PageOf[Supplier]:
        async with connection() as conn:
            found = await suppliers.list_suppliers(conn, page, name=name, q=q)
        return page_of(found, to_supplier)

    @post("/", operation_id="createSupplier", opt=WRITE_PROCUREMENT)
    async def create(self, data: JSONBody[SupplierCreate], actor: ActorDep) -> Response[Supplier]:
        async with transaction() as conn:
            row = await suppliers.create_supplier(conn, actor, body_values(data))
        return with_etag(to_supplier(row), row["version"], 201)

    @get("/{supplier_id:int}", operation_id="getSupplier", opt=READ_REGISTER)
    async def get_one(self, supplier_id: FromPath[int]) -> Response[Supplier]:
        async with connection() as conn:
            row = await suppliers.get_supplier(conn, supplier_id)
        return with_etag(to_supplier(row), row["version"])

    @patch(
        "/{supplier_id:int}",
        operation_id="updateSupplier",
        opt=WRITE_PROCUREMENT,
        operation_class=HonoursIfMatch,
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        supplier_id: FromPath[int],
        data: JSONBody[SupplierUpdate],
        actor: ActorDep,
    ) -> Response[Supplier]:
        async with transaction() as conn:
            row = await suppliers.update_supplier(
                conn, actor, supplier_id, changes_of(data), if_match(request)
            )
        return with_etag(to_supplier(row), row["version"])


CONTROLLERS: list[type[Controller]] = [SupplierController]
