"""MDM sync runs and reconciliation over HTTP: push batches, read runs and discrepancies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from api.dependencies import ActorDep, PageDep
from api.guards import MDM_SYNC, READ_REGISTER
from api.schemas import PageOf, page_of
from db.engine import connection, transaction
from fleetsvc.mdm import reconcile, runs, sync
from fleetsvc.mdm.checks import ManagedDevice
from fleetsvc.settings import get_settings

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

    run_id: str
    records: list[ManagedDevice] = msgspec.field(default_factory=list)
    batch: int | None = None
    final: bool = False


class RunCounts(msgspec.Struct):
    received: int
    matched: int
    unknown: int
    changed: int
    rejected: int


class RunIssue(msgspec.Struct):
    batch: int
    index: int
    mdm_device_id: str | None
    field: str | None
    message: str


class Run(msgspec.Struct):
    id: int
    run_id: str
    source: str
    status: str
    created_by: str
    started_at: datetime
    closed_at: datetime | None
    batches: int
    counts: RunCounts
    error: str | None
    issues: list[RunIssue]


class Section(msgspec.Struct):
    count: int
    items: list[dict[str, Any]]


class Capacity(msgspec.Struct):
    managed: int
    capacity: int
    headroom: int
    used_percent: float


class Reconciliation(msgspec.Struct):
    scope: str
    as_of: datetime
    stale_days: int
    still_checking_in: Section
    not_in_register: Section
    not_seen: Section
    not_seen_reference: datetime | None
    user_mismatches: Section
    duplicates: Section
    noncompliant_by_business_unit: Section
    capacity: Capacity


class RunReport(Run):
    reconciliation: Reconciliation


def _section(s: reconcile.Section) -> Section:
    return Section(count=s.count, items=s.items)


def to_reconciliation(r: reconcile.Reconciliation) -> Reconciliation:
    c = r.capacity
    return Reconciliation(
        scope=r.scope,
        as_of=r.as_of,
        stale_days=r.stale_days,
        still_checking_in=_section(r.still_checking_in),
        not_in_register=_section(r.not_in_register),
        not_seen=_section(r.not_seen),
        not_seen_reference=r.not_seen_reference,
        user_mismatches=_section(r.user_mismatches),
        duplicates=_section(r.duplicates),
        noncompliant_by_business_unit=_section(r.noncompliant_by_business_unit),
        capacity=Capacity(c.managed, c.capacity, c.headroom, c.used_percent),
    )


def _run_fields(run: runs.Run) -> dict[str, Any]:
    c = run.counts
    return {
        "id": run.id,
        "run_id": run.run_id,
        "source": run.source,
        "status": run.status,
        "created_by": run.created_by,
        "started_at": run.started_at,
        "closed_at": run.closed_at,
        "batches": run.batches,
        "counts": RunCounts(c.received, c.matched, c.unknown, c.changed, c.rejected),
        "error": run.error,
        "issues": [
            RunIssue(i.batch, i.index, i.mdm_device_id, i.field, i.message) for i in run.issues
        ],
    }


def to_run(run: runs.Run) -> Run:
    return Run(**_run_fields(run))


class MdmController(Controller):
    path = "/mdm"
    tags = ["mdm"]

    @post(
        "/sync",
        operation_id="pushMdmBatch",
        opt=MDM_SYNC,
        status_code=200,
        summary="Push one batch of MDM device records (the MDM's JSON schema)",
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
        return to_run(run)

    @get("/runs", operation_id="listMdmRuns", opt=READ_REGISTER, summary="Sync runs, newest first")
    async def list_runs(self, page: PageDep) -> PageOf[Run]:
        async with connection() as conn:
            return page_of(await runs.list_runs(conn, page), to_run)

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
        return RunReport(**_run_fields(run), reconciliation=to_reconciliation(report))

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
        return to_reconciliation(report)


CONTROLLERS: list[type[Controller]] = [MdmController]
