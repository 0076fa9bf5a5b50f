"""Vehicles over HTTP (fitting IVMA kit is in ``api.installs``)."""

from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.dependencies import ActorDep, PageDep
from api.etags import HonoursIfMatch, if_match, with_etag
from api.guards import READ_REGISTER, WRITE_REGISTER
from api.schemas import PageOf, page_of
from db.engine import connection, transaction
from fleetsvc import vehicles
from fleetsvc.records import changes_of


class Vehicle(msgspec.Struct):
    id: int
    fleet_number: str
    vrm: str
    description: str
    business_unit_id: int | None
    status: str
    version: int
    created_at: datetime
    updated_at: datetime


class VehicleCreate(msgspec.Struct, forbid_unknown_fields=True):
    fleet_number: str
    vrm: str
    description: str = ""
    business_unit_id: int | None = None
    status: str = "active"


class VehicleUpdate(msgspec.Struct, forbid_unknown_fields=True):
    fleet_number: str | msgspec.UnsetType = msgspec.UNSET
    vrm: str | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET
    business_unit_id: int | msgspec.UnsetType | None = msgspec.UNSET
    status: str | msgspec.UnsetType = msgspec.UNSET


def to_vehicle(row: asyncpg.Record) -> Vehicle:
    return Vehicle(**{f: row[f] for f in Vehicle.__struct_fields__})


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
        status: FromQuery[str | None] = None,
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
        return page_of(found, to_vehicle)

    @post("/", operation_id="createVehicle", opt=WRITE_REGISTER)
    async def create(self, data: JSONBody[VehicleCreate], actor: ActorDep) -> Response[Vehicle]:
        async with transaction() as conn:
            row = await vehicles.create_vehicle(conn, actor, msgspec.structs.asdict(data))
        return with_etag(to_vehicle(row), row["version"], 201)

    @get("/{vehicle_id:int}", operation_id="getVehicle", opt=READ_REGISTER)
    async def get_one(self, vehicle_id: FromPath[int]) -> Response[Vehicle]:
        async with connection() as conn:
            row = await vehicles.get_vehicle(conn, vehicle_id)
        return with_etag(to_vehicle(row), row["version"])

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
            row = await vehicles.update_vehicle(
                conn, actor, vehicle_id, changes_of(data), if_match(request)
            )
        return with_etag(to_vehicle(row), row["version"])


CONTROLLERS: list[type[Controller]] = [VehicleController]
