"""SIM cards over HTTP: list, register, change, fit in a handset, take out, history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.dependencies import ActorDep, PageDep
from api.etags import HonoursIfMatch, if_match, with_etag
from api.guards import READ_REGISTER, WRITE_REGISTER
from api.schemas import PageOf, RecordId, RecordIdQuery, page_of
from db.engine import connection, transaction
from fleetsvc import sims
from fleetsvc.records import changes_of

Id = RecordId
IdQuery = RecordIdQuery


class Sim(msgspec.Struct):
    id: int
    iccid: str
    msisdn: str | None
    contract_id: int | None
    status: str
    asset_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime


class SimCreate(msgspec.Struct, forbid_unknown_fields=True):
    iccid: str
    msisdn: str | None = None
    contract_id: Id | None = None
    status: str = "active"


class SimUpdate(msgspec.Struct, forbid_unknown_fields=True):
    iccid: str | msgspec.UnsetType = msgspec.UNSET
    msisdn: str | msgspec.UnsetType | None = msgspec.UNSET
    contract_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    status: str | msgspec.UnsetType = msgspec.UNSET


class SimFitting(msgspec.Struct, forbid_unknown_fields=True):
    asset_id: Id
    replace: bool = False


class SimFittingRecord(msgspec.Struct):
    id: int
    sim_id: int
    asset_id: int
    serial_number: str
    imei: str | None
    fitted_at: datetime
    removed_at: datetime | None


def to_sim(row: asyncpg.Record) -> Sim:
    return Sim(
        id=row["id"],
        iccid=row["iccid"],
        msisdn=row["msisdn"],
        contract_id=row["contract_id"],
        status=row["status"],
        asset_id=row["asset_id"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def to_fitting(row: asyncpg.Record) -> SimFittingRecord:
    return SimFittingRecord(**dict(row))


class SimController(Controller):
    path = "/sims"
    tags = ["sims"]

    @get("/", operation_id="listSims", opt=READ_REGISTER)
    async def list_sims(
        self,
        page: PageDep,
        iccid: FromQuery[str | None] = None,
        msisdn: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        contract_id: IdQuery = None,
        asset_id: IdQuery = None,
    ) -> PageOf[Sim]:
        async with connection() as conn:
            result = await sims.list_sims(
                conn,
                page,
                iccid=iccid,
                msisdn=msisdn,
                status=status,
                contract_id=contract_id,
                asset_id=asset_id,
            )
        return page_of(result, to_sim)

    @post("/", operation_id="createSim", opt=WRITE_REGISTER)
    async def create(self, data: JSONBody[SimCreate], actor: ActorDep) -> Response[Sim]:
        async with transaction() as conn:
            row = await sims.create_sim(conn, actor, msgspec.structs.asdict(data))
        return with_etag(to_sim(row), row["version"], 201)

    @get("/{sim_id:int}", operation_id="getSim", opt=READ_REGISTER)
    async def get_one(self, sim_id: FromPath[int]) -> Response[Sim]:
        async with connection() as conn:
            row = await sims.get_sim(conn, sim_id)
        return with_etag(to_sim(row), row["version"])

    @patch(
        "/{sim_id:int}",
        operation_id="updateSim",
        opt=WRITE_REGISTER,
        operation_class=HonoursIfMatch,
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        sim_id: FromPath[int],
        data: JSONBody[SimUpdate],
        actor: ActorDep,
    ) -> Response[Sim]:
        expected = if_match(request)
        async with transaction() as conn:
            row = await sims.update_sim(conn, actor, sim_id, changes_of(data), expected)
        return with_etag(to_sim(row), row["version"])

    @post(
        "/{sim_id:int}/fitting",
        operation_id="fitSim",
        status_code=200,
        opt=WRITE_REGISTER,
        operation_class=HonoursIfMatch,
    )
    async def fit(
        self,
        request: Request[Any, Any, Any],
        sim_id: FromPath[int],
        data: JSONBody[SimFitting],
        actor: ActorDep,
    ) -> Response[Sim]:
        """Fit the SIM in a handset (moving it from any other)."""
        expected = if_match(request)
        async with transaction() as conn:
            row = await sims.fit_sim(
                conn, actor, sim_id, data.asset_id, replace=data.replace, expected_version=expected
            )
        return with_etag(to_sim(row), row["version"])

    @post(
        "/{sim_id:int}/removal",
        operation_id="removeSim",
        status_code=200,
        opt=WRITE_REGISTER,
        operation_class=HonoursIfMatch,
    )
    async def remove(
        self, request: Request[Any, Any, Any], sim_id: FromPath[int], actor: ActorDep
    ) -> Response[Sim]:
        """Take the SIM out of its handset."""
        expected = if_match(request)
        async with transaction() as conn:
            row = await sims.remove_sim(conn, actor, sim_id, expected)
        return with_etag(to_sim(row), row["version"])

    @get("/{sim_id:int}/history", operation_id="simHistory", opt=READ_REGISTER)
    async def history(self, sim_id: FromPath[int], page: PageDep) -> PageOf[SimFittingRecord]:
        """Every handset the SIM has been in, oldest first."""
        async with connection() as conn:
            return page_of(await sims.sim_history(conn, sim_id, page), to_fitting)


CONTROLLERS: list[type[Controller]] = [SimController]
