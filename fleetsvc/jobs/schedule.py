"""Recurring jobs: each schedule (a kind and a cron expression, from the environment) is
queued at its due times by whichever worker looks first.

A run is queued with the unique key ``kind@due`` (the due time in UTC), so N workers in
N replicas queue it once. Only the latest due time is ever queued: after everything was
down for three days the daily notice runs once when a worker comes back, not three times.
While a schedule's previous run is still queued or running no new one is queued.
Expressions are read in ``FLEETSVC_CRON_TIMEZONE`` (``0 7 * * *`` is 07:00 in London,
summer or winter) by cronsim.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import asyncpg
from cronsim import CronSim

from fleetsvc.auth import Actor
from fleetsvc.jobs import queue
from fleetsvc.jobs.kinds import JobRecord
from fleetsvc.logs import get_logger
from fleetsvc.settings import Schedule
from fleetsvc.vocabulary import Role

log = get_logger("fleetsvc.jobs")

# Who queued a scheduled run, in the job and in the events its work records.
SCHEDULER = Actor("schedule", Role.ADMIN)
_SECOND = dt.timedelta(seconds=1)


def latest_due(cron: str, timezone: str, now: dt.datetime) -> dt.datetime:
    """The latest time at or before ``now`` that ``cron`` names, in UTC."""
    local = now.astimezone(ZoneInfo(timezone)).replace(microsecond=0) + _SECOND
    return next(CronSim(cron, local, reverse=True)).astimezone(dt.UTC)


def next_due(cron: str, timezone: str, now: dt.datetime) -> dt.datetime:
    """The first time after ``now`` that ``cron`` names, in UTC."""
    local = now.astimezone(ZoneInfo(timezone))
    return next(CronSim(cron, local)).astimezone(dt.UTC)


def unique_key(kind: str, due: dt.datetime) -> str:
    return f"{kind}@{due.astimezone(dt.UTC).isoformat()}"


async def queue_due(
    conn: asyncpg.Connection,
    schedules: Sequence[Schedule],
    timezone: str,
    now: dt.datetime | None = None,
) -> list[JobRecord]:
    """Queue each schedule's latest due run unless it is already queued (or ran), or the
    schedule's previous run is still queued or running; returns the jobs queued."""
    now = now or dt.datetime.now(dt.UTC)
    queued = []
    for s in schedules:
        due = latest_due(s.cron, timezone, now)
        busy = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM job WHERE kind = $1 AND unique_key IS NOT NULL"
            " AND status IN ('queued', 'running'))",
            s.kind,
        )
        if busy:
            continue
        job = await queue.enqueue(
            conn, SCHEDULER, s.kind, {"due": due.isoformat()}, unique_key=unique_key(s.kind, due)
        )
        if job is not None:
            log.info("schedule_queued", kind=s.kind, due=due.isoformat(), job_id=job.id)
            queued.append(job)
    return queued


def seconds_until_next(
    schedules: Sequence[Schedule], timezone: str, now: dt.datetime | None = None
) -> float:
    """How long to sleep before the next due time (at most a minute, so a clock change or a
    run another worker skipped is noticed soon)."""
    now = now or dt.datetime.now(dt.UTC)
    soonest = min((next_due(s.cron, timezone, now) for s in schedules), default=None)
    if soonest is None:
        return 60.0
    return max(0.2, min(60.0, (soonest - now).total_seconds() + 0.05))
