"""Commits as jobs: an upload committed at once, or an import previewed earlier, committed by
a job (kind ``import.commit``) that the process which received the request runs itself.

The process that queues the job runs it at once under its own lease (``queue.enqueue_own``):
an uploaded file is on its disk, and nowhere else. The request (or command) waits for it as
long as it likes; the job goes on if the client leaves, and ``GET /imports/{id}`` shows its
status, rows read so far and phase. If the process dies, its lease expires, a worker takes
the job back, and the recovery hook marks the import ``failed`` ("interrupted …"), removes
its staged rows and ends the session the work ran on: nothing was applied (the apply is one
transaction), and the file can be uploaded again. An import has at most one commit job
queued or running: a second commit answers with the same job.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import asyncpg
import msgspec

from db.engine import connection, is_outage, transaction
from fleetsvc.auth import Actor
from fleetsvc.errors import (
    BadRequest,
    Conflict,
    FieldProblem,
    FleetError,
    NotFound,
    Unavailable,
    ValidationFailed,
)
from fleetsvc.imports import apply_deliveries, repeat, run
from fleetsvc.imports.evaluate import Phase
from fleetsvc.imports.queries import ENTITY, get_import
from fleetsvc.imports.summary import DeliveryImport, StagedCounts
from fleetsvc.jobs import queue
from fleetsvc.jobs.kinds import (
    Interruption,
    JobCancelled,
    JobContext,
    JobKind,
    JobRecord,
    JobStatus,
    Recovery,
    Result,
    register,
)
from fleetsvc.jobs.outages import DatabaseGone
from fleetsvc.jobs.worker import own_worker
from fleetsvc.records import check_id
from fleetsvc.settings import get_settings
from fleetsvc.vocabulary import ImportStatus, Role

KIND: Final = "import.commit"
INTERRUPTED: Final = "interrupted: the worker stopped; nothing was applied"
CANCELLED: Final = "cancelled: the commit stopped at the caller's request; nothing was applied"
OUTAGE: Final = "the database connection was lost while the import ran; nothing was applied"
CRASHED: Final = "the import failed while it was being applied; nothing was applied"
# How often a request waiting on a commit job that it does not run looks at it, besides
# being woken by the job's end (queue.FINISHED_CHANNEL).
LOOK_SECONDS: Final = 1.0


class CommitPayload(msgspec.Struct, forbid_unknown_fields=True):
    import_id: int
    allow_partial: bool = False
    # An upload's file on the disk of the process that queued the job (None: the import's
    # rows are staged already, from its preview).
    path: str | None = None
    location: str | None = None
    remove_file: bool = True  # the file is the job's (an upload's), not a command's own


# Told, in the process that queued a job, as its commit goes: (phase, rows read so far, the
# share of the file read or None). The CLI draws its progress bar from it.
Watcher = Callable[[str, int, float | None], None]
_watchers: dict[int, Watcher] = {}


@dataclass(frozen=True, slots=True)
class Started:
    """A commit asked for: its import and job, and the job's task when this process runs it
    (None when the import was committed already, or another request's job runs)."""

    import_id: int
    job_id: int | None
    task: asyncio.Task[None] | None = None


# --- queueing -------------------------------------------------------------------------------


async def start_upload(
    actor: Actor,
    *,
    path: Path,
    file_name: str,
    profile_name: str,
    allow_partial: bool = False,
    extra_profile_dirs: tuple[Path, ...] = (),
    location: str | None = None,
    watcher: Watcher | None = None,
    remove_file: bool = True,
    digest: tuple[str, int] | None = None,
) -> Started:
    """Commit an uploaded file as a job. With ``remove_file`` the file becomes the job's: it
    is removed when the job ends (unless no job was needed: a file committed before is
    answered at once, and the caller still owns it). Bad input is refused here, before any
    job exists."""
    checked = await run.check_file(
        path,
        file_name,
        profile_name,
        extra_profile_dirs=extra_profile_dirs,
        location=location,
        digest=digest,
    )
    async with transaction() as conn:  # a file committed before: recognised by its digest
        again = await repeat.commit_again(
            conn,
            actor,
            profile=checked.profile,
            file_name=checked.file_name,
            sha256=checked.sha256,
            size=checked.size,
            allow_partial=allow_partial,
        )
    if again is not None:
        return Started(again, None)
    worker = own_worker(get_settings())
    await worker.take_back()
    granted = time.monotonic()
    async with transaction() as conn:
        import_id = await run.create_checked(conn, actor, checked)
        payload = CommitPayload(import_id, allow_partial, str(path), location, remove_file)
        job = await _queue(conn, actor, import_id, payload, worker.owner, worker.lease)
    _CHECKED[job.id] = checked
    if watcher is not None:
        _watchers[job.id] = watcher
    return Started(import_id, job.id, worker.run_own(job, granted))


# The checked files of the upload jobs this process runs (so the job does not check again).
_CHECKED: dict[int, run.CheckedFile] = {}


async def start_commit(actor: Actor, import_id: int, *, allow_partial: bool) -> Started:
    """Commit a previewed (or rejected) import as a job; while one is queued or running for
    it, that one. A committed import is answered as it is; one that cannot be committed is
    refused here (409), before any job exists."""
    check_id(ENTITY, import_id)
    worker = own_worker(get_settings())
    await worker.take_back()
    granted = time.monotonic()
    async with transaction() as conn:
        row = await _commit_job_of(conn, import_id, lock=False)
        if row["job_status"] in (JobStatus.QUEUED, JobStatus.RUNNING):
            return Started(import_id, row["job_id"])
        try:
            # NOWAIT: a commit running holds the import's row for as long as it runs. In a
            # savepoint: the refusal aborts it, not the transaction the answer is read in.
            async with conn.transaction():
                row = await _commit_job_of(conn, import_id, lock=True)
        except asyncpg.LockNotAvailableError:
            row = await _commit_job_of(conn, import_id, lock=False)
            if row["job_status"] in (JobStatus.QUEUED, JobStatus.RUNNING):
                return Started(import_id, row["job_id"])
            raise Conflict(f"import {import_id} is being committed; try again") from None
        status = row["status"]
        if status == ImportStatus.COMMITTED:
            return Started(import_id, None)
        if status not in (ImportStatus.PREVIEWED, ImportStatus.REJECTED):
            raise Conflict(f"import {import_id} is {status}; it cannot be committed")
        staged = await conn.fetchval(
            "SELECT count(*) FROM import_staged_row WHERE import_id = $1", import_id
        )
        if staged != msgspec.json.decode(row["counts"], type=StagedCounts).rows:
            raise Conflict(
                f"the rows of import {import_id} are no longer staged (a preview is kept "
                f"for {get_settings().preview_days} days, and a database restart clears "
                "previews); upload the file again"
            )
        payload = CommitPayload(import_id, allow_partial)
        job = await _queue(conn, actor, import_id, payload, worker.owner, worker.lease)
    return Started(import_id, job.id, worker.run_own(job, granted))


async def _commit_job_of(conn: asyncpg.Connection, import_id: int, *, lock: bool) -> asyncpg.Record:
    """The import's status and counts, and its latest commit job and that job's status."""
    row = await conn.fetchrow(
        "SELECT d.status, d.counts, d.job_id, j.status AS job_status"
        " FROM delivery_import d LEFT JOIN job j ON j.id = d.job_id"
        f" WHERE d.id = $1{' FOR UPDATE OF d NOWAIT' if lock else ''}",
        import_id,
    )
    if row is None:
        raise NotFound(ENTITY, import_id)
    return row


async def _queue(
    conn: asyncpg.Connection,
    actor: Actor,
    import_id: int,
    payload: CommitPayload,
    owner: str,
    lease: float,
) -> JobRecord:
    job = await queue.enqueue_own(conn, actor, KIND, payload, owner=owner, lease_seconds=lease)
    await conn.execute("UPDATE delivery_import SET job_id = $2 WHERE id = $1", import_id, job.id)
    return job


# --- waiting --------------------------------------------------------------------------------


async def finished(started: Started, within: float | None) -> DeliveryImport | None:
    """The import once its commit has ended, waiting up to ``within`` seconds (None: until
    it ends): None if it has not; the error a commit in the request would have raised if it
    failed."""
    if started.job_id is not None:
        job = await _wait(started, within)
        if job.status not in JobStatus.FINISHED:
            return None
        _raise_failure(job)
    async with connection() as conn:
        return await get_import(conn, started.import_id)


async def _wait(started: Started, within: float | None) -> JobRecord:
    assert started.job_id is not None
    if started.task is not None:
        # asyncio.wait neither cancels the job's task on a timeout nor when the request is.
        await asyncio.wait([started.task], timeout=within)
        return await _job(started.job_id)
    # Another request's job, or another process's: its end is notified, and looked for
    # every LOOK_SECONDS too (a notification sent while the database was away is lost).
    deadline = None if within is None else time.monotonic() + within
    async with own_worker(get_settings()).ends(started.job_id) as ended:
        while True:
            job = await _job(started.job_id)
            left = LOOK_SECONDS if deadline is None else deadline - time.monotonic()
            if job.status in JobStatus.FINISHED or left <= 0:
                return job
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), min(LOOK_SECONDS, left))
            ended.clear()


async def _job(job_id: int) -> JobRecord:
    async with connection() as conn:
        row = await conn.fetchrow(f"SELECT {queue.COLUMNS} FROM job WHERE id = $1", job_id)
    assert row is not None
    return queue.record_of(row)


class Problem(msgspec.Struct):
    """A domain error the job's work raised, kept in its result for whoever waits on it."""

    kind: str
    message: str
    field: str | None = None


_PROBLEMS: Final[dict[str, Callable[[Problem], FleetError]]] = {
    "validation": lambda p: ValidationFailed(
        [FieldProblem(p.field or "file", p.message)], p.message
    ),
    "conflict": lambda p: Conflict(p.message),
    "bad_request": lambda p: BadRequest(p.message),
}


def _problem_of(exc: FleetError) -> Problem:
    if isinstance(exc, ValidationFailed):
        field = exc.problems[0].field if exc.problems else None
        return Problem("validation", exc.message, field)
    if isinstance(exc, BadRequest):
        return Problem("bad_request", exc.message)
    return Problem("conflict", exc.message)


def _raise_failure(job: JobRecord) -> None:
    raw = (job.result or {}).get("problem")
    if job.status == JobStatus.SUCCEEDED and raw is None:
        return
    if raw is not None:
        problem = msgspec.convert(raw, Problem)
        raise _PROBLEMS.get(problem.kind, _PROBLEMS["conflict"])(problem)
    if job.status == JobStatus.CANCELLED:
        raise Conflict(f"the commit (job {job.id}) was cancelled; nothing was applied")
    raise Unavailable(f"the commit (job {job.id}) failed: {job.error}")


# --- the job --------------------------------------------------------------------------------


async def commit_job(ctx: JobContext, payload: CommitPayload) -> Result:
    """Stage the uploaded file (if any) and commit the import, in one transaction."""
    import_id = payload.import_id
    upload = payload.path is not None
    tell = _Teller(ctx, _watchers.pop(ctx.job.id, None))
    try:
        if payload.path is not None:
            checked = _CHECKED.pop(ctx.job.id, None)
            if checked is None:  # only the process that received the file can run its job
                raise Conflict(f"the file of import {import_id} is not here; upload it again")
            staged = await run.stage_checked(import_id, checked, tell.rows)
            tell.phase("classifying")
            async with transaction() as conn:
                await run.apply_staged_file(
                    conn,
                    ctx.actor,
                    staged,
                    allow_partial=payload.allow_partial,
                    on_phase=tell.phase,
                )
        else:
            async with transaction() as conn:
                await run.commit_staged(
                    conn,
                    ctx.actor,
                    import_id,
                    allow_partial=payload.allow_partial,
                    on_phase=tell.phase,
                )
    except FleetError as exc:
        # The user's to fix (a file unreadable part-way, an import no longer committable):
        # the import says why, and whoever waits on the job is answered with the error.
        if upload:
            await _record_failure(ctx, import_id, exc.message)
        return {"import_id": import_id, "problem": msgspec.to_builtins(_problem_of(exc))}
    except JobCancelled:
        if upload:
            await _record_failure(ctx, import_id, CANCELLED)
        raise
    except BaseException as exc:
        if not ctx.lost and not isinstance(exc, asyncio.CancelledError):
            await _record_failure(ctx, import_id, OUTAGE if _outage(exc) else CRASHED)
        raise
    finally:
        if payload.path is not None and payload.remove_file:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(Path(payload.path).unlink)
    async with connection() as conn:
        await apply_deliveries.summarise_history(conn)
        status = await conn.fetchval("SELECT status FROM delivery_import WHERE id = $1", import_id)
    return {"import_id": import_id, "status": status}


def _outage(exc: BaseException) -> bool:
    return is_outage(exc) or isinstance(exc, DatabaseGone)


class _Teller:
    """Passes the commit's phase and rows read to the job's progress (and to a watcher in
    this process); a report is sent in the background, the latest one winning."""

    def __init__(self, ctx: JobContext, watcher: Watcher | None) -> None:
        self.ctx, self.watcher = ctx, watcher
        self.current: tuple[str, int] = ("reading", 0)
        self.share: float | None = None
        self._sending: asyncio.Task[None] | None = None
        self._dirty = False

    def rows(self, rows: int, share: float | None) -> None:
        self.share = share
        self._tell(("reading", rows))

    def phase(self, phase: Phase | str) -> None:
        self._tell((phase, self.current[1]))

    def _tell(self, current: tuple[str, int]) -> None:
        self.current = current
        if self.watcher is not None:
            self.watcher(current[0], current[1], self.share)
        self._dirty = True
        if self._sending is None or self._sending.done():
            self._sending = asyncio.create_task(self._send())

    async def _send(self) -> None:
        while self._dirty:
            self._dirty = False
            phase, rows = self.current
            with contextlib.suppress(Exception):  # a stop is raised by the next fence anyway
                await self.ctx.progress(phase, rows=rows)


async def _record_failure(ctx: JobContext, import_id: int, message: str) -> None:
    """Mark the upload's import failed; while the database is away, try again until this
    worker's lease may have lapsed (then the worker taking the job back does it)."""
    delay = 0.2
    while not ctx.lost and time.monotonic() < ctx.deadline:
        try:
            async with transaction() as conn:
                await fail_import(conn, import_id, ctx.job.id, message)
            return
        except Exception as exc:
            if not _outage(exc):
                raise
        await asyncio.sleep(min(delay, max(0.0, ctx.deadline - time.monotonic())))
        delay = min(delay * 2, 2.0)


async def fail_import(
    conn: asyncpg.Connection, import_id: int, job_id: int, message: str
) -> str | None:
    """An import whose commit job ``job_id`` stopped unfinished: ``failed`` with ``message``
    and its staged rows removed, unless it was committed; returns its status then."""
    await conn.execute(
        "DELETE FROM import_staged_row s USING delivery_import d WHERE s.import_id = $1"
        " AND d.id = s.import_id AND d.job_id = $2 AND d.status <> 'committed'",
        import_id,
        job_id,
    )
    status: str | None = await conn.fetchval(
        "UPDATE delivery_import SET status = 'failed',"
        " summary = summary || jsonb_build_object('message', $3::text)"
        " WHERE id = $1 AND job_id = $2 AND status IN ('running', 'previewed', 'rejected')"
        " RETURNING status",
        import_id,
        job_id,
        message,
    )
    return status or await conn.fetchval(
        "SELECT status FROM delivery_import WHERE id = $1", import_id
    )


async def recover_commit(
    conn: asyncpg.Connection, job: JobRecord, interruption: Interruption
) -> Recovery:
    """A commit job taken back unfinished: its import failed, never run again (its file was
    on the dead process's disk; the apply is one transaction, so nothing was applied)."""
    import_id = int(job.payload.get("import_id", 0))  # type: ignore[call-overload]
    status = await fail_import(conn, import_id, job.id, INTERRUPTED)
    if status == ImportStatus.COMMITTED:
        return Recovery(False, f"{interruption.message}; the import had been committed")
    return Recovery(False, f"{INTERRUPTED} (import {import_id}: {interruption.message})")


register(
    JobKind(
        KIND,
        CommitPayload,
        commit_job,
        "Commit a delivery import: an uploaded file, or an import previewed earlier",
        roles=frozenset({Role.STORES}),
        max_attempts=1,
        retry_safe=False,
        recover=recover_commit,
    )
)
