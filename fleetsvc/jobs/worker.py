"""The worker: claims jobs, runs each under a lease its heartbeat renews, takes back jobs
other workers abandoned, queues scheduled runs, and rides out the database going away.

One control connection of its own (not the pool's) carries the claims, heartbeats,
progress and outcomes, and LISTENs for newly queued jobs; the jobs' work runs on the
service's pool like any request. When the database goes away the worker backs off and
reconnects; the job in flight fails with the lost connection and is queued again if its
kind is safe to retry. A job whose lease this worker can no longer renew is abandoned
before the lease runs out, so that no job ever runs in two workers at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar

import asyncpg
import msgspec

from db.engine import get_engine, hooks_for_task, prepare_connection, transaction
from fleetsvc.jobs import kinds, queue, schedule
from fleetsvc.jobs.fence import WorkHooks
from fleetsvc.jobs.kinds import JobCancelled, JobContext, JobRecord, LeaseLost
from fleetsvc.jobs.outages import Backoff, DatabaseGone, database_gone
from fleetsvc.jobs.outcomes import Outcome, failure
from fleetsvc.logs import get_logger
from fleetsvc.settings import Schedule, Settings

log = get_logger("fleetsvc.jobs")
T = TypeVar("T")

# How often an idle worker looks for due jobs without being told (NOTIFY wakes it at once
# for new jobs; this finds delayed retries and jobs whose notification it missed).
POLL_SECONDS: Final = 5.0
# A worker abandons a job when this fraction of the lease has passed since its last
# successful renewal: before the lease expires and another worker may take the job.
ABANDON_AT: Final = 0.8


@dataclass(slots=True)
class _Running:
    job: JobRecord
    ctx: JobContext
    task: asyncio.Task[None] = field(repr=False)


class Worker:
    """Runs up to ``concurrency`` jobs at once until its ``stop`` event is set."""

    def __init__(
        self,
        settings: Settings,
        concurrency: int,
        *,
        schedules: Sequence[Schedule] | None = None,
        dsn: str | None = None,
    ) -> None:
        self.settings = settings
        self.concurrency = concurrency
        self.lease = float(settings.jobs.lease_seconds)
        self.stop_seconds = float(settings.jobs.stop_seconds)
        self.schedules = tuple(settings.jobs.schedules if schedules is None else schedules)
        self.timezone = settings.jobs.timezone
        self.owner = f"{socket.gethostname()[:60]}:{os.getpid()}:{os.urandom(3).hex()}"
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._running: dict[int, _Running] = {}
        # Whoever waits on a job's end in this process (``ends``), woken by its notification.
        self._ends: dict[int, set[asyncio.Event]] = {}
        self._releasing = False
        self._beats: asyncio.Task[None] | None = None

    # --- the control connection ---------------------------------------------------------

    async def _connect(self) -> asyncpg.Connection:
        dsn = self._dsn or str(get_engine().config["dsn"])
        conn = await asyncpg.connect(
            dsn, timeout=10, server_settings={"application_name": "fleetsvc-worker"}
        )
        await prepare_connection(conn)
        # Its statements are tiny: one stuck behind a lock must not outlast the lease.
        ms = int(max(1.0, self.lease / 3) * 1000)
        await conn.execute(f"SET statement_timeout = '{ms}ms'; SET lock_timeout = '{ms}ms'")
        await conn.add_listener(queue.CHANNEL, self._notified)
        await conn.add_listener(queue.FINISHED_CHANNEL, self._ended)
        return conn

    def _notified(self, *_: object) -> None:
        self._wake.set()

    def _ended(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        job_id = str(payload).split(" ", 1)[0]
        if job_id.isdigit():
            for event in self._ends.get(int(job_id), ()):
                event.set()

    @contextlib.asynccontextmanager
    async def ends(self, job_id: int) -> AsyncIterator[asyncio.Event]:
        """An event set when job ``job_id``'s end (or its return to the queue) is notified
        (queue.FINISHED_CHANNEL), which the control connection LISTENs for from here on:
        for whoever waits on a job that another request or process runs. Notifications
        sent while the database is away are lost: the waiter still looks now and then."""
        event = asyncio.Event()
        self._ends.setdefault(job_id, set()).add(event)
        try:
            with contextlib.suppress(DatabaseGone):
                await self.control(_listening)
            yield event
        finally:
            waiting = self._ends.get(job_id, set())
            waiting.discard(event)
            if not waiting:
                self._ends.pop(job_id, None)

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def control(self, call: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``call`` on the control connection, connecting first if need be."""
        async with self._lock:
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await self._connect()
                return await call(self._conn)
            except Exception as exc:
                if not database_gone(exc):
                    raise
                await self._drop_connection()
                raise DatabaseGone(f"{type(exc).__name__}: {exc}"[:200]) from exc

    async def _in_transaction(self, call: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``call`` in a transaction on the pool; a lost database is DatabaseGone."""
        try:
            async with transaction() as conn:
                return await call(conn)
        except Exception as exc:
            if database_gone(exc):
                raise DatabaseGone(f"{type(exc).__name__}: {exc}"[:200]) from exc
            raise

    # --- jobs a process queues for itself ---------------------------------------------------

    def run_own(self, job: JobRecord, granted: float) -> asyncio.Task[None]:
        """Run ``job``, queued by this process under this worker's lease
        (``queue.enqueue_own``, the lease granted at ``time.monotonic()`` ``granted``), with
        heartbeats while any such job runs; the task ends when the job's outcome is written.
        Jobs whose lease expired are taken back first: this process may be the only one
        running jobs (a CLI, or an API-only replica)."""
        self._start(job, granted)
        if self._beats is None or self._beats.done():
            self._beats = asyncio.create_task(self._heartbeats(while_running=True))
        return self._running[job.id].task

    async def close(self) -> None:
        """Close the control connection (a command that ran its own jobs is ending)."""
        await self._drop_connection()

    async def stop_own(self) -> None:
        """The process is stopping: let the jobs it queued for itself finish for
        FLEETSVC_JOB_STOP_SECONDS, then release the rest (their kind's hook runs)."""
        await self._drain()
        if self._beats is not None:
            self._beats.cancel()
        await self._drop_connection()

    async def take_back(self) -> None:
        """Take back jobs whose lease expired (as the claim loop does now and then)."""
        with contextlib.suppress(DatabaseGone):
            await self._take_back()

    # --- the loop ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        log.info(
            "worker_started",
            owner=self.owner,
            concurrency=self.concurrency,
            lease_s=self.lease,
            kinds=kinds.names(),
            schedules=[s.kind for s in self.schedules],
        )
        helpers = [asyncio.create_task(self._heartbeats())]
        if self.schedules:
            helpers.append(asyncio.create_task(self._schedule_loop()))
        try:
            await self._claim_loop(stop)
        finally:
            await self._drain()
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self._drop_connection()
            log.info("worker_stopped", owner=self.owner)

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        backoff = Backoff()
        next_take_back = 0.0
        while not stop.is_set():
            self._wake.clear()
            wait = POLL_SECONDS
            try:
                if time.monotonic() >= next_take_back:
                    next_take_back = time.monotonic() + max(1.0, self.lease / 2)
                    await self._take_back()
                while len(self._running) < self.concurrency and not stop.is_set():
                    sent = time.monotonic()
                    job = await self.control(lambda c: queue.claim(c, self.owner, self.lease))
                    if job is None:
                        break
                    self._start(job, sent)
                backoff.reset()
                wait = min(POLL_SECONDS, max(0.05, next_take_back - time.monotonic()))
            except DatabaseGone as exc:
                wait = backoff.next()
                log.warning(
                    "worker_database_unreachable", error=str(exc), retry_in_s=round(wait, 2)
                )
            except Exception as exc:  # a bug of ours must not stop the worker
                wait = backoff.next()
                log.error("worker_error", exc_info=exc, retry_in_s=round(wait, 2))
            await _wait_any(stop, self._wake, wait)

    async def _take_back(self) -> None:
        """Take back expired jobs; a failure here is logged and never stops the claiming."""
        statement_seconds = max(5.0, self.lease)
        try:
            settled = await self._in_transaction(
                lambda c: queue.take_back_expired(c, statement_seconds=statement_seconds)
            )
        except DatabaseGone:
            raise
        except Exception as exc:
            log.error("job_take_back_error", exc_info=exc)
            return
        if settled:
            self._wake.set()

    def _start(self, job: JobRecord, sent: float) -> None:
        async def report(progress: Mapping[str, object]) -> None:
            await self.control(lambda c: queue.report_progress(c, job.id, self.owner, progress))

        ctx = JobContext(job, report, sent + self.lease * ABANDON_AT, self.settings)
        task = asyncio.create_task(self._execute(job, ctx), name=f"job-{job.id}")
        self._running[job.id] = _Running(job, ctx, task)
        task.add_done_callback(lambda t: self._done(job.id, t))

    def _done(self, job_id: int, task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("job_runner_error", job_id=job_id, exc_info=task.exception())

    # --- one job ------------------------------------------------------------------------------

    async def _execute(self, job: JobRecord, ctx: JobContext) -> None:
        log.info("job_started", job_id=job.id, kind=job.kind, attempt=job.attempts)
        started = time.monotonic()
        outcome = await self._outcome(job, ctx)
        if outcome is None or not await self._record(job, ctx, outcome):
            # Another worker has taken the job back (or will): nothing more is written here.
            log.warning("job_lease_lost", job_id=job.id, kind=job.kind, owner=self.owner)
            return
        log.info(
            "job_finished",
            job_id=job.id,
            kind=job.kind,
            attempt=job.attempts,
            outcome=outcome.status,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )

    async def _outcome(self, job: JobRecord, ctx: JobContext) -> Outcome | None:
        """Run the job's kind; None when the lease was lost (nothing may be written)."""
        kind = kinds.get(job.kind)
        if kind is None:
            known = ", ".join(kinds.names())
            return Outcome(
                "failed", error=f"unknown job kind {job.kind!r}; this worker runs {known}"
            )
        try:
            payload = msgspec.convert(job.payload, kind.payload)
        except msgspec.ValidationError as exc:
            return Outcome("failed", error=f"the payload is not valid for a {kind.name} job: {exc}")
        try:
            with hooks_for_task(WorkHooks(ctx, kind, self.owner, self.control)):
                result = await kind.run(ctx, payload)
        except JobCancelled:
            return Outcome("cancelled", error="cancelled: it stopped at the caller's request")
        except LeaseLost:
            return None
        except asyncio.CancelledError:
            if ctx.lost:
                return None
            if self._releasing:
                return Outcome("released")
            raise
        except Exception as exc:
            return None if ctx.lost else failure(kind, job, exc)
        return Outcome("succeeded", result=dict(result) if result is not None else None)

    async def _write_outcome(self, job_id: int, outcome: Outcome) -> bool:
        """Write the outcome for a job this worker holds; False if it no longer does."""
        if outcome.status == "released":
            released = await self._in_transaction(lambda c: queue.release(c, job_id, self.owner))
            return released is not None
        if outcome.status == "retry":
            error = outcome.error or ""
            return await self.control(
                lambda c: queue.retry(c, job_id, self.owner, error, outcome.delay)
            )
        status = outcome.status
        return await self.control(
            lambda c: queue.finish(
                c, job_id, self.owner, status, result=outcome.result, error=outcome.error
            )
        )

    async def _record(self, job: JobRecord, ctx: JobContext, outcome: Outcome) -> bool:
        """Write the outcome, retrying while the database is away and the lease still holds;
        after that the job is taken back (and settled) by whichever worker comes first.
        False when it was not written (the job is no longer this worker's)."""
        backoff = Backoff(first=0.2)
        while True:
            try:
                return await self._write_outcome(job.id, outcome)
            except DatabaseGone:
                left = ctx.deadline - time.monotonic()
                if ctx.lost or left <= 0:
                    return False
                await asyncio.sleep(min(backoff.next(), left))

    # --- leases --------------------------------------------------------------------------------

    async def _heartbeats(self, *, while_running: bool = False) -> None:
        while not while_running or self._running:
            await asyncio.sleep(self.lease / 3)
            ids = list(self._running)
            if ids:
                await self._renew(ids)
            for running in list(self._running.values()):
                if not running.ctx.lost and time.monotonic() > running.ctx.deadline:
                    log.warning("job_abandoned", job_id=running.job.id, reason="lease lapsed")
                    self._abandon(running)

    async def _renew(self, ids: list[int]) -> None:
        sent = time.monotonic()
        try:
            held = await self.control(lambda c: queue.renew(c, self.owner, self.lease, ids))
        except DatabaseGone:
            return
        except Exception as exc:
            log.error("job_heartbeat_error", exc_info=exc)
            return
        for job_id in ids:
            running = self._running.get(job_id)
            if running is None:
                continue
            if job_id not in held:
                log.warning("job_lease_taken", job_id=job_id)
                self._abandon(running)
                continue
            running.ctx.deadline = sent + self.lease * ABANDON_AT
            if held[job_id]:
                running.ctx.cancel_requested = True

    def _abandon(self, running: _Running) -> None:
        running.ctx.lost = True
        running.task.cancel()

    async def _drain(self) -> None:
        """Stopping: let the jobs in flight finish for up to stop_seconds, then release them."""
        tasks = [r.task for r in self._running.values()]
        if not tasks:
            return
        log.info("worker_stopping", jobs_in_flight=len(tasks), wait_s=self.stop_seconds)
        if self.stop_seconds > 0:
            await asyncio.wait(tasks, timeout=self.stop_seconds)
        left = [r.task for r in self._running.values() if not r.task.done()]
        if left:
            self._releasing = True
            for task in left:
                task.cancel()
            await asyncio.wait(left, timeout=max(5.0, self.lease))

    # --- schedules -----------------------------------------------------------------------------

    async def _schedule_loop(self) -> None:
        while True:
            wait = 5.0
            try:
                queued = await self._in_transaction(
                    lambda c: schedule.queue_due(c, self.schedules, self.timezone)
                )
                log.debug("schedules_checked", queued=len(queued))
                wait = schedule.seconds_until_next(self.schedules, self.timezone)
            except DatabaseGone:
                pass
            except Exception as exc:
                log.error("schedule_error", exc_info=exc)
            await asyncio.sleep(wait)


async def _listening(conn: asyncpg.Connection) -> None:
    """Nothing: ``control`` connects (and LISTENs) first if need be."""


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


_OWN: dict[int, Worker] = {}


def own_worker(settings: Settings) -> Worker:
    """This process's worker for the jobs it queues for itself (one per process)."""
    pid = os.getpid()
    if pid not in _OWN:
        _OWN.clear()
        _OWN[pid] = Worker(settings, 0, schedules=())
    return _OWN[pid]


async def run_workers(settings: Settings, concurrency: int, stop: asyncio.Event) -> None:
    """Load the job kinds and run one worker of ``concurrency`` slots until ``stop``."""
    kinds.load_kinds(settings.jobs.plugins)
    await Worker(settings, concurrency).run(stop)
