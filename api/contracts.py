"""Contracts, with their recurring charges, over HTTP."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.dependencies import ActorDep, PageDep
from api.etags import HonoursIfMatch, if_match, with_etag
from api.guards import READ_REGISTER, WRITE_PROCUREMENT
from api.schemas import PageOf, RecordIdQuery, page_of
from db.engine import connection, transaction
from fleetsvc.procurement import contracts
from fleetsvc.procurement.contracts import ContractView

# An id filter: out of the database's range is a 422, never a driver error.


IdFilter = RecordIdQuery


def body_values(data: msgspec.Struct) -> dict[str, Any]:
    """A request body as plain values for a service: nested lists become dicts, dates stay
    dates, and fields a PATCH leaves out (``UNSET``) are left out."""
    values: dict[str, Any] = msgspec.to_builtins(data, builtin_types=(date, datetime, Decimal))
    return values


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
            found = await contracts.list_contracts(
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
            view = await contracts.create_contract(conn, actor, body_values(data))
        return contract_response(view, 201)

    @get("/{contract_id:int}", operation_id="getContract", opt=READ_REGISTER)
    async def get_one(self, contract_id: FromPath[int]) -> Response[Contract]:
        """With what its purchase orders commit, the cap left, and how soon it ends."""
        async with connection() as conn:
            view = await contracts.get_contract(conn, contract_id)
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
            view = await contracts.update_contract(
                conn, actor, contract_id, body_values(data), if_match(request)
            )
        return contract_response(view)


CONTROLLERS: list[type[Controller]] = [ContractController]
