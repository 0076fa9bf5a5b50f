"""The queue and a worker in this process: jobs run once and end as they should; bad kinds
and payloads fail their job, never the worker; a job whose worker vanished is taken back."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import msgspec
import pytest

from db.engine import connection, transaction
from fleetsvc.auth import Actor
from fleetsvc.jobs import kinds, queue
from fleetsvc.jobs.kinds import JobRecord
from fleetsvc.jobs.tasks import pull_run_key
from tests.fleetsvc.jobs.helpers import enqueue, fetch, running_worker, wait_for

pytestmark = pytest.mark.usefixtures("app")


async def _runs(job_id: int) -> list[tuple[int, str]]:
    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT attempt, owner FROM job_test_run WHERE job_id = $1 ORDER BY at", job_id
        )
    return [(r["attempt"], r["owner"]) for r in rows]


async def _raw_job(kind: str, payload: str) -> int:
    """A job written as another version of the service might write it: not checked."""
    async with transaction() as conn:
        job_id: int = await conn.fetchval(
            "INSERT INTO job (kind, payload, queued_by, queued_role)"
            " VALUES ($1, $2::jsonb, 'tests', 'admin') RETURNING id",
            kind,
            payload,
        )
    return job_id


async def test_a_job_runs_once_and_keeps_its_result() -> None:
    async with running_worker() as worker:
        job_id = await enqueue("test.record", {"token": "one"})
        job = await wait_for(job_id, "succeeded")
    assert job.result == {"token": "one"}
    assert (job.attempts, job.error, job.lease_owner, job.lease_expires_at) == (1, None, None, None)
    assert job.started_at is not None and job.finished_at is not None
    assert await _runs(job_id) == [(1, worker.owner)]


async def test_bad_kind_and_bad_payload_fail_their_job_not_the_worker() -> None:
    async with running_worker():
        unknown = await _raw_job("no.such.kind", "{}")
        bad = await _raw_job("test.record", '{"token": 5}')
        not_object = await _raw_job("test.record", "[1, 2]")
        good = await enqueue("test.record", {"token": "after"})
        assert (await wait_for(good, "succeeded")).result == {"token": "after"}
        u = await wait_for(unknown, "failed")
        b = await wait_for(bad, "failed")
        n = await wait_for(not_object, "failed")
    assert u.error is not None and u.error.startswith("unknown job kind 'no.such.kind'")
    assert "test.record" in u.error  # names what this worker does run
    assert b.error == (
        "the payload is not valid for a test.record job: Expected `str`, got `int` - at `$.token`"
    )
    assert n.error is not None and "Expected `object`, got `array`" in n.error


async def test_enqueue_checks_kind_and_payload() -> None:
    async with transaction() as conn:
        with pytest.raises(LookupError, match="no job kind 'nope'"):
            await queue.enqueue(conn, Actor("t", "admin"), "nope", {})
        with pytest.raises(msgspec.ValidationError, match=r"\$\.token"):
            await queue.enqueue(conn, Actor("t", "admin"), "test.record", {"token": 1})


async def test_a_unique_key_queues_once() -> None:
    key = f"test@{uuid.uuid4()}"
    async with transaction() as conn:
        first = await queue.enqueue(
            conn, Actor("t", "admin"), "test.record", {"token": "a"}, unique_key=key, run_after=None
        )
        second = await queue.enqueue(
            conn, Actor("t", "admin"), "test.record", {"token": "b"}, unique_key=key
        )
    assert first is not None and second is None


async def test_a_domain_error_fails_the_job_with_its_message() -> None:
    async with running_worker():
        job_id = await enqueue("test.fail", {"message": "the supplier file is gone"})
        job = await wait_for(job_id, "failed")
    assert job.error == "the supplier file is gone" and job.attempts == 1


async def test_retry_later_backs_off_then_runs_again() -> None:
    async with running_worker():
        job_id = await enqueue("test.fail", {"message": "MDM down", "retry_until_attempt": 1})
        queued = await wait_until_retried(job_id)
        job = await wait_for(job_id, "succeeded")
    assert queued.error == "MDM down (attempt 1)" and queued.run_after > queued.created_at
    assert job.attempts == 2 and job.result == {"succeeded_on": 2}


async def wait_until_retried(job_id: int) -> JobRecord:
    while True:
        job = await fetch(job_id)
        if job.attempts == 1 and job.status == "queued":
            return job
        assert job.status in ("queued", "running"), job
        await asyncio.sleep(0.02)


async def test_a_retry_that_keeps_failing_ends_failed_with_the_reason() -> None:
    async with transaction() as conn:
        found = await queue.enqueue(
            conn,
            Actor("t", "admin"),
            "test.fail",
            {"message": "down", "retry_until_attempt": 9},
            max_attempts=1,
        )
    assert found is not None
    async with running_worker():
        job = await wait_for(found.id, "failed")
    assert job.error == "down (attempt 1); gave up after 1 attempts"


async def _dead_workers_job(kind: str, payload: str, *, attempts: int, max_attempts: int) -> int:
    """A running job whose worker is gone: its lease expired a minute ago."""
    async with transaction() as conn:
        job_id: int = await conn.fetchval(
            "INSERT INTO job (kind, payload, status, attempts, max_attempts, queued_by,"
            " queued_role, lease_owner, lease_expires_at, started_at)"
            " VALUES ($1, $2::jsonb, 'running', $3, $4, 'tests', 'admin', 'gone-host:1:dead',"
            " now() - interval '1 minute', now() - interval '2 minutes') RETURNING id",
            kind,
            payload,
            attempts,
            max_attempts,
        )
    return job_id


async def test_a_job_whose_worker_vanished_is_taken_back_and_run_again() -> None:
    job_id = await _dead_workers_job("test.sleep", '{"seconds": 600}', attempts=1, max_attempts=3)
    async with running_worker() as worker:
        job = await wait_for(job_id, "succeeded")
    assert job.attempts == 2 and job.result == {"slept": 0.0}
    assert await _runs(job_id) == [(2, worker.owner)]
    async with connection() as conn:
        hook = await conn.fetchrow("SELECT * FROM job_test_recovered WHERE job_id = $1", job_id)
    assert hook is not None and (hook["reason"], hook["owner"]) == ("expired", "gone-host:1:dead")


async def test_a_taken_back_job_with_no_attempts_left_fails_saying_so() -> None:
    job_id = await _dead_workers_job("test.sleep", '{"seconds": 1}', attempts=3, max_attempts=3)
    unsafe = await _dead_workers_job(
        "test.sleep_unsafe", '{"seconds": 1}', attempts=1, max_attempts=3
    )
    async with running_worker():
        job = await wait_for(job_id, "failed")
        u = await wait_for(unsafe, "failed")
    assert job.error is not None
    assert job.error.startswith("interrupted: the worker stopped renewing its lease")
    assert job.error.endswith("not retried: no attempts left (3 of 3)")
    assert u.error is not None and u.error.endswith("its kind is not safe to run again")


async def test_a_stopping_worker_releases_the_job_it_cannot_finish() -> None:
    async with running_worker(stop_seconds=0) as worker:
        job_id = await enqueue("test.loop", {"steps": 100000, "pause": 0.05})
        await wait_for(job_id, "running")
        first = await fetch(job_id)
        assert first.lease_owner == worker.owner
    job = await fetch(job_id)
    # Released: queued again at once, the interrupted attempt not counted, the hook told.
    assert (job.status, job.attempts, job.lease_owner) == ("queued", 0, None)
    assert job.error == "interrupted: its worker was stopping; queued again"
    async with connection() as conn:
        reason = await conn.fetchval(
            "SELECT reason FROM job_test_recovered WHERE job_id = $1", job_id
        )
    assert reason == "released"
    async with transaction() as conn:  # leave nothing for later tests' workers
        await conn.execute("UPDATE job SET status = 'cancelled' WHERE id = $1", job_id)


def test_test_kinds_are_registered_here_only() -> None:
    assert "test.record" in kinds.names()  # this process imported the plugin


async def test_a_finished_job_says_so_to_whoever_listens(database_url: str) -> None:
    """What an upload waiting for its import job (or a command) listens for."""
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(database_url)
    await listener.add_listener(queue.FINISHED_CHANNEL, lambda *a: heard.put_nowait(a[3]))
    try:
        async with running_worker():
            job_id = await enqueue("test.record", {"token": "heard"})
            await wait_for(job_id, "succeeded")
            while (said := await asyncio.wait_for(heard.get(), 60)) != f"{job_id} succeeded":
                assert not said.startswith(f"{job_id} "), said
    finally:
        await listener.close()


async def test_an_interrupted_mdm_pull_fails_the_run_it_left_open() -> None:
    job_id = await _dead_workers_job("mdm.pull", "{}", attempts=1, max_attempts=1)
    async with transaction() as conn:
        await conn.execute(
            "INSERT INTO mdm_run (run_key, source, status, created_by) VALUES ($1, 'pull',"
            " 'open', 'schedule')",
            pull_run_key(job_id, 1),
        )
    async with running_worker():
        job = await wait_for(job_id, "failed")
    async with connection() as conn:
        run = await conn.fetchrow(
            "SELECT status, counts ->> 'error' AS error FROM mdm_run WHERE run_key = $1",
            pull_run_key(job_id, 1),
        )
    assert run is not None and run["status"] == "failed"
    assert run["error"].startswith("interrupted: the worker stopped renewing its lease")
    assert job.error is not None and job.error.endswith("no attempts left (1 of 1)")
