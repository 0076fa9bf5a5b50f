"""Purchase orders, with their lines, over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.dependencies import ActorDep, PageDep
from api.etags import HonoursIfMatch, if_match, with_etag
from api.guards import READ_REGISTER, WRITE_PROCUREMENT
from api.schemas import PageOf, RecordIdQuery, page_of
from api.vocabulary import enum_of
from db.engine import connection, transaction
from fleetsvc.procurement import purchase_orders
from fleetsvc.procurement.purchase_orders import (
    PurchaseOrder,
    PurchaseOrderCreate,
    PurchaseOrderUpdate,
)
from fleetsvc.vocabulary import PurchaseOrderStatus

StatusFilter = Annotated[str | None, QueryParameter(schema_extra=enum_of(PurchaseOrderStatus))]


class PurchaseOrderController(Controller):
    path = "/purchase-orders"
    tags = ["purchase orders"]

    @get("/", operation_id="listPurchaseOrders", opt=READ_REGISTER)
    async def list_orders(
        self,
        page: PageDep,
        # An id filter: out of the database's range is a 422, never a driver error.
        contract_id: RecordIdQuery = None,
        status: StatusFilter = None,
        number: FromQuery[str | None] = None,
    ) -> PageOf[PurchaseOrder]:
        async with connection() as conn:
            found = await purchase_orders.list_orders(
                conn, page, contract_id=contract_id, status=status, number=number
            )
        return page_of(found)

    @post("/", operation_id="createPurchaseOrder", opt=WRITE_PROCUREMENT)
    async def create(
        self, data: JSONBody[PurchaseOrderCreate], actor: ActorDep
    ) -> Response[PurchaseOrder]:
        """Refused (409) when its value would take the contract over its value cap."""
        async with transaction() as conn:
            order = await purchase_orders.create_order(conn, actor, data)
        return with_etag(order, order.version, 201)

    @get("/{order_id:int}", operation_id="getPurchaseOrder", opt=READ_REGISTER)
    async def get_one(self, order_id: FromPath[int]) -> Response[PurchaseOrder]:
        """Lines with what has been delivered on each (assets received on the order)."""
        async with connection() as conn:
            order = await purchase_orders.get_order(conn, order_id)
        return with_etag(order, order.version)

    @patch(
        "/{order_id:int}",
        operation_id="updatePurchaseOrder",
        opt=WRITE_PROCUREMENT,
        operation_class=HonoursIfMatch,
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        order_id: FromPath[int],
        data: JSONBody[PurchaseOrderUpdate],
        actor: ActorDep,
    ) -> Response[PurchaseOrder]:
        """``lines``, when given, replaces them all; the contract's cap is checked again."""
        async with transaction() as conn:
            order = await purchase_orders.update_order(
                conn, actor, order_id, data, if_match(request)
            )
        return with_etag(order, order.version)


CONTROLLERS: list[type[Controller]] = [PurchaseOrderController]
