"""The lease fence around each transaction a job's work opens: inside that very transaction,
check that this worker still holds the job's lease and nobody asked the job to stop, and note
the database session the work runs on (so a worker taking the job back can end it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from fleetsvc.jobs import queue
from fleetsvc.jobs.kinds import JobCancelled, JobContext, JobKind, LeaseLost

T = TypeVar("T")
# Runs a call on the worker's control connection (Worker.control).
Control = Callable[[Callable[[asyncpg.Connection], Awaitable[T]]], Awaitable[T]]


class WorkHooks:
    """The transaction hooks (db.engine.hooks_for_task) of one job's work.

    A stop is raised once: the kind's own clean-up after it (marking its run failed) runs.
    """

    def __init__(
        self, ctx: JobContext, kind: JobKind[Any], owner: str, control: Control[None]
    ) -> None:
        self.ctx, self.kind, self.owner, self.control = ctx, kind, owner, control
        self.stopped = False
        self.noted_pid: int | None = None

    async def _fence(self, conn: asyncpg.Connection) -> None:
        if self.stopped:
            return
        try:
            self.ctx.check()
            await queue.fence(conn, self.ctx.job.id, self.owner)
        except (JobCancelled, LeaseLost) as exc:
            self.stopped = True
            if isinstance(exc, LeaseLost):
                self.ctx.lost = True
            raise

    async def begin(self, conn: asyncpg.Connection) -> None:
        if self.kind.statement_timeout is not None:
            ms = int(self.kind.statement_timeout * 1000)
            await conn.execute(f"SET LOCAL statement_timeout = '{ms}ms'")
        await self._fence(conn)
        pid = conn.get_server_pid()
        if pid != self.noted_pid:
            job_id, owner = self.ctx.job.id, self.owner
            await self.control(lambda c: queue.note_backend(c, job_id, owner, pid))
            self.noted_pid = pid

    async def before_commit(self, conn: asyncpg.Connection) -> None:
        await self._fence(conn)
