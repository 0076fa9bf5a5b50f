"""Business units over HTTP.

This controller is the pattern the others follow: thin handlers that open the
request's one transaction and call the service, whose Structs (``fleetsvc.business_units``)
are the request and response bodies.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.dependencies import ActorDep, PageDep
from api.etags import HonoursIfMatch, if_match, with_etag
from api.guards import READ_REGISTER, WRITE_REGISTER
from api.schemas import PageOf, page_of
from db.engine import connection, transaction
from fleetsvc import business_units
from fleetsvc.business_units import BusinessUnit, BusinessUnitCreate, BusinessUnitUpdate


class BusinessUnitController(Controller):
    path = "/business-units"
    tags = ["business units"]

    @get("/", operation_id="listBusinessUnits", opt=READ_REGISTER)
    async def list_units(
        self, page: PageDep, code: FromQuery[str | None] = None, q: FromQuery[str | None] = None
    ) -> PageOf[BusinessUnit]:
        async with connection() as conn:
            return page_of(await business_units.list_business_units(conn, page, code=code, q=q))

    @post("/", operation_id="createBusinessUnit", opt=WRITE_REGISTER)
    async def create(
        self, data: JSONBody[BusinessUnitCreate], actor: ActorDep
    ) -> Response[BusinessUnit]:
        async with transaction() as conn:
            unit = await business_units.create_business_unit(conn, actor, data)
        return with_etag(unit, unit.version, 201)

    @get("/{bu_id:int}", operation_id="getBusinessUnit", opt=READ_REGISTER)
    async def get_one(self, bu_id: FromPath[int]) -> Response[BusinessUnit]:
        async with connection() as conn:
            unit = await business_units.get_business_unit(conn, bu_id)
        return with_etag(unit, unit.version)

    @patch(
        "/{bu_id:int}",
        operation_id="updateBusinessUnit",
        opt=WRITE_REGISTER,
        operation_class=HonoursIfMatch,
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        bu_id: FromPath[int],
        data: JSONBody[BusinessUnitUpdate],
        actor: ActorDep,
    ) -> Response[BusinessUnit]:
        async with transaction() as conn:
            unit = await business_units.update_business_unit(
                conn, actor, bu_id, data, if_match(request)
            )
        return with_etag(unit, unit.version)


CONTROLLERS: list[type[Controller]] = [BusinessUnitController]
