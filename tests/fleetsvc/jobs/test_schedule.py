"""Schedules: due times in the configured time zone; a due run is queued once however many
workers look, and a run missed while everything was down is queued once, not per slot."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from db.engine import connection, transaction
from fleetsvc.jobs import schedule
from fleetsvc.settings import Schedule
from tests.fleetsvc.jobs import kinds as test_kinds

pytestmark = pytest.mark.usefixtures("app")
assert test_kinds.__name__  # importing it registers test.scheduled
LONDON = "Europe/London"
UTC = dt.UTC


def test_due_times_are_read_in_the_time_zone() -> None:
    summer = dt.datetime(2026, 7, 1, 6, 30, tzinfo=UTC)  # 07:30 in London (BST)
    assert schedule.latest_due("0 7 * * *", LONDON, summer) == dt.datetime(
        2026, 7, 1, 6, 0, tzinfo=UTC
    )
    winter = dt.datetime(2026, 12, 3, 6, 59, 59, 999, tzinfo=UTC)
    assert schedule.latest_due("0 7 * * *", LONDON, winter) == dt.datetime(
        2026, 12, 2, 7, 0, tzinfo=UTC
    )
    exactly = dt.datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
    assert schedule.latest_due("0 7 * * *", LONDON, exactly) == exactly  # a due time is due
    assert schedule.next_due("0 7 * * *", LONDON, exactly) == dt.datetime(
        2026, 12, 4, 7, 0, tzinfo=UTC
    )


async def _jobs(kind: str) -> list[tuple[str, str]]:
    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT unique_key, payload ->> 'due' AS due FROM job WHERE kind = $1 ORDER BY id", kind
        )
    return [(r["unique_key"], r["due"]) for r in rows]


async def _finish_all(kind: str) -> None:
    async with transaction() as conn:
        await conn.execute(
            "UPDATE job SET status = 'succeeded', finished_at = now() WHERE kind = $1"
            " AND status = 'queued'",
            kind,
        )


EVERY_DAY = Schedule(kind="test.scheduled", cron="0 7 * * *", variable="TEST_CRON")


async def test_a_due_run_is_queued_once_by_many_workers_and_missed_runs_once() -> None:
    await _finish_all("test.scheduled")
    before = len(await _jobs("test.scheduled"))
    now = dt.datetime(2031, 3, 10, 9, 0, tzinfo=UTC)

    async def one_worker_looks() -> int:
        async with transaction() as conn:
            return len(await schedule.queue_due(conn, [EVERY_DAY], LONDON, now))

    queued = await asyncio.gather(*(one_worker_looks() for _ in range(4)))
    assert sorted(queued) == [0, 0, 0, 1]
    await _finish_all("test.scheduled")
    # The same day again (a worker restarted): nothing new.
    assert await one_worker_looks() == 0
    # Everything was down for three days: one run, for the latest due time only.
    now = dt.datetime(2031, 3, 13, 12, 0, tzinfo=UTC)
    assert await one_worker_looks() == 1
    assert (await _jobs("test.scheduled"))[before:] == [
        ("test.scheduled@2031-03-10T07:00:00+00:00", "2031-03-10T07:00:00+00:00"),
        ("test.scheduled@2031-03-13T07:00:00+00:00", "2031-03-13T07:00:00+00:00"),
    ]
    # Its run is still queued the next day: no second one beside it.
    now = dt.datetime(2031, 3, 14, 12, 0, tzinfo=UTC)
    assert await one_worker_looks() == 0
    await _finish_all("test.scheduled")
