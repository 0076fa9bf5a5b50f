"""Job kinds for the tests only, never registered in production: a worker loads them when
FLEETSVC_JOB_PLUGINS names this module (the in-process tests import it directly).

Every kind notes each attempt it starts in ``job_test_run`` (its own short transaction,
so the note survives the attempt), and the recovery hook notes each take-back in
``job_test_recovered``: the tables are made by ``ensure_tables``.
"""

from __future__ import annotations

import asyncio
import os

import asyncpg
import msgspec

from db.engine import transaction
from fleetsvc.errors import FleetError
from fleetsvc.jobs.kinds import (
    Interruption,
    JobContext,
    JobKind,
    JobRecord,
    Recovery,
    Result,
    RetryLater,
    register,
)

TABLES = """
CREATE TABLE IF NOT EXISTS job_test_run (
    job_id integer NOT NULL, attempt integer NOT NULL, owner text NOT NULL, token text,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS job_test_recovered (
    job_id integer NOT NULL, reason text NOT NULL, owner text, attempts integer NOT NULL,
    lease_expires_at timestamptz, at timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- Test tables only: whichever role the service under test runs as writes them.
GRANT SELECT, INSERT, UPDATE, DELETE ON job_test_run, job_test_recovered TO PUBLIC;
"""


async def ensure_tables(url: str | None = None) -> None:
    """Make the tables as the owner role (the service's own role may create nothing)."""
    url = url or os.environ.get("FLEETSVC_MIGRATION_DATABASE_URL") or os.environ["DATABASE_URL"]
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(TABLES)
    finally:
        await conn.close()


async def _note_start(ctx: JobContext, token: str | None = None) -> None:
    async with transaction() as conn:
        await conn.execute(
            "INSERT INTO job_test_run (job_id, attempt, owner, token) VALUES ($1, $2, $3, $4)",
            ctx.job.id,
            ctx.attempt,
            ctx.job.lease_owner,
            token,
        )


class Record(msgspec.Struct, forbid_unknown_fields=True):
    token: str
    pause: float = 0.0


async def record(ctx: JobContext, p: Record) -> Result:
    await _note_start(ctx, p.token)
    if p.pause:
        await asyncio.sleep(p.pause)
    return {"token": p.token}


class Sleep(msgspec.Struct, forbid_unknown_fields=True):
    seconds: float
    # Later attempts (after a take-back or a lost database) return at once.
    first_attempt_only: bool = True


async def sleep_in_statement(ctx: JobContext, p: Sleep) -> Result:
    """Holds one statement (pg_sleep) for ``seconds``: the statement a killed worker orphans."""
    await _note_start(ctx)
    seconds = p.seconds if ctx.attempt == 1 or not p.first_attempt_only else 0.0
    async with transaction() as conn:
        await conn.execute("SELECT pg_sleep($1)", seconds)
    return {"slept": seconds}


async def note_recovery(
    conn: asyncpg.Connection, job: JobRecord, interruption: Interruption
) -> Recovery | None:
    await conn.execute(
        "INSERT INTO job_test_recovered (job_id, reason, owner, attempts, lease_expires_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        job.id,
        interruption.reason,
        interruption.owner,
        job.attempts,
        job.lease_expires_at,
    )
    return None  # the default: queued again when safe and attempts remain


class Loop(msgspec.Struct, forbid_unknown_fields=True):
    steps: int
    pause: float = 0.05


async def loop(ctx: JobContext, p: Loop) -> Result:
    """Checks, reports progress and naps, ``steps`` times: it stops at a check if cancelled."""
    await _note_start(ctx)
    for step in range(p.steps):
        await ctx.progress("looping", done=step)
        await asyncio.sleep(p.pause)
    return {"steps": p.steps}


class Fail(msgspec.Struct, forbid_unknown_fields=True):
    message: str
    retry_until_attempt: int = 0  # RetryLater up to this attempt, then succeed


async def fail(ctx: JobContext, p: Fail) -> Result:
    await _note_start(ctx)
    if ctx.attempt <= p.retry_until_attempt:
        raise RetryLater(f"{p.message} (attempt {ctx.attempt})")
    if p.retry_until_attempt:
        return {"succeeded_on": ctx.attempt}
    raise FleetError(p.message)


class Due(msgspec.Struct, forbid_unknown_fields=True):
    due: str | None = None


async def scheduled(ctx: JobContext, p: Due) -> Result:
    return {"due": p.due}


register(JobKind("test.record", Record, record, "Note the run; nap"))
register(JobKind("test.scheduled", Due, scheduled, "A scheduled run"))
register(
    JobKind("test.sleep", Sleep, sleep_in_statement, "One long statement", recover=note_recovery)
)
register(
    JobKind(
        "test.sleep_unsafe",
        Sleep,
        sleep_in_statement,
        "One long statement, not safe to run twice",
        retry_safe=False,
        recover=note_recovery,
    )
)
register(JobKind("test.loop", Loop, loop, "Check and report in a loop", recover=note_recovery))
register(JobKind("test.fail", Fail, fail, "Fail, or retry then succeed"))
