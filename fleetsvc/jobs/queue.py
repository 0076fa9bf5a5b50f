"""The job queue's SQL: enqueue, claim, renew the lease, finish, and take back.

A worker claims the oldest due job with ``FOR UPDATE SKIP LOCKED`` (two workers never get
the same row) and holds it under a lease: ``lease_owner`` and ``lease_expires_at``, renewed
by its heartbeat. Every write a worker makes for a job names the owner in its ``WHERE``,
so a worker that lost its lease (another took the job back) changes nothing. A job whose
lease expired is taken back by any worker: the database session its work last ran on is
ended, the kind's recovery hook runs, and the job is queued again or ends ``failed``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from typing import Any, Final

import asyncpg
import msgspec

from fleetsvc.auth import Actor
from fleetsvc.errors import FleetError
from fleetsvc.jobs import kinds
from fleetsvc.jobs.kinds import (
    Interruption,
    JobCancelled,
    JobRecord,
    JobStatus,
    LeaseLost,
    Recovery,
)
from fleetsvc.logs import get_logger

log = get_logger("fleetsvc.jobs")

# Idle workers LISTEN here; a queued job wakes them at its commit (NOTIFY is transactional).
CHANNEL: Final = "fleetsvc_jobs"
# A job that ended (or was queued again) says so here, "<id> <status>": for whoever waits
# on it (an upload that answers when its import job is done, a command).
FINISHED_CHANNEL: Final = "fleetsvc_job_finished"

COLUMNS: Final = (
    "id, kind, payload, status, attempts, max_attempts, run_after, queued_by, queued_role,"
    " request_id, progress, error, result, unique_key, lease_owner, lease_expires_at,"
    " cancel_requested_at, created_at, started_at, finished_at, backend_pid, backend_seen_at"
)


def _json(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str) else value


def record_of(row: asyncpg.Record) -> JobRecord:
    values = dict(row)
    for name in ("payload", "progress", "result"):
        values[name] = _json(values[name])
    return JobRecord(**values)


def encode(value: Mapping[str, object] | msgspec.Struct | None) -> str | None:
    return None if value is None else msgspec.json.encode(value).decode()


async def enqueue(
    conn: asyncpg.Connection,
    actor: Actor,
    kind: str,
    payload: msgspec.Struct | Mapping[str, object] | None = None,
    *,
    run_after: dt.datetime | None = None,
    unique_key: str | None = None,
    max_attempts: int | None = None,
) -> JobRecord | None:
    """Queue a job in the caller's transaction (it is seen, and run, once that commits).

    The payload is checked against the kind's payload type now, so a job that could never
    run is refused here. With ``unique_key``, a job with that key already queued (at any
    time, in any status) means nothing is queued and None is returned.
    """
    found = kinds.get(kind)
    if found is None:
        raise LookupError(f"no job kind {kind!r}; known: {', '.join(kinds.names())}")
    data = msgspec.to_builtins(payload) if payload is not None else {}
    msgspec.convert(data, found.payload)  # raises msgspec.ValidationError naming the field
    row = await conn.fetchrow(
        "INSERT INTO job (kind, payload, max_attempts, run_after, queued_by, queued_role,"
        " request_id, unique_key)"
        " VALUES ($1, $2::jsonb, $3, COALESCE($4, now()), $5, $6, $7, $8)"
        f" ON CONFLICT (unique_key) DO NOTHING RETURNING {COLUMNS}",
        kind,
        encode(data),
        max_attempts or found.max_attempts,
        run_after,
        actor.name,
        actor.role,
        actor.request_id,
        unique_key,
    )
    if row is None:
        return None
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, kind)
    return record_of(row)


async def enqueue_own(
    conn: asyncpg.Connection,
    actor: Actor,
    kind: str,
    payload: msgspec.Struct,
    *,
    owner: str,
    lease_seconds: float,
) -> JobRecord:
    """Queue a job that the caller's own process runs at once (in the caller's transaction).

    It is written ``running`` under ``owner``'s lease (its first attempt), so no other worker
    claims it: its work needs what only this process has (an uploaded file on its disk). If
    the process dies, the lease expires and any worker takes the job back as any other.
    """
    found = kinds.get(kind)
    if found is None:
        raise LookupError(f"no job kind {kind!r}; known: {', '.join(kinds.names())}")
    data = msgspec.to_builtins(payload)
    msgspec.convert(data, found.payload)
    row = await conn.fetchrow(
        "INSERT INTO job (kind, payload, status, attempts, max_attempts, queued_by, queued_role,"
        " request_id, lease_owner, lease_expires_at, started_at)"
        " VALUES ($1, $2::jsonb, 'running', 1, $3, $4, $5, $6, $7,"
        " now() + make_interval(secs => $8), now())"
        f" RETURNING {COLUMNS}",
        kind,
        encode(data),
        found.max_attempts,
        actor.name,
        actor.role,
        actor.request_id,
        owner,
        float(lease_seconds),
    )
    assert row is not None
    return record_of(row)


_CLAIM = f"""
WITH next AS (
    SELECT id FROM job
    WHERE status = 'queued' AND run_after <= now()
    ORDER BY run_after, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE job j SET status = 'running', attempts = j.attempts + 1, lease_owner = $1,
    lease_expires_at = now() + make_interval(secs => $2), started_at = now(),
    updated_at = now(), backend_pid = NULL, backend_seen_at = NULL
FROM next WHERE j.id = next.id
RETURNING {", ".join("j." + c.strip() for c in COLUMNS.split(","))}
"""


async def claim(conn: asyncpg.Connection, owner: str, lease_seconds: float) -> JobRecord | None:
    """The oldest due job, now running under ``owner``'s lease; None when none is due."""
    row = await conn.fetchrow(_CLAIM, owner, float(lease_seconds))
    return None if row is None else record_of(row)


async def renew(
    conn: asyncpg.Connection, owner: str, lease_seconds: float, job_ids: list[int]
) -> dict[int, bool]:
    """Extend the leases ``owner`` still holds; returns them, each with whether someone
    asked it to stop. A job missing from the answer is no longer this owner's."""
    rows = await conn.fetch(
        "UPDATE job SET lease_expires_at = now() + make_interval(secs => $2)"
        " WHERE id = ANY($3::int[]) AND lease_owner = $1 AND status = 'running'"
        " RETURNING id, cancel_requested_at IS NOT NULL AS cancel",
        owner,
        float(lease_seconds),
        job_ids,
    )
    return {r["id"]: r["cancel"] for r in rows}


async def note_backend(conn: asyncpg.Connection, job_id: int, owner: str, pid: int) -> None:
    """Record the database session the job's work now runs on (ended if it is taken back)."""
    await conn.execute(
        "UPDATE job SET backend_pid = $3, backend_seen_at = now()"
        " WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        job_id,
        owner,
        pid,
    )


async def report_progress(
    conn: asyncpg.Connection, job_id: int, owner: str, progress: Mapping[str, object]
) -> None:
    await conn.execute(
        "UPDATE job SET progress = $3::jsonb, updated_at = now()"
        " WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        job_id,
        owner,
        encode(progress),
    )


async def fence(conn: asyncpg.Connection, job_id: int, owner: str) -> None:
    """Inside the work's own transaction: stop unless ``owner`` still holds a live lease
    and nobody asked the job to stop."""
    row = await conn.fetchrow(
        "SELECT lease_owner = $2 AND status = 'running' AND lease_expires_at > now() AS held,"
        " cancel_requested_at IS NOT NULL AS cancel FROM job WHERE id = $1",
        job_id,
        owner,
    )
    if row is None or not row["held"]:
        raise LeaseLost(f"job {job_id}: this worker no longer holds its lease")
    if row["cancel"]:
        raise JobCancelled(f"job {job_id} was cancelled")


async def finish(
    conn: asyncpg.Connection,
    job_id: int,
    owner: str,
    status: str,
    *,
    result: Mapping[str, object] | None = None,
    error: str | None = None,
) -> bool:
    """End a job this owner runs (succeeded, failed or cancelled); False if it was not its."""
    assert status in JobStatus.FINISHED
    row = await conn.fetchrow(
        "UPDATE job SET status = $3, result = $4::jsonb, error = $5, finished_at = now(),"
        " updated_at = now(), lease_owner = NULL, lease_expires_at = NULL, backend_pid = NULL"
        " WHERE id = $1 AND lease_owner = $2 AND status = 'running' RETURNING id",
        job_id,
        owner,
        status,
        encode(result),
        error,
    )
    if row is not None:
        await conn.execute("SELECT pg_notify($1, $2)", FINISHED_CHANNEL, f"{job_id} {status}")
    return row is not None


def backoff_seconds(attempt: int, base: float = 2.0, cap: float = 300.0) -> float:
    """Exponential back-off with jitter: about 2, 4, 8 ... seconds, at most ``cap``."""
    delay: float = min(cap, base * 2 ** max(0, attempt - 1))
    return delay * (0.75 + random.random() / 2)  # noqa: S311 - jitter, not a secret


async def retry(
    conn: asyncpg.Connection, job_id: int, owner: str, error: str, delay_seconds: float
) -> bool:
    """Queue a job this owner ran again after ``delay_seconds``, keeping the reason."""
    row = await conn.fetchrow(
        "UPDATE job SET status = 'queued', error = $3,"
        " run_after = now() + make_interval(secs => $4), updated_at = now(),"
        " lease_owner = NULL, lease_expires_at = NULL, backend_pid = NULL"
        " WHERE id = $1 AND lease_owner = $2 AND status = 'running' RETURNING id",
        job_id,
        owner,
        error,
        float(delay_seconds),
    )
    return row is not None


async def _end_orphaned_session(conn: asyncpg.Connection, job: JobRecord) -> bool:
    """End the session the interrupted attempt last ran its work on, if it is still there.

    Its client is gone or frozen: a statement it left running holds its locks until it
    ends, and a cancelled statement would leave the session idle in an aborted transaction,
    still holding them, until the client says ROLLBACK; so the session is terminated. Only
    the same session is ended: a pid the server has since given to a newer session (its
    ``backend_start`` is after the pid was recorded) is left alone. A role may end its own
    sessions without being a superuser.
    """
    if job.backend_pid is None or job.backend_seen_at is None:
        return False
    ended = await conn.fetchval(
        "SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a"
        " WHERE a.pid = $1 AND a.backend_start <= $2 AND a.usename = current_user"
        " AND a.pid <> pg_backend_pid()",
        job.backend_pid,
        job.backend_seen_at,
    )
    return bool(ended)


async def settle_interrupted(
    conn: asyncpg.Connection, job: JobRecord, interruption: Interruption
) -> str:
    """Decide what becomes of a job that came back unfinished; returns its new status.

    The kind's recovery hook runs first, in this transaction, so that what it cleans up and
    the job's new status commit together. A job someone asked to stop is cancelled; else
    the hook's answer holds; else it is queued again if its kind is safe to retry and it
    has attempts left (a release by a stopping worker does not count as an attempt).
    """
    kind = kinds.get(job.kind)
    decision: Recovery | None = None
    if kind is not None and kind.recover is not None:
        try:
            async with conn.transaction():  # a savepoint: a failing hook undoes only itself
                decision = await kind.recover(conn, job, interruption)
        except (asyncpg.PostgresError, FleetError, ValueError, LookupError) as exc:
            # A hook that always fails must not keep its job running for ever.
            log.error("job_recovery_hook_failed", job_id=job.id, kind=job.kind, exc_info=exc)
            decision = Recovery(False, f"{interruption.message}; its recovery failed ({exc})")
    released = interruption.reason == "released"
    if job.cancel_requested_at is not None:
        status, message = JobStatus.CANCELLED, f"{interruption.message}; it had been cancelled"
    elif decision is not None:
        status = JobStatus.QUEUED if decision.retry else JobStatus.FAILED
        message = decision.message
    elif kind is not None and kind.retry_safe and (released or job.attempts < job.max_attempts):
        status, message = JobStatus.QUEUED, f"{interruption.message}; queued again"
    else:
        why = (
            "its kind is not safe to run again"
            if kind is not None and not kind.retry_safe
            else (f"no attempts left ({job.attempts} of {job.max_attempts})")
        )
        status, message = JobStatus.FAILED, f"{interruption.message}; not retried: {why}"
    await conn.execute(
        "UPDATE job SET status = $2::text, error = $3, attempts = attempts - $4::int,"
        " run_after = CASE WHEN $2::text = 'queued' THEN now() ELSE run_after END,"
        " finished_at = CASE WHEN $2::text = 'queued' THEN NULL ELSE now() END,"
        " updated_at = now(),"
        " lease_owner = NULL, lease_expires_at = NULL, backend_pid = NULL"
        " WHERE id = $1",
        job.id,
        status,
        message,
        1 if released and status == JobStatus.QUEUED else 0,
    )
    await conn.execute("SELECT pg_notify($1, $2)", FINISHED_CHANNEL, f"{job.id} {status}")
    if status == JobStatus.QUEUED:
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, job.kind)
    return status


async def take_back_expired(
    conn: asyncpg.Connection, *, statement_seconds: float, limit: int = 20
) -> list[tuple[JobRecord, str]]:
    """Take back running jobs whose lease has expired (in the caller's transaction).

    Each: its orphaned session is ended, its kind's hook runs, it is settled. Rows another
    worker is taking back right now are skipped (``SKIP LOCKED``).
    """
    await conn.execute(f"SET LOCAL statement_timeout = '{int(statement_seconds * 1000)}ms'")
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM job WHERE status = 'running' AND lease_expires_at < now()"
        " ORDER BY lease_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    settled = []
    for row in rows:
        job = record_of(row)
        ended = await _end_orphaned_session(conn, job)
        expired = job.lease_expires_at.isoformat(timespec="seconds") if job.lease_expires_at else ""
        interruption = Interruption(
            "expired",
            job.lease_owner,
            f"interrupted: the worker stopped renewing its lease (expired {expired})",
        )
        status = await settle_interrupted(conn, job, interruption)
        log.warning(
            "job_taken_back",
            job_id=job.id,
            kind=job.kind,
            owner=job.lease_owner,
            attempts=job.attempts,
            session_ended=ended,
            status=status,
        )
        settled.append((job, status))
    return settled


async def release(conn: asyncpg.Connection, job_id: int, owner: str) -> str | None:
    """Give back a job this stopping worker runs; None if it was no longer its."""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM job WHERE id = $1 AND lease_owner = $2 AND status = 'running'"
        " FOR UPDATE",
        job_id,
        owner,
    )
    if row is None:
        return None
    interruption = Interruption("released", owner, "interrupted: its worker was stopping")
    return await settle_interrupted(conn, record_of(row), interruption)
