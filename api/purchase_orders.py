"""Purchase orders, with their lines, over HTTP."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.contracts import IdFilter, body_values
from api.dependencies import ActorDep, PageDep
from api.etags import HonoursIfMatch, if_match, with_etag
from api.guards import READ_REGISTER, WRITE_PROCUREMENT
from api.schemas import PageOf, page_of
from db.engine import connection, transaction
from fleetsvc.procurement import purchase_orders
from fleetsvc.procurement.purchase_orders import OrderView


class OrderLine(msgspec.Struct):
    model_id: int
    manufacturer: str
    model_name: str
    quantity: int
    unit_cost: Decimal
    value: Decimal
    delivered: int
    outstanding: int
    over_delivered: int


class UnorderedDelivery(msgspec.Struct):
    """Assets received on the order for a model it has no line for."""

    model_id: int
    delivered: int


class OrderLineIn(msgspec.Struct, forbid_unknown_fields=True):
    model_id: int
    quantity: int
    unit_cost: str


class PurchaseOrder(msgspec.Struct):
    id: int
    number: str
    contract_id: int
    contract_reference: str
    raised_on: date
    status: str
    lines: list[OrderLine]
    unordered_deliveries: list[UnorderedDelivery]
    total_value: Decimal
    version: int
    created_at: datetime
    updated_at: datetime


class PurchaseOrderCreate(msgspec.Struct, forbid_unknown_fields=True):
    number: str
    contract_id: int
    raised_on: date
    status: str = "open"
    lines: list[OrderLineIn] = []


class PurchaseOrderUpdate(msgspec.Struct, forbid_unknown_fields=True):
    number: str | msgspec.UnsetType = msgspec.UNSET
    contract_id: int | msgspec.UnsetType = msgspec.UNSET
    raised_on: date | msgspec.UnsetType = msgspec.UNSET
    status: str | msgspec.UnsetType = msgspec.UNSET
    lines: list[OrderLineIn] | msgspec.UnsetType = msgspec.UNSET


def to_order(view: OrderView) -> PurchaseOrder:
    row = view.row
    return PurchaseOrder(
        id=row["id"],
        number=row["number"],
        contract_id=row["contract_id"],
        contract_reference=row["contract_reference"],
        raised_on=row["raised_on"],
        status=row["status"],
        lines=[
            OrderLine(
                model_id=ln.model_id,
                manufacturer=ln.manufacturer,
                model_name=ln.model_name,
                quantity=ln.quantity,
                unit_cost=ln.unit_cost,
                value=ln.value,
                delivered=ln.delivered,
                outstanding=ln.outstanding,
                over_delivered=ln.over_delivered,
            )
            for ln in view.lines
        ],
        unordered_deliveries=[UnorderedDelivery(m, n) for m, n in view.unordered],
        total_value=view.total_value,
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class PurchaseOrderController(Controller):
    path = "/purchase-orders"
    tags = ["purchase orders"]

    @get("/", operation_id="listPurchaseOrders", opt=READ_REGISTER)
    async def list_orders(
        self,
        page: PageDep,
        contract_id: IdFilter = None,
        status: FromQuery[str | None] = None,
        number: FromQuery[str | None] = None,
    ) -> PageOf[PurchaseOrder]:
        async with connection() as conn:
            found = await purchase_orders.list_orders(
                conn, page, contract_id=contract_id, status=status, number=number
            )
        return page_of(found, to_order)

    @post("/", operation_id="createPurchaseOrder", opt=WRITE_PROCUREMENT)
    async def create(
        self, data: JSONBody[PurchaseOrderCreate], actor: ActorDep
    ) -> Response[PurchaseOrder]:
        """Refused (409) when its value would take the contract over its value cap."""
        async with transaction() as conn:
            view = await purchase_orders.create_order(conn, actor, body_values(data))
        return with_etag(to_order(view), view.row["version"], 201)

    @get("/{order_id:int}", operation_id="getPurchaseOrder", opt=READ_REGISTER)
    async def get_one(self, order_id: FromPath[int]) -> Response[PurchaseOrder]:
        """Lines with what has been delivered on each (assets received on the order)."""
        async with connection() as conn:
            view = await purchase_orders.get_order(conn, order_id)
        return with_etag(to_order(view), view.row["version"])

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
            view = await purchase_orders.update_order(
                conn, actor, order_id, body_values(data), if_match(request)
            )
        return with_etag(to_order(view), view.row["version"])


CONTROLLERS: list[type[Controller]] = [PurchaseOrderController]
