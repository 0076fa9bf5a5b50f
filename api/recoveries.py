"""Leavers' recovery cases over HTTP: the list (by status, business unit, overdue), one case
with its lines, and writing a line off. Every role that reads people reads the cases;
stores staff and admins write devices off."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.dependencies import ActorDep, PageDep
from api.etags import with_etag
from api.guards import READ_REGISTER, STORES
from api.schemas import PageOf, RecordIdQuery, page_of
from api.vocabulary import enum_of
from db.engine import connection, transaction
from fleetsvc.recoveries import queries
from fleetsvc.recoveries.queries import RecoveryCase, RecoveryCaseDetail
from fleetsvc.recoveries.write_off import WriteOff, write_off
from fleetsvc.vocabulary import RecoveryStatus


class RecoveryController(Controller):
    path = "/recoveries"
    tags = ["recoveries"]

    @get("/", operation_id="listRecoveries", opt=READ_REGISTER)
    async def list_recoveries(
        self,
        page: PageDep,
        status: Annotated[str | None, QueryParameter(schema_extra=enum_of(RecoveryStatus))] = None,
        business_unit: FromQuery[str | None] = None,
        overdue: FromQuery[bool | None] = None,
        person_id: RecordIdQuery = None,
    ) -> PageOf[RecoveryCase]:
        async with connection() as conn:
            found = await queries.list_recoveries(
                conn,
                page,
                status=status,
                business_unit=business_unit,
                overdue=overdue,
                person_id=person_id,
            )
        return page_of(found)

    @get("/{case_id:int}", operation_id="getRecovery", opt=READ_REGISTER)
    async def get_one(self, case_id: FromPath[int]) -> Response[RecoveryCaseDetail]:
        async with connection() as conn:
            case = await queries.get_recovery(conn, case_id)
        return with_etag(case, case.version)

    @post(
        "/{case_id:int}/lines/{line_id:int}/write-off",
        operation_id="writeOffRecoveryLine",
        opt=STORES,
        status_code=200,
    )
    async def write_off(
        self,
        case_id: FromPath[int],
        line_id: FromPath[int],
        data: JSONBody[WriteOff],
        actor: ActorDep,
    ) -> Response[RecoveryCaseDetail]:
        async with transaction() as conn:
            case = await write_off(conn, actor, case_id, line_id, data)
        return with_etag(case, case.version)


CONTROLLERS: list[type[Controller]] = [RecoveryController]
