"""MDM sync runs and reconciliation over HTTP: push batches, read runs and discrepancies."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec
from litestar import Controller, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from api.dependencies import ActorDep, PageDep
from api.guards import MDM_SYNC, READ_REGISTER
from api.schemas import PageOf, page_of
from db.engine import connection, transaction
from fleetsvc.mdm import reconcile, runs, sync
from fleetsvc.mdm.checks import ManagedDevice
from fleetsvc.mdm.reconcile import Reconciliation
from fleetsvc.mdm.runs import RUN_KEY_PATTERN, Run
from fleetsvc.settings import get_settings
from fleetsvc.vocabulary import documented

Limit = Annotated[
    int, QueryParameter(ge=1, le=1000, description="items shown per section, 1–1000 (default 100)")
]
StaleDays = Annotated[
    int | None,
    QueryParameter(ge=1, le=3650, description="days unseen before a deployed device is listed"),
]
BusinessUnitCode = Annotated[
    str | None,
    QueryParameter(
        name="business_unit",
        max_length=16,
        description="a unit code: narrows the holder-based sections to that unit",
    ),
]


class SyncBatch(msgspec.Struct, forbid_unknown_fields=True):
    """One batch of a push run. ``final: true`` closes the run (``records`` may be empty)."""

    run_id: Annotated[str, documented(pattern=RUN_KEY_PATTERN)]
    records: list[ManagedDevice] = msgspec.field(default_factory=list)
    batch: Annotated[int, documented(minimum=1, maximum=sync.MAX_BATCH_NO)] | None = None
    final: bool = False

    # Records need their batch number (api.bodies states it).
    OPENAPI_ALL_OF: ClassVar[list[dict[str, Any]]] = [
        {
            "anyOf": [
                {"properties": {"records": {"maxItems": 0}}},
                {"required": ["batch"], "properties": {"batch": {"type": "integer"}}},
            ]
        }
    ]


class RunReport(Run, frozen=True):
    """A run with its reconciliation (``GET /mdm/runs/{run_key}``)."""

    reconciliation: Reconciliation


class MdmController(Controller):
    path = "/mdm"
    tags = ["mdm"]

    @post(
        "/sync",
        operation_id="pushMdmBatch",
        opt=MDM_SYNC,
        status_code=200,
        summary="Push one batch of MDM device records (the MDM's JSON schema)",
        responses={404: ResponseSpec(None, description="No open run has this run_id")},
    )
    async def push(self, data: JSONBody[SyncBatch], actor: ActorDep) -> Run:
        async with transaction() as conn:
            run = await sync.push_batch(
                conn,
                actor,
                run_key=data.run_id,
                batch_no=data.batch,
                devices=data.records,
                final=data.final,
            )
        return run

    @get("/runs", operation_id="listMdmRuns", opt=READ_REGISTER, summary="Sync runs, newest first")
    async def list_runs(self, page: PageDep) -> PageOf[Run]:
        async with connection() as conn:
            return page_of(await runs.list_runs(conn, page))

    @get(
        "/runs/{run_key:str}",
        operation_id="getMdmRun",
        opt=READ_REGISTER,
        summary="A run (by id or run_id): counts, rejected records and its reconciliation",
    )
    async def get_run(
        self,
        run_key: FromPath[str],
        limit: Limit = 100,
        stale_days: StaleDays = None,
    ) -> RunReport:
        settings = get_settings()
        async with connection() as conn:
            run = await runs.get_run(conn, run_key, issues_limit=limit)
            report = await reconcile.reconcile(
                conn,
                capacity=settings.mdm_capacity,
                stale_days=stale_days or settings.mdm_stale_days,
                limit=limit,
                run_id=run.id,
            )
        return RunReport(**msgspec.structs.asdict(run), reconciliation=report)

    @get(
        "/discrepancies",
        operation_id="getMdmDiscrepancies",
        opt=READ_REGISTER,
        summary="The register against the MDM now, security findings first",
    )
    async def discrepancies(
        self,
        limit: Limit = 100,
        stale_days: StaleDays = None,
        business_unit: BusinessUnitCode = None,
    ) -> Reconciliation:
        settings = get_settings()
        async with connection() as conn:
            report = await reconcile.reconcile(
                conn,
                capacity=settings.mdm_capacity,
                stale_days=stale_days or settings.mdm_stale_days,
                limit=limit,
                business_unit=business_unit,
            )
        return report


CONTROLLERS: list[type[Controller]] = [MdmController]
