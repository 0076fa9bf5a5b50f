"""Licence pools and their seats over HTTP."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.dependencies import ActorDep, PageDep
from api.etags import HonoursIfMatch, if_match, with_etag
from api.guards import READ_REGISTER, WRITE_PROCUREMENT, WRITE_REGISTER
from api.schemas import PageOf, RecordIdQuery, page_of
from db.engine import connection, transaction
from fleetsvc.procurement import licences
from fleetsvc.procurement.licences import (
    LicencePool,
    LicencePoolCreate,
    LicencePoolUpdate,
    LicenceSeat,
)
from fleetsvc.records import RecordRef


class SeatAssign(msgspec.Struct, forbid_unknown_fields=True):
    # The document states the ids' range: an id beyond it names no asset (the same 422).
    asset_id: RecordRef


class LicencePoolController(Controller):
    path = "/licences"
    tags = ["licences"]

    @get("/", operation_id="listLicencePools", opt=READ_REGISTER)
    async def list_pools(
        self,
        page: PageDep,
        # An id filter: out of the database's range is a 422, never a driver error.
        contract_id: RecordIdQuery = None,
        licence_key: FromQuery[str | None] = None,
        q: FromQuery[str | None] = None,
    ) -> PageOf[LicencePool]:
        async with connection() as conn:
            found = await licences.list_pools(
                conn, page, contract_id=contract_id, licence_key=licence_key, q=q
            )
        return page_of(found)

    @post("/", operation_id="createLicencePool", opt=WRITE_PROCUREMENT)
    async def create(
        self, data: JSONBody[LicencePoolCreate], actor: ActorDep
    ) -> Response[LicencePool]:
        async with transaction() as conn:
            pool = await licences.create_pool(conn, actor, data)
        return with_etag(pool, pool.version, 201)

    @get("/{pool_id:int}", operation_id="getLicencePool", opt=READ_REGISTER)
    async def get_one(self, pool_id: FromPath[int]) -> Response[LicencePool]:
        async with connection() as conn:
            pool = await licences.get_pool(conn, pool_id)
        return with_etag(pool, pool.version)

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
            pool = await licences.update_pool(conn, actor, pool_id, data, if_match(request))
        return with_etag(pool, pool.version)

    @get("/{pool_id:int}/seats", operation_id="listLicenceSeats", opt=READ_REGISTER)
    async def list_seats(self, pool_id: FromPath[int], page: PageDep) -> PageOf[LicenceSeat]:
        async with connection() as conn:
            return page_of(await licences.list_seats(conn, pool_id, page))

    # Seats are given to devices by the people who issue them (the register's writers).
    @post("/{pool_id:int}/seats", operation_id="assignLicenceSeat", opt=WRITE_REGISTER)
    async def assign_seat(
        self, pool_id: FromPath[int], data: JSONBody[SeatAssign], actor: ActorDep
    ) -> Response[LicenceSeat]:
        """409 when the pool is full or the asset already has a seat in it."""
        async with transaction() as conn:
            seat = await licences.assign_seat(conn, actor, pool_id, data.asset_id)
        return Response(seat, status_code=201)

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
            pool = await licences.release_seat(conn, actor, pool_id, asset_id)
        return with_etag(pool, pool.version)


CONTROLLERS: list[type[Controller]] = [LicencePoolController]
