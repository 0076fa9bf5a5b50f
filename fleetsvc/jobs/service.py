"""Jobs as people see them: list, read and cancel, each as the caller's role may.

Admin and the auditor see every job; another role sees the jobs it queued and those of
the kinds that name it (``JobKind.roles``). A job a caller may not see is "not found".
Cancelling a queued job ends it at once; a running one is asked to stop and stops at its
next check; a finished one cannot be cancelled (a conflict naming its status).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg

from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.checks import filter_choice
from fleetsvc.errors import Conflict, Forbidden, NotFound
from fleetsvc.jobs import kinds
from fleetsvc.jobs.kinds import JobRecord, JobStatus
from fleetsvc.jobs.queue import COLUMNS, FINISHED_CHANNEL, record_of
from fleetsvc.pagination import Page, PageRequest, make_page
from fleetsvc.records import Filters, check_id
from fleetsvc.vocabulary import Role


@dataclass(frozen=True, slots=True)
class JobFilter:
    status: str | None = None
    kind: str | None = None


def _visible(f: Filters, role: str) -> None:
    if role in (Role.ADMIN, Role.AUDITOR):
        return
    f.add("(queued_role = {} OR kind = ANY({}::text[]))", role, kinds.kinds_readable_by(role))


async def list_jobs(
    conn: asyncpg.Connection, role: str, flt: JobFilter, page: PageRequest
) -> Page[JobRecord]:
    """Jobs the role may see, newest first."""
    f = Filters()
    if flt.status is not None:
        f.add("status = {}", filter_choice("status", flt.status, JobStatus.ALL))
    if flt.kind is not None:
        f.add("kind = {}", flt.kind.strip())
    _visible(f, role)
    if page.after_id is not None:
        f.add("id < {}", page.after_id)
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM job{f.where()} ORDER BY id DESC LIMIT ${len(f.args) + 1}",
        *f.args,
        page.limit + 1,
    )
    return make_page([record_of(r) for r in rows], page, key=lambda j: j.id)


async def get_job(conn: asyncpg.Connection, role: str, job_id: int) -> JobRecord:
    check_id("job", job_id)  # beyond the ids' range: no such job (404), not a driver error
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM job WHERE id = $1", job_id)
    job = None if row is None else record_of(row)
    if job is None or not kinds.may_see(role, job):
        raise NotFound("job", job_id)
    return job


async def cancel_job(conn: asyncpg.Connection, actor: Actor, job_id: int) -> JobRecord:
    """Cancel a queued job now, or ask a running one to stop (in the caller's transaction)."""
    check_id("job", job_id)
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM job WHERE id = $1 FOR UPDATE", job_id)
    job = None if row is None else record_of(row)
    if job is None or not kinds.may_see(actor.role, job):
        raise NotFound("job", job_id)
    if not kinds.may_cancel(actor.role, job):
        raise Forbidden(f"the {actor.role} role may not cancel this job")
    if job.status in JobStatus.FINISHED:
        raise Conflict(
            f"job {job_id} is {job.status}; only a queued or running job can be cancelled"
        )
    row = await conn.fetchrow(
        "UPDATE job SET cancel_requested_at = COALESCE(cancel_requested_at, now()),"
        " status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,"
        " error = CASE WHEN status = 'queued' THEN 'cancelled before it started' ELSE error END,"
        " finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END,"
        f" updated_at = now() WHERE id = $1 RETURNING {COLUMNS}",
        job_id,
    )
    assert row is not None
    after = record_of(row)
    if after.status == JobStatus.CANCELLED:
        await conn.execute(
            "SELECT pg_notify($1, $2)", FINISHED_CHANNEL, f"{job_id} {JobStatus.CANCELLED}"
        )
    action = "cancelled" if after.status == JobStatus.CANCELLED else "cancel_requested"
    await audit.record(
        conn, actor, "job", job_id, action, before={"status": job.status}, after={"kind": job.kind}
    )
    return after


@dataclass(frozen=True, slots=True)
class FailedJob:
    id: int
    kind: str
    finished_at: dt.datetime | None
    error: str | None


async def failed_between(
    conn: asyncpg.Connection, since: dt.datetime, until: dt.datetime, *, limit: int
) -> tuple[list[FailedJob], int]:
    """Jobs that failed in (since, until]: the first ``limit`` of them, and how many."""
    rows = await conn.fetch(
        "SELECT id, kind, finished_at, error, count(*) OVER () AS total FROM job"
        " WHERE status = 'failed' AND finished_at > $1 AND finished_at <= $2"
        " ORDER BY finished_at, id LIMIT $3",
        since,
        until,
        limit,
    )
    total = int(rows[0]["total"]) if rows else 0
    return [FailedJob(r["id"], r["kind"], r["finished_at"], r["error"]) for r in rows], total


async def last_notice_until(conn: asyncpg.Connection, kind: str) -> dt.datetime | None:
    """Up to when the last notice that ran reported failed jobs (its result says)."""
    value = await conn.fetchval(
        "SELECT (result ->> 'failed_jobs_until')::timestamptz FROM job"
        " WHERE kind = $1 AND status = 'succeeded' AND result ? 'failed_jobs_until'"
        " ORDER BY finished_at DESC LIMIT 1",
        kind,
    )
    return value if isinstance(value, dt.datetime) else None
