"""What the job tests share: queueing a job, waiting for it, running a worker in process."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from db.engine import connection, transaction
from fleetsvc.auth import Actor
from fleetsvc.jobs import queue
from fleetsvc.jobs.kinds import JobRecord
from fleetsvc.jobs.worker import Worker
from fleetsvc.settings import Settings, get_settings
from tests.fleetsvc.jobs import kinds as test_kinds

TESTER = Actor("tests", "admin")
PLUGIN = test_kinds.__name__


async def enqueue(kind: str, payload: dict[str, Any], actor: Actor = TESTER, **kw: Any) -> int:
    async with transaction() as conn:
        job = await queue.enqueue(conn, actor, kind, payload, **kw)
    assert job is not None
    return job.id


async def fetch(job_id: int) -> JobRecord:
    async with connection() as conn:
        row = await conn.fetchrow(f"SELECT {queue.COLUMNS} FROM job WHERE id = $1", job_id)
    assert row is not None
    return queue.record_of(row)


async def wait_for(job_id: int, *statuses: str, within: float = 90.0) -> JobRecord:
    """The job once it is in one of ``statuses`` (a generous bound: the machine is noisy)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        job = await fetch(job_id)
        if job.status in statuses:
            return job
        if loop.time() > deadline:
            raise AssertionError(f"job {job_id} is still {job.status} (waited for {statuses})")
        await asyncio.sleep(0.05)


async def wait_until(query: str, *args: Any, within: float = 90.0) -> Any:
    """The first true value ``query`` returns, polled."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        async with connection() as conn:
            value = await conn.fetchval(query, *args)
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"still false after {within} s: {query}")
        await asyncio.sleep(0.05)


def job_settings(**changes: Any) -> Settings:
    base = get_settings()
    jobs = dataclasses.replace(base.jobs, **{"lease_seconds": 2, "schedules": (), **changes})
    return dataclasses.replace(base, jobs=jobs)


@asynccontextmanager
async def running_worker(concurrency: int = 1, **changes: Any) -> AsyncIterator[Worker]:
    """A worker in this process (on the tests' pool) until the block ends."""
    await test_kinds.ensure_tables()
    worker = Worker(job_settings(**changes), concurrency)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, 120)
