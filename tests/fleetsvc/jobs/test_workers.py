"""Real `fleetsvc worker` processes sharing the test database: every job runs exactly once;
a worker killed (or frozen) mid-job has its job taken back by the other after its lease,
with the kind's recovery hook run and the orphaned statement ended; SIGTERM lets the job
in flight finish; `fleetsvc serve` runs a worker beside the API."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator

import httpx
import pytest

from db.engine import connection, transaction
from fleetsvc.jobs import queue
from tests.fleetsvc.jobs import kinds as test_kinds
from tests.fleetsvc.jobs.helpers import TESTER, enqueue, fetch, wait_for, wait_until
from tests.fleetsvc.jobs.processes import WorkerProcess
from tests.test_serve import _free_port

pytestmark = pytest.mark.usefixtures("app")


@pytest.fixture
async def workers(database_url: str) -> AsyncIterator[list[WorkerProcess]]:
    """Two worker processes, each running one job at a time, leases of 2 s."""
    await test_kinds.ensure_tables()
    started = [WorkerProcess(database_url), WorkerProcess(database_url)]
    try:
        await asyncio.gather(*(w.started() for w in started))
        yield started
    finally:
        for w in started:
            w.close()


async def _runs(job_ids: list[int]) -> list[tuple[int, int, str]]:
    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT job_id, attempt, owner FROM job_test_run WHERE job_id = ANY($1::int[])"
            " ORDER BY at",
            job_ids,
        )
    return [(r["job_id"], r["attempt"], r["owner"]) for r in rows]


async def test_two_workers_run_every_job_exactly_once(workers: list[WorkerProcess]) -> None:
    async with transaction() as conn:
        jobs = [
            await queue.enqueue(conn, TESTER, "test.record", {"token": str(i), "pause": 0.02})
            for i in range(200)
        ]
    ids = [j.id for j in jobs if j is not None]
    await wait_until(
        "SELECT count(*) = $2 FROM job WHERE id = ANY($1::int[]) AND status = 'succeeded'",
        ids,
        len(ids),
    )
    runs = await _runs(ids)
    assert sorted(job_id for job_id, _, _ in runs) == sorted(ids)  # each ran, and once
    assert {attempt for _, attempt, _ in runs} == {1}
    by_owner = {w.owner: sum(1 for _, _, o in runs if o == w.owner) for w in workers}
    assert all(by_owner.values()), by_owner  # both took their share
    assert sum(by_owner.values()) == len(ids)
    for w in workers:
        w.signal(signal.SIGTERM)
    assert [await w.stopped() for w in workers] == [0, 0]


async def _running_on_one_of(workers: list[WorkerProcess], job_id: int) -> tuple[int, int]:
    """Wait until the job's statement runs; (index of the worker running it, its pid)."""
    pid = await wait_until(
        "SELECT backend_pid FROM job WHERE id = $1 AND status = 'running'"
        " AND backend_pid IS NOT NULL",
        job_id,
    )
    await wait_until(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1"
        " AND query LIKE 'SELECT pg_sleep%' AND state = 'active')",
        pid,
    )
    owner = (await fetch(job_id)).lease_owner
    return next(i for i, w in enumerate(workers) if w.owner == owner), int(pid)


async def _session_exists(pid: int) -> bool:
    async with connection() as conn:
        return bool(
            await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)
        )


async def test_a_killed_workers_job_is_taken_back_by_the_other(
    workers: list[WorkerProcess],
) -> None:
    job_id = await enqueue("test.sleep", {"seconds": 600})
    victim, pid = await _running_on_one_of(workers, job_id)
    survivor = workers[1 - victim]
    workers[victim].signal(signal.SIGKILL)
    job = await wait_for(job_id, "succeeded", "failed")
    assert job.status == "succeeded" and job.attempts == 2
    assert await _runs([job_id]) == [
        (job_id, 1, workers[victim].owner),
        (job_id, 2, survivor.owner),
    ]
    async with connection() as conn:
        hook = await conn.fetch(
            "SELECT reason, owner, attempts, at >= lease_expires_at AS after_expiry"
            " FROM job_test_recovered WHERE job_id = $1",
            job_id,
        )
    # The hook ran once, for the killed worker's attempt, and only once its lease had expired.
    assert [tuple(h) for h in hook] == [("expired", workers[victim].owner, 1, True)]
    assert not await _session_exists(pid)  # the 600 s statement did not run on
    taken = await survivor.logged("job_taken_back")
    assert taken["job_id"] == job_id and taken["status"] == "queued"


async def test_a_frozen_workers_statement_is_ended_and_it_writes_nothing_after(
    workers: list[WorkerProcess],
) -> None:
    """SIGSTOP: the worker's sockets stay open, so only the take-back can end its session
    (a killed process's would also end by the client check)."""
    job_id = await enqueue("test.sleep", {"seconds": 600})
    frozen, pid = await _running_on_one_of(workers, job_id)
    workers[frozen].signal(signal.SIGSTOP)
    job = await wait_for(job_id, "succeeded", "failed")
    assert job.status == "succeeded" and job.attempts == 2
    taken = await workers[1 - frozen].logged("job_taken_back")
    assert taken["session_ended"] is True
    assert not await _session_exists(pid)
    workers[frozen].signal(signal.SIGCONT)
    await workers[frozen].logged("job_lease_lost", "job_lease_taken", "job_abandoned")
    for w in workers:
        w.signal(signal.SIGTERM)
    assert [await w.stopped() for w in workers] == [0, 0]
    after = await fetch(job_id)
    assert (after.status, after.attempts, after.finished_at) == (
        "succeeded",
        2,
        job.finished_at,
    )
    assert [attempt for _, attempt, _ in await _runs([job_id])] == [1, 2]


async def test_sigterm_lets_the_job_in_flight_finish(database_url: str) -> None:
    await test_kinds.ensure_tables()
    w = WorkerProcess(database_url, FLEETSVC_JOB_STOP_SECONDS="120")
    try:
        await w.started()
        job_id = await enqueue("test.sleep", {"seconds": 1.5})
        await wait_for(job_id, "running")
        w.signal(signal.SIGTERM)
        assert await w.stopped() == 0
        job = await fetch(job_id)
        assert (job.status, job.attempts, job.result) == ("succeeded", 1, {"slept": 1.5})
        assert w.events("worker_stopping") and w.events("worker_stopped")
    finally:
        w.close()


async def test_serve_runs_a_worker_beside_the_api(database_url: str) -> None:
    await test_kinds.ensure_tables()
    port = _free_port()
    serve = WorkerProcess(database_url, "serve", FLEETSVC_WORKERS="1", FLEETSVC_PORT=str(port))
    try:
        owner = await serve.started()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            for _ in range(300):
                try:
                    if (await client.get("/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        job_id = await enqueue("test.record", {"token": "served"})
        job = await wait_for(job_id, "succeeded")
        assert await _runs([job_id]) == [(job_id, 1, owner)] and job.attempts == 1
        serve.signal(signal.SIGTERM)
        await serve.stopped()
        assert serve.events("worker_stopped")
    finally:
        serve.close()
