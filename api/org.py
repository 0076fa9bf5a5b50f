"""Business units (and, alongside, people and vehicles) over HTTP.

This controller is the pattern the others follow: thin handlers that open the
request's one transaction, call the service and convert rows to Structs.
"""

from __future__ import annotations

from datetime import date, datetime
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
from fleetsvc import org
from fleetsvc.records import changes_of


class BusinessUnit(msgspec.Struct):
    id: int
    code: str
    name: str
    version: int
    created_at: datetime
    updated_at: datetime


class BusinessUnitCreate(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    name: str


class BusinessUnitUpdate(msgspec.Struct, forbid_unknown_fields=True):
    code: str | msgspec.UnsetType = msgspec.UNSET
    name: str | msgspec.UnsetType = msgspec.UNSET


def to_business_unit(row: asyncpg.Record) -> BusinessUnit:
    return BusinessUnit(
        id=row["id"],
        code=row["code"],
        name=row["name"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class BusinessUnitController(Controller):
    path = "/business-units"
    tags = ["business units"]

    @get("/", operation_id="listBusinessUnits", opt=READ_REGISTER)
    async def list_units(
        self, page: PageDep, code: FromQuery[str | None] = None, q: FromQuery[str | None] = None
    ) -> PageOf[BusinessUnit]:
        async with connection() as conn:
            return page_of(
                await org.list_business_units(conn, page, code=code, q=q), to_business_unit
            )

    @post("/", operation_id="createBusinessUnit", opt=WRITE_REGISTER)
    async def create(
        self, data: JSONBody[BusinessUnitCreate], actor: ActorDep
    ) -> Response[BusinessUnit]:
        async with transaction() as conn:
            row = await org.create_business_unit(conn, actor, data.code, data.name)
        return with_etag(to_business_unit(row), row["version"], 201)

    @get("/{bu_id:int}", operation_id="getBusinessUnit", opt=READ_REGISTER)
    async def get_one(self, bu_id: FromPath[int]) -> Response[BusinessUnit]:
        async with connection() as conn:
            row = await org.get_business_unit(conn, bu_id)
        return with_etag(to_business_unit(row), row["version"])

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
            row = await org.update_business_unit(
                conn, actor, bu_id, changes_of(data), if_match(request)
            )
        return with_etag(to_business_unit(row), row["version"])


class Person(msgspec.Struct):
    id: int
    employee_number: str
    upn: str | None
    display_name: str
    business_unit_id: int | None
    kind: str
    active: bool
    left_on: date | None
    version: int
    created_at: datetime
    updated_at: datetime


class PersonCreate(msgspec.Struct, forbid_unknown_fields=True):
    employee_number: str
    display_name: str
    upn: str | None = None
    business_unit_id: int | None = None
    kind: str = "officer"
    active: bool = True
    left_on: date | None = None


class PersonUpdate(msgspec.Struct, forbid_unknown_fields=True):
    employee_number: str | msgspec.UnsetType = msgspec.UNSET
    display_name: str | msgspec.UnsetType = msgspec.UNSET
    upn: str | msgspec.UnsetType | None = msgspec.UNSET
    business_unit_id: int | msgspec.UnsetType | None = msgspec.UNSET
    kind: str | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    left_on: date | msgspec.UnsetType | None = msgspec.UNSET


def to_person(row: asyncpg.Record) -> Person:
    return Person(**{f: row[f] for f in Person.__struct_fields__})


class PersonController(Controller):
    path = "/people"
    tags = ["people"]

    @get("/", operation_id="listPeople", opt=READ_REGISTER)
    async def list_people(
        self,
        page: PageDep,
        employee_number: FromQuery[str | None] = None,
        upn: FromQuery[str | None] = None,
        business_unit: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
        active: FromQuery[bool | None] = None,
        q: FromQuery[str | None] = None,
    ) -> PageOf[Person]:
        async with connection() as conn:
            found = await org.list_people(
                conn,
                page,
                employee_number=employee_number,
                upn=upn,
                business_unit=business_unit,
                kind=kind,
                active=active,
                q=q,
            )
        return page_of(found, to_person)

    @post("/", operation_id="createPerson", opt=WRITE_REGISTER)
    async def create(self, data: JSONBody[PersonCreate], actor: ActorDep) -> Response[Person]:
        async with transaction() as conn:
            row = await org.create_person(conn, actor, msgspec.structs.asdict(data))
        return with_etag(to_person(row), row["version"], 201)

    @get("/{person_id:int}", operation_id="getPerson", opt=READ_REGISTER)
    async def get_one(self, person_id: FromPath[int]) -> Response[Person]:
        async with connection() as conn:
            row = await org.get_person(conn, person_id)
        return with_etag(to_person(row), row["version"])

    @patch(
        "/{person_id:int}",
        operation_id="updatePerson",
        opt=WRITE_REGISTER,
        operation_class=HonoursIfMatch,
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        person_id: FromPath[int],
        data: JSONBody[PersonUpdate],
        actor: ActorDep,
    ) -> Response[Person]:
        async with transaction() as conn:
            row = await org.update_person(
                conn, actor, person_id, changes_of(data), if_match(request)
            )
        return with_etag(to_person(row), row["version"])


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
            found = await org.list_vehicles(
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
            row = await org.create_vehicle(conn, actor, msgspec.structs.asdict(data))
        return with_etag(to_vehicle(row), row["version"], 201)

    @get("/{vehicle_id:int}", operation_id="getVehicle", opt=READ_REGISTER)
    async def get_one(self, vehicle_id: FromPath[int]) -> Response[Vehicle]:
        async with connection() as conn:
            row = await org.get_vehicle(conn, vehicle_id)
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
            row = await org.update_vehicle(
                conn, actor, vehicle_id, changes_of(data), if_match(request)
            )
        return with_etag(to_vehicle(row), row["version"])


CONTROLLERS: list[type[Controller]] = [BusinessUnitController, PersonController, VehicleController]
