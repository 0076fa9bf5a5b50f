"""Vehicles over HTTP (fitting IVMA kit to one is in ``api.installs``)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.dependencies import ActorDep, PageDep
from api.etags import HonoursIfMatch, if_match, with_etag
from api.guards import READ_REGISTER, WRITE_REGISTER
from api.schemas import PageOf, page_of
from api.vocabulary import enum_of
from db.engine import connection, transaction
from fleetsvc import vehicles
from fleetsvc.vehicles import Vehicle, VehicleCreate, VehicleUpdate
from fleetsvc.vocabulary import VehicleStatus


class VehicleController(Controller):
    path = "/vehicles"
    tags = ["vehicles"]

    @get("/", operation_id="listVehicles", opt=READ_REGISTER)
    async def list_vehicles(
        self,
        page: PageDep,
        vrm: FromQuery[str | None] = None,
        fleet_number: FromQuery[str | None] = None,
        business_unit: FromQuery[str | None] = None,
        status: Annotated[str | None, QueryParameter(schema_extra=enum_of(VehicleStatus))] = None,
        q: FromQuery[str | None] = None,
    ) -> PageOf[Vehicle]:
        async with connection() as conn:
            found = await vehicles.list_vehicles(
                conn,
                page,
                vrm=vrm,
                fleet_number=fleet_number,
                business_unit=business_unit,
                status=status,
                q=q,
            )
        return page_of(found)

    @post("/", operation_id="createVehicle", opt=WRITE_REGISTER)
    async def create(self, data: JSONBody[VehicleCreate], actor: ActorDep) -> Response[Vehicle]:
        async with transaction() as conn:
            vehicle = await vehicles.create_vehicle(conn, actor, data)
        return with_etag(vehicle, vehicle.version, 201)

    @get("/{vehicle_id:int}", operation_id="getVehicle", opt=READ_REGISTER)
    async def get_one(self, vehicle_id: FromPath[int]) -> Response[Vehicle]:
        async with connection() as conn:
            vehicle = await vehicles.get_vehicle(conn, vehicle_id)
        return with_etag(vehicle, vehicle.version)

    @patch(
        "/{vehicle_id:int}",
        operation_id="updateVehicle",
        opt=WRITE_REGISTER,
        operation_class=HonoursIfMatch,
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        vehicle_id: FromPath[int],
        data: JSONBody[VehicleUpdate],
        actor: ActorDep,
    ) -> Response[Vehicle]:
        async with transaction() as conn:
            vehicle = await vehicles.update_vehicle(
                conn, actor, vehicle_id, data, if_match(request)
            )
        return with_etag(vehicle, vehicle.version)


CONTROLLERS: list[type[Controller]] = [VehicleController]
