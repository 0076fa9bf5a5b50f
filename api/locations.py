"""Locations over HTTP: the stores and stations devices no one holds are kept at, in the
list/create/get/patch shape of the other reference records. Stores staff and admins write
them; every role that reads the register reads them."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.dependencies import ActorDep, PageDep
from api.etags import HonoursIfMatch, if_match, with_etag
from api.guards import READ_REGISTER, STORES
from api.schemas import PageOf, page_of
from db.engine import connection, transaction
from fleetsvc import locations
from fleetsvc.locations import Location, LocationCreate, LocationUpdate


class LocationController(Controller):
    path = "/locations"
    tags = ["locations"]

    @get("/", operation_id="listLocations", opt=READ_REGISTER)
    async def list_locations(
        self,
        page: PageDep,
        code: FromQuery[str | None] = None,
        business_unit: FromQuery[str | None] = None,
        q: FromQuery[str | None] = None,
    ) -> PageOf[Location]:
        async with connection() as conn:
            found = await locations.list_locations(
                conn, page, code=code, business_unit=business_unit, q=q
            )
        return page_of(found)

    @post("/", operation_id="createLocation", opt=STORES)
    async def create(self, data: JSONBody[LocationCreate], actor: ActorDep) -> Response[Location]:
        async with transaction() as conn:
            location = await locations.create_location(conn, actor, data)
        return with_etag(location, location.version, 201)

    @get("/{location_id:int}", operation_id="getLocation", opt=READ_REGISTER)
    async def get_one(self, location_id: FromPath[int]) -> Response[Location]:
        async with connection() as conn:
            location = await locations.get_location(conn, location_id)
        return with_etag(location, location.version)

    @patch(
        "/{location_id:int}",
        operation_id="updateLocation",
        opt=STORES,
        operation_class=HonoursIfMatch,
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        location_id: FromPath[int],
        data: JSONBody[LocationUpdate],
        actor: ActorDep,
    ) -> Response[Location]:
        async with transaction() as conn:
            location = await locations.update_location(
                conn, actor, location_id, data, if_match(request)
            )
        return with_etag(location, location.version)


CONTROLLERS: list[type[Controller]] = [LocationController]
