"""Suppliers, contracts, purchase orders and licence pools."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.dependencies import ActorDep, PageDep
from api.etags import HonoursIfMatch, if_match, with_etag
from api.guards import READ_REGISTER, WRITE_PROCUREMENT, WRITE_REGISTER
from api.schemas import PageOf, RecordIdQuery, page_of
from db.engine import connection, transaction
from fleetsvc import procurement
from fleetsvc.procurement import ContractView, OrderView
from fleetsvc.records import changes_of

# An id filter: out of the database's range is a 422, never a driver error.
IdFilter = RecordIdQuery


def body_values(data: msgspec.Struct) -> dict[str, Any]:
    """A request body as plain values for a service: nested lists become dicts, dates stay
    dates, and fields a PATCH leaves out (``UNSET``) are left out."""
    values: dict[str, Any] = msgspec.to_builtins(data, builtin_types=(date, datetime, Decimal))
    return values


# --- suppliers -------------------------------------------------------------------------------


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
            found = await procurement.list_suppliers(conn, page, name=name, q=q)
        return page_of(found, to_supplier)

    @post("/", operation_id="createSupplier", opt=WRITE_PROCUREMENT)
    async def create(self, data: JSONBody[SupplierCreate], actor: ActorDep) -> Response[Supplier]:
        async with transaction() as conn:
            row = await procurement.create_supplier(conn, actor, body_values(data))
        return with_etag(to_supplier(row), row["version"], 201)

    @get("/{supplier_id:int}", operation_id="getSupplier", opt=READ_REGISTER)
    async def get_one(self, supplier_id: FromPath[int]) -> Response[Supplier]:
        async with connection() as conn:
            row = await procurement.get_supplier(conn, supplier_id)
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
            row = await procurement.update_supplier(
                conn, actor, supplier_id, changes_of(data), if_match(request)
            )
        return with_etag(to_supplier(row), row["version"])


# --- contracts -------------------------------------------------------------------------------


class Charge(msgspec.Struct):
    """A recurring charge per unit (per SIM, device or licence seat) per month or year."""

    description: str
    applies_to: str
    category: str | None
    unit_amount: Decimal
    period: str


class ChargeIn(msgspec.Struct, forbid_unknown_fields=True):
    applies_to: str
    unit_amount: str
    period: str
    description: str = ""
    category: str | None = None


class ContractOrder(msgspec.Struct):
    id: int
    number: str
    status: str
    ordered: int
    delivered: int


class Contract(msgspec.Struct):
    id: int
    reference: str
    supplier_id: int
    supplier_name: str
    kind: str
    title: str
    starts_on: date
    ends_on: date | None
    value_cap: Decimal | None
    charges: list[Charge]
    committed_value: Decimal
    remaining_cap: Decimal | None
    ends_in_days: int | None
    ending_soon: bool
    version: int
    created_at: datetime
    updated_at: datetime
    # Only on a single contract (GET /contracts/{id}), not in lists.
    purchase_orders: list[ContractOrder] | msgspec.UnsetType = msgspec.UNSET


class ContractCreate(msgspec.Struct, forbid_unknown_fields=True):
    reference: str
    supplier_id: int
    kind: str
    starts_on: date
    title: str = ""
    ends_on: date | None = None
    value_cap: str | None = None
    charges: list[ChargeIn] = []


class ContractUpdate(msgspec.Struct, forbid_unknown_fields=True):
    reference: str | msgspec.UnsetType = msgspec.UNSET
    supplier_id: int | msgspec.UnsetType = msgspec.UNSET
    kind: str | msgspec.UnsetType = msgspec.UNSET
    title: str | msgspec.UnsetType = msgspec.UNSET
    starts_on: date | msgspec.UnsetType = msgspec.UNSET
    ends_on: date | msgspec.UnsetType | None = msgspec.UNSET
    value_cap: str | msgspec.UnsetType | None = msgspec.UNSET
    charges: list[ChargeIn] | msgspec.UnsetType = msgspec.UNSET


def to_contract(view: ContractView, *, with_orders: bool = False) -> Contract:
    row = view.row
    return Contract(
        id=row["id"],
        reference=row["reference"],
        supplier_id=row["supplier_id"],
        supplier_name=row["supplier_name"],
        kind=row["kind"],
        title=row["title"],
        starts_on=row["starts_on"],
        ends_on=row["ends_on"],
        value_cap=row["value_cap"],
        charges=[Charge(**c) for c in view.charges],
        committed_value=view.committed_value,
        remaining_cap=view.remaining_cap,
        ends_in_days=view.ends_in_days,
        ending_soon=view.ending_soon,
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        purchase_orders=(
            [
                ContractOrder(
                    id=o["id"],
                    number=o["number"],
                    status=o["status"],
                    ordered=o["ordered"],
                    delivered=o["delivered"],
                )
                for o in view.purchase_orders
            ]
            if with_orders
            else msgspec.UNSET
        ),
    )


def contract_response(view: ContractView, status_code: int = 200) -> Response[Contract]:
    return with_etag(to_contract(view, with_orders=True), view.row["version"], status_code)


DaysAhead = Annotated[int | None, QueryParameter(ge=0, le=36500)]


class ContractController(Controller):
    path = "/contracts"
    tags = ["contracts"]

    @get("/", operation_id="listContracts", opt=READ_REGISTER)
    async def list_contracts(
        self,
        page: PageDep,
        supplier_id: IdFilter = None,
        kind: FromQuery[str | None] = None,
        ending_within_days: DaysAhead = None,
        within_days: DaysAhead = None,
        q: FromQuery[str | None] = None,
    ) -> PageOf[Contract]:
        """``ending_within_days`` (or its short form ``within_days``): contracts whose end
        date is from today to that many days ahead."""
        async with connection() as conn:
            found = await procurement.list_contracts(
                conn,
                page,
                supplier_id=supplier_id,
                kind=kind,
                ending_within_days=ending_within_days
                if ending_within_days is not None
                else within_days,
                q=q,
            )
        return page_of(found, to_contract)

    @post("/", operation_id="createContract", opt=WRITE_PROCUREMENT)
    async def create(self, data: JSONBody[ContractCreate], actor: ActorDep) -> Response[Contract]:
        async with transaction() as conn:
            view = await procurement.create_contract(conn, actor, body_values(data))
        return contract_response(view, 201)

    @get("/{contract_id:int}", operation_id="getContract", opt=READ_REGISTER)
    async def get_one(self, contract_id: FromPath[int]) -> Response[Contract]:
        """With what its purchase orders commit, the cap left, and how soon it ends."""
        async with connection() as conn:
            view = await procurement.get_contract(conn, contract_id)
        return contract_response(view)

    @patch(
        "/{contract_id:int}",
        operation_id="updateContract",
        opt=WRITE_PROCUREMENT,
        operation_class=HonoursIfMatch,
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        contract_id: FromPath[int],
        data: JSONBody[ContractUpdate],
        actor: ActorDep,
    ) -> Response[Contract]:
        """``charges``, when given, replaces the whole list."""
        async with transaction() as conn:
            view = await procurement.update_contract(
                conn, actor, contract_id, body_values(data), if_match(request)
            )
        return contract_response(view)


# --- purchase orders -------------------------------------------------------------------------


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
            found = await procurement.list_orders(
                conn, page, contract_id=contract_id, status=status, number=number
            )
        return page_of(found, to_order)

    @post("/", operation_id="createPurchaseOrder", opt=WRITE_PROCUREMENT)
    async def create(
        self, data: JSONBody[PurchaseOrderCreate], actor: ActorDep
    ) -> Response[PurchaseOrder]:
        """Refused (409) when its value would take the contract over its value cap."""
        async with transaction() as conn:
            view = await procurement.create_order(conn, actor, body_values(data))
        return with_etag(to_order(view), view.row["version"], 201)

    @get("/{order_id:int}", operation_id="getPurchaseOrder", opt=READ_REGISTER)
    async def get_one(self, order_id: FromPath[int]) -> Response[PurchaseOrder]:
        """Lines with what has been delivered on each (assets received on the order)."""
        async with connection() as conn:
            view = await procurement.get_order(conn, order_id)
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
            view = await procurement.update_order(
                conn, actor, order_id, body_values(data), if_match(request)
            )
        return with_etag(to_order(view), view.row["version"])


# --- licence pools ---------------------------------------------------------------------------


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


class LicencePoolCreate(msgspec.Struct, forbid_unknown_fields=True):
    product: str
    licence_key: str
    seats: int
    contract_id: int
    purchase_order_id: int | None = None
    unit_cost: str | None = None


class LicencePoolUpdate(msgspec.Struct, forbid_unknown_fields=True):
    product: str | msgspec.UnsetType = msgspec.UNSET
    licence_key: str | msgspec.UnsetType = msgspec.UNSET
    seats: int | msgspec.UnsetType = msgspec.UNSET
    contract_id: int | msgspec.UnsetType = msgspec.UNSET
    purchase_order_id: int | msgspec.UnsetType | None = msgspec.UNSET
    unit_cost: str | msgspec.UnsetType | None = msgspec.UNSET


class SeatAssign(msgspec.Struct, forbid_unknown_fields=True):
    asset_id: int


class LicenceSeat(msgspec.Struct):
    id: int
    pool_id: int
    asset_id: int
    assigned_at: datetime


def to_pool(row: asyncpg.Record) -> LicencePool:
    return LicencePool(
        seats_free=max(0, row["seats"] - row["seats_used"]),
        **{f: row[f] for f in LicencePool.__struct_fields__ if f != "seats_free"},
    )


def to_seat(row: asyncpg.Record) -> LicenceSeat:
    return LicenceSeat(**{f: row[f] for f in LicenceSeat.__struct_fields__})


class LicencePoolController(Controller):
    path = "/licences"
    tags = ["licences"]

    @get("/", operation_id="listLicencePools", opt=READ_REGISTER)
    async def list_pools(
        self,
        page: PageDep,
        contract_id: IdFilter = None,
        licence_key: FromQuery[str | None] = None,
        q: FromQuery[str | None] = None,
    ) -> PageOf[LicencePool]:
        async with connection() as conn:
            found = await procurement.list_pools(
                conn, page, contract_id=contract_id, licence_key=licence_key, q=q
            )
        return page_of(found, to_pool)

    @post("/", operation_id="createLicencePool", opt=WRITE_PROCUREMENT)
    async def create(
        self, data: JSONBody[LicencePoolCreate], actor: ActorDep
    ) -> Response[LicencePool]:
        async with transaction() as conn:
            row = await procurement.create_pool(conn, actor, body_values(data))
        return with_etag(to_pool(row), row["version"], 201)

    @get("/{pool_id:int}", operation_id="getLicencePool", opt=READ_REGISTER)
    async def get_one(self, pool_id: FromPath[int]) -> Response[LicencePool]:
        async with connection() as conn:
            row = await procurement.get_pool(conn, pool_id)
        return with_etag(to_pool(row), row["version"])

    @patch(
        "/{pool_id:int}",
        operation_id="updateLicencePool",
        opt=WRITE_PROCUREMENT,
        operation_class=HonoursIfMatch,
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        pool_id: FromPath[int],
        data: JSONBody[LicencePoolUpdate],
        actor: ActorDep,
    ) -> Response[LicencePool]:
        async with transaction() as conn:
            row = await procurement.update_pool(
                conn, actor, pool_id, changes_of(data), if_match(request)
            )
        return with_etag(to_pool(row), row["version"])

    @get("/{pool_id:int}/seats", operation_id="listLicenceSeats", opt=READ_REGISTER)
    async def list_seats(self, pool_id: FromPath[int], page: PageDep) -> PageOf[LicenceSeat]:
        async with connection() as conn:
            found = await procurement.list_seats(conn, pool_id, page)
        return page_of(found, to_seat)

    # Seats are given to devices by the people who issue them (the register's writers).
    @post("/{pool_id:int}/seats", operation_id="assignLicenceSeat", opt=WRITE_REGISTER)
    async def assign_seat(
        self, pool_id: FromPath[int], data: JSONBody[SeatAssign], actor: ActorDep
    ) -> Response[LicenceSeat]:
        """409 when the pool is full or the asset already has a seat in it."""
        async with transaction() as conn:
            seat = await procurement.assign_seat(conn, actor, pool_id, data.asset_id)
        return Response(to_seat(seat), status_code=201)

    @post(
        "/{pool_id:int}/seats/{asset_id:int}/release",
        operation_id="releaseLicenceSeat",
        opt=WRITE_REGISTER,
        status_code=200,
    )
    async def release_seat(
        self, pool_id: FromPath[int], asset_id: FromPath[int], actor: ActorDep
    ) -> Response[LicencePool]:
        async with transaction() as conn:
            row = await procurement.release_seat(conn, actor, pool_id, asset_id)
        return with_etag(to_pool(row), row["version"])


CONTROLLERS: list[type[Controller]] = [
    SupplierController,
    ContractController,
    PurchaseOrderController,
    LicencePoolController,
]
