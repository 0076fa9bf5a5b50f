"""People over HTTP."""

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
from fleetsvc import people
from fleetsvc.people import Person, PersonCreate, PersonUpdate
from fleetsvc.vocabulary import PersonKind


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
        kind: Annotated[str | None, QueryParameter(schema_extra=enum_of(PersonKind))] = None,
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
        return page_of(found)

    @post("/", operation_id="createPerson", opt=WRITE_REGISTER)
    async def create(self, data: JSONBody[PersonCreate], actor: ActorDep) -> Response[Person]:
        async with transaction() as conn:
            person = await people.create_person(conn, actor, data)
        return with_etag(person, person.version, 201)

    @get("/{person_id:int}", operation_id="getPerson", opt=READ_REGISTER)
    async def get_one(self, person_id: FromPath[int]) -> Response[Person]:
        async with connection() as conn:
            person = await people.get_person(conn, person_id)
        return with_etag(person, person.version)

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
            person = await people.update_person(conn, actor, person_id, data, if_match(request))
        return with_etag(person, person.version)


CONTROLLERS: list[type[Controller]] = [PersonController]
