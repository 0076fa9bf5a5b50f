"""Licence pools and their seats over HTTP."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.contracts import IdFilter, body_values
from api.dependencies import ActorDep, PageDep
from api.etags import HonoursIfMatch, if_match, with_etag
from api.guards import READ_REGISTER, WRITE_PROCUREMENT, WRITE_REGISTER
from api.schemas import PageOf, page_of
from db.engine import connection, transaction
from fleetsvc.procurement import licences
from fleetsvc.records import changes_of


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
            found = await licences.list_pools(
                conn, page, contract_id=contract_id, licence_key=licence_key, q=q
            )
        return page_of(found, to_pool)

    @post("/", operation_id="createLicencePool", opt=WRITE_PROCUREMENT)
    async def create(
        self, data: JSONBody[LicencePoolCreate], actor: ActorDep
    ) -> Response[LicencePool]:
        async with transaction() as conn:
            row = await licences.create_pool(conn, actor, body_values(data))
        return with_etag(to_pool(row), row["version"], 201)

    @get("/{pool_id:int}", operation_id="getLicencePool", opt=READ_REGISTER)
    async def get_one(self, pool_id: FromPath[int]) -> Response[LicencePool]:
        async with connection() as conn:
            row = await licences.get_pool(conn, pool_id)
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
            row = await licences.update_pool(
                conn, actor, pool_id, changes_of(data), if_match(request)
            )
        return with_etag(to_pool(row), row["version"])

    @get("/{pool_id:int}/seats", operation_id="listLicenceSeats", opt=READ_REGISTER)
    async def list_seats(self, pool_id: FromPath[int], page: PageDep) -> PageOf[LicenceSeat]:
        async with connection() as conn:
            found = await licences.list_seats(conn, pool_id, page)
        return page_of(found, to_seat)

    # Seats are given to devices by the people who issue them (the register's writers).
    @post("/{pool_id:int}/seats", operation_id="assignLicenceSeat", opt=WRITE_REGISTER)
    async def assign_seat(
        self, pool_id: FromPath[int], data: JSONBody[SeatAssign], actor: ActorDep
    ) -> Response[LicenceSeat]:
        """409 when the pool is full or the asset already has a seat in it."""
        async with transaction() as conn:
            seat = await licences.assign_seat(conn, actor, pool_id, data.asset_id)
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
            row = await licences.release_seat(conn, actor, pool_id, asset_id)
        return with_etag(to_pool(row), row["version"])


CONTROLLERS: list[type[Controller]] = [LicencePoolController]
