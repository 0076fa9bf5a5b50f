"""People over HTTP."""

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
from fleetsvc import people
from fleetsvc.records import changes_of


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
            found = await people.list_people(
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
            row = await people.create_person(conn, actor, msgspec.structs.asdict(data))
        return with_etag(to_person(row), row["version"], 201)

    @get("/{person_id:int}", operation_id="getPerson", opt=READ_REGISTER)
    async def get_one(self, person_id: FromPath[int]) -> Response[Person]:
        async with connection() as conn:
            row = await people.get_person(conn, person_id)
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
            row = await people.update_person(
                conn, actor, person_id, changes_of(data), if_match(request)
            )
        return with_etag(to_person(row), row["version"])


CONTROLLERS: list[type[Controller]] = [PersonController]
