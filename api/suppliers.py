"""Suppliers over HTTP."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.dependencies import ActorDep, PageDep
from api.etags import HonoursIfMatch, if_match, with_etag
from api.guards import READ_REGISTER, WRITE_PROCUREMENT
from api.schemas import PageOf, page_of
from db.engine import connection, transaction
from fleetsvc.procurement import suppliers
from fleetsvc.procurement.suppliers import Supplier, SupplierCreate, SupplierUpdate


class SupplierController(Controller):
    path = "/suppliers"
    tags = ["suppliers"]

    @get("/", operation_id="listSuppliers", opt=READ_REGISTER)
    async def list_suppliers(
        self, page: PageDep, name: FromQuery[str | None] = None, q: FromQuery[str | None] = None
    ) -> PageOf[Supplier]:
        async with connection() as conn:
            return page_of(await suppliers.list_suppliers(conn, page, name=name, q=q))

    @post("/", operation_id="createSupplier", opt=WRITE_PROCUREMENT)
    async def create(self, data: JSONBody[SupplierCreate], actor: ActorDep) -> Response[Supplier]:
        async with transaction() as conn:
            supplier = await suppliers.create_supplier(conn, actor, data)
        return with_etag(supplier, supplier.version, 201)

    @get("/{supplier_id:int}", operation_id="getSupplier", opt=READ_REGISTER)
    async def get_one(self, supplier_id: FromPath[int]) -> Response[Supplier]:
        async with connection() as conn:
            supplier = await suppliers.get_supplier(conn, supplier_id)
        return with_etag(supplier, supplier.version)

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
            supplier = await suppliers.update_supplier(
                conn, actor, supplier_id, data, if_match(request)
            )
        return with_etag(supplier, supplier.version)


CONTROLLERS: list[type[Controller]] = [SupplierController]
