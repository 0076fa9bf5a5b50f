"""SIM cards over HTTP: list, register, change, fit in a handset, take out, history."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.dependencies import ActorDep, PageDep
from api.etags import HonoursIfMatch, if_match, with_etag
from api.guards import READ_REGISTER, WRITE_REGISTER
from api.schemas import PageOf, RecordIdQuery, page_of
from api.vocabulary import enum_of
from db.engine import connection, transaction
from fleetsvc import sims
from fleetsvc.sims import Sim, SimCreate, SimFitting, SimFittingRecord, SimUpdate
from fleetsvc.vocabulary import SimStatus

IdQuery = RecordIdQuery


class SimController(Controller):
    path = "/sims"
    tags = ["sims"]

    @get("/", operation_id="listSims", opt=READ_REGISTER)
    async def list_sims(
        self,
        page: PageDep,
        iccid: FromQuery[str | None] = None,
        msisdn: FromQuery[str | None] = None,
        status: Annotated[str | None, QueryParameter(schema_extra=enum_of(SimStatus))] = None,
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
        return page_of(result)

    @post("/", operation_id="createSim", opt=WRITE_REGISTER)
    async def create(self, data: JSONBody[SimCreate], actor: ActorDep) -> Response[Sim]:
        async with transaction() as conn:
            sim = await sims.create_sim(conn, actor, data)
        return with_etag(sim, sim.version, 201)

    @get("/{sim_id:int}", operation_id="getSim", opt=READ_REGISTER)
    async def get_one(self, sim_id: FromPath[int]) -> Response[Sim]:
        async with connection() as conn:
            sim = await sims.get_sim(conn, sim_id)
        return with_etag(sim, sim.version)

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
            sim = await sims.update_sim(conn, actor, sim_id, data, expected)
        return with_etag(sim, sim.version)

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
            sim = await sims.fit_sim(conn, actor, sim_id, data, expected)
        return with_etag(sim, sim.version)

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
            sim = await sims.remove_sim(conn, actor, sim_id, expected)
        return with_etag(sim, sim.version)

    @get("/{sim_id:int}/history", operation_id="simHistory", opt=READ_REGISTER)
    async def history(self, sim_id: FromPath[int], page: PageDep) -> PageOf[SimFittingRecord]:
        """Every handset the SIM has been in, oldest first."""
        async with connection() as conn:
            return page_of(await sims.sim_history(conn, sim_id, page))


CONTROLLERS: list[type[Controller]] = [SimController]
