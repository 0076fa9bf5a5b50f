"""Contracts, with their recurring charges, over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.dependencies import ActorDep, PageDep
from api.etags import HonoursIfMatch, if_match, with_etag
from api.guards import READ_REGISTER, WRITE_PROCUREMENT
from api.schemas import PageOf, RecordIdQuery, page_of
from api.vocabulary import enum_of
from db.engine import connection, transaction
from fleetsvc.procurement import contracts
from fleetsvc.procurement.contracts import Contract, ContractCreate, ContractUpdate
from fleetsvc.vocabulary import ContractKind

# Litestar checks the range; the document states it too (it drops ge/le of an optional).
DaysAhead = Annotated[
    int | None, QueryParameter(ge=0, le=36500, schema_extra={"minimum": 0, "maximum": 36500})
]


class ContractController(Controller):
    path = "/contracts"
    tags = ["contracts"]

    @get("/", operation_id="listContracts", opt=READ_REGISTER)
    async def list_contracts(
        self,
        page: PageDep,
        # An id filter: out of the database's range is a 422, never a driver error.
        supplier_id: RecordIdQuery = None,
        kind: Annotated[str | None, QueryParameter(schema_extra=enum_of(ContractKind))] = None,
        ending_within_days: DaysAhead = None,
        within_days: DaysAhead = None,
        q: FromQuery[str | None] = None,
    ) -> PageOf[Contract]:
        """``ending_within_days`` (or its short form ``within_days``): contracts whose end
        date is from today to that many days ahead."""
        async with connection() as conn:
            found = await contracts.list_contracts(
                conn,
                page,
                supplier_id=supplier_id,
                kind=kind,
                ending_within_days=ending_within_days
                if ending_within_days is not None
                else within_days,
                q=q,
            )
        return page_of(found)

    @post("/", operation_id="createContract", opt=WRITE_PROCUREMENT)
    async def create(self, data: JSONBody[ContractCreate], actor: ActorDep) -> Response[Contract]:
        async with transaction() as conn:
            contract = await contracts.create_contract(conn, actor, data)
        return with_etag(contract, contract.version, 201)

    @get("/{contract_id:int}", operation_id="getContract", opt=READ_REGISTER)
    async def get_one(self, contract_id: FromPath[int]) -> Response[Contract]:
        """With what its purchase orders commit, the cap left, and how soon it ends."""
        async with connection() as conn:
            contract = await contracts.get_contract(conn, contract_id)
        return with_etag(contract, contract.version)

    @patch(
        "/{contract_id:int}",
        operation_id="updateContract",
        opt=WRITE_PROCUREMENT,
        operation_class=HonoursIfMatch,
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        contract_id: FromPath[int],
        data: JSONBody[ContractUpdate],
        actor: ActorDep,
    ) -> Response[Contract]:
        """``charges``, when given, replaces the whole list."""
        async with transaction() as conn:
            contract = await contracts.update_contract(
                conn, actor, contract_id, data, if_match(request)
            )
        return with_etag(contract, contract.version)


CONTROLLERS: list[type[Controller]] = [ContractController]
