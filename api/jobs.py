"""Jobs over HTTP: list, read, cancel (each caller sees the jobs its role may)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter

from api.dependencies import ActorDep, PageDep
from api.guards import JOBS_CANCEL, JOBS_READ
from api.schemas import PageOf, page_of
from db.engine import connection, transaction
from fleetsvc.jobs import service
from fleetsvc.jobs.kinds import JobRecord, JobStatus


class Progress(msgspec.Struct):
    phase: str | None = None
    counts: dict[str, int] = msgspec.field(default_factory=dict)


class Job(msgspec.Struct):
    id: int
    kind: str
    status: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    run_after: datetime
    queued_by: str
    queued_role: str
    progress: Progress
    error: str | None
    result: dict[str, Any] | None
    cancel_requested_at: datetime | None
    unique_key: str | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _progress(raw: Any) -> Progress:
    try:
        return msgspec.convert(raw, Progress)
    except msgspec.ValidationError:
        return Progress()


def to_job(j: JobRecord) -> Job:
    return Job(
        id=j.id,
        kind=j.kind,
        status=j.status,
        payload=dict(j.payload) if isinstance(j.payload, dict) else {},
        attempts=j.attempts,
        max_attempts=j.max_attempts,
        run_after=j.run_after,
        queued_by=j.queued_by,
        queued_role=j.queued_role,
        progress=_progress(j.progress),
        error=j.error,
        result=dict(j.result) if isinstance(j.result, dict) else None,
        cancel_requested_at=j.cancel_requested_at,
        unique_key=j.unique_key,
        lease_owner=j.lease_owner,
        lease_expires_at=j.lease_expires_at,
        created_at=j.created_at,
        started_at=j.started_at,
        finished_at=j.finished_at,
    )


StatusFilter = Annotated[str | None, QueryParameter(schema_extra={"enum": list(JobStatus.ALL)})]
KindFilter = Annotated[
    str | None, QueryParameter(max_length=64, description="a job kind, like mdm.pull")
]


class JobController(Controller):
    path = "/jobs"
    tags = ["jobs"]

    @get("/", operation_id="listJobs", summary="Jobs, newest first", opt=JOBS_READ)
    async def list_jobs(
        self, page: PageDep, actor: ActorDep, status: StatusFilter = None, kind: KindFilter = None
    ) -> PageOf[Job]:
        async with connection() as conn:
            found = await service.list_jobs(
                conn, actor.role, service.JobFilter(status=status, kind=kind), page
            )
        return page_of(found, to_job)

    @get("/{job_id:int}", operation_id="getJob", summary="One job", opt=JOBS_READ)
    async def get_job(self, job_id: FromPath[int], actor: ActorDep) -> Job:
        async with connection() as conn:
            return to_job(await service.get_job(conn, actor.role, job_id))

    @post(
        "/{job_id:int}/cancel",
        operation_id="cancelJob",
        status_code=200,
        summary="Cancel a queued job, or ask a running one to stop",
        opt=JOBS_CANCEL,
        responses={
            202: ResponseSpec(
                Job, description="The job is running: it was asked to stop at its next check"
            )
        },
    )
    async def cancel(self, job_id: FromPath[int], actor: ActorDep) -> Response[Job]:
        """A queued job is cancelled at once (200); a running one is asked to stop (202) and
        stops at its next check; a finished one is a 409 naming its status."""
        async with transaction() as conn:
            job = await service.cancel_job(conn, actor, job_id)
        return Response(to_job(job), status_code=200 if job.status == "cancelled" else 202)


CONTROLLERS: list[type[Controller]] = [JobController]
