"""Claim-to-start latency of a job with two `fleetsvc worker` processes, next to the same
run's floor: a bare ``SELECT 1`` round trip and a LISTEN/NOTIFY round trip (a queued job
reaches an idle worker by NOTIFY, then takes one claim query).

    .venv/bin/python -m bench.jobs [--jobs 300] [--burst 2000]

Latency is from the moment the queueing transaction's COMMIT returned to the moment the
job's code started in a worker (both read ``time.time()`` on this machine):

- *one at a time*: a job is queued only after the previous one started, so a worker is
  always idle and waiting: what a single upload or a scheduled run sees;
- *burst*: ``--burst`` jobs queued in one transaction: the queue drains at the workers'
  pace, so this is mostly waiting in line (reported with the jobs per second drained).

This module is also the workers' plugin (FLEETSVC_JOB_PLUGINS=bench.jobs): it registers
the ``bench.start`` kind, which only notes when it started.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import time
from typing import Any

import asyncpg
import msgspec

from bench.common import BIN, ROOT, bench_database, print_table
from fleetsvc.auth import Actor
from fleetsvc.jobs import queue
from fleetsvc.jobs.kinds import JobContext, JobKind, Result, register

DONE_CHANNEL = "bench_job_started"
BENCH = Actor("bench", "admin")


class Start(msgspec.Struct):
    n: int = 0


async def _started(ctx: JobContext, payload: Start) -> Result:
    at = time.time()
    from db.engine import connection

    async with connection() as conn:
        await conn.execute("SELECT pg_notify($1, $2)", DONE_CHANNEL, str(ctx.job.id))
    return {"started": at}


register(JobKind("bench.start", Start, _started, "Note when it started (bench.jobs)"))


def _percentiles(values_ms: list[float]) -> dict[str, object]:
    values = sorted(values_ms)
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"n": len(values), "p50 ms": q[49], "p99 ms": q[98], "max ms": values[-1]}


async def _select_one(url: str, n: int) -> list[float]:
    conn = await asyncpg.connect(url)
    try:
        out = []
        for _ in range(n):
            t = time.perf_counter()
            await conn.fetchval("SELECT 1")
            out.append((time.perf_counter() - t) * 1000)
        return out
    finally:
        await conn.close()


async def _notify_round_trip(url: str, n: int) -> list[float]:
    listener, sender = await asyncpg.connect(url), await asyncpg.connect(url)
    got: asyncio.Queue[float] = asyncio.Queue()
    await listener.add_listener("bench_ping", lambda *_: got.put_nowait(time.perf_counter()))
    try:
        out = []
        for i in range(n):
            t = time.perf_counter()
            await sender.execute(f"NOTIFY bench_ping, '{i}'")
            out.append((await asyncio.wait_for(got.get(), 10) - t) * 1000)
        return out
    finally:
        await listener.close()
        await sender.close()


QUEUE = (
    "INSERT INTO job (kind, payload, queued_by, queued_role) SELECT 'bench.start',"
    " jsonb_build_object('n', g), 'bench', 'admin' FROM generate_series(1, $1) g RETURNING id"
)


async def _one_at_a_time(url: str, n: int) -> list[float]:
    conn, listener = await asyncpg.connect(url), await asyncpg.connect(url)
    started: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(DONE_CHANNEL, lambda *a: started.put_nowait(a[3]))
    committed: dict[int, float] = {}
    try:
        for _ in range(n):
            async with conn.transaction():
                job = await queue.enqueue(conn, BENCH, "bench.start", {"n": len(committed)})
            assert job is not None
            job_id = job.id
            committed[job_id] = time.time()
            while int(await asyncio.wait_for(started.get(), 30)) != job_id:
                pass
        return await _latencies(conn, committed)
    finally:
        await conn.close()
        await listener.close()


async def _burst(url: str, n: int) -> tuple[list[float], float]:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            ids = [r["id"] for r in await conn.fetch(QUEUE, n)]
            await conn.execute("SELECT pg_notify('fleetsvc_jobs', 'bench.start')")
        at = time.time()
        latencies = await _latencies(conn, dict.fromkeys(ids, at))
        return latencies, n / (max(latencies) / 1000)
    finally:
        await conn.close()


async def _latencies(conn: asyncpg.Connection, committed: dict[int, float]) -> list[float]:
    # The job's result is written just after it starts: wait for the last ones.
    await _all_succeeded(conn, list(committed))
    rows = await conn.fetch(
        "SELECT id, (result ->> 'started')::float8 AS started FROM job WHERE id = ANY($1::int[])",
        list(committed),
    )
    return [(r["started"] - committed[r["id"]]) * 1000 for r in rows]


async def _all_succeeded(conn: asyncpg.Connection, ids: list[int]) -> None:
    for _ in range(60_000):
        left = await conn.fetchval(
            "SELECT count(*) FROM job WHERE id = ANY($1::int[]) AND status <> 'succeeded'", ids
        )
        if not left:
            return
        await asyncio.sleep(0.05)
    raise SystemExit("the jobs did not finish")


def _workers(url: str, count: int) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PYTHONPATH": str(ROOT),
        "FLEETSVC_JOB_PLUGINS": "bench.jobs",
        "FLEETSVC_NOTICE_CRON": "off",
        "FLEETSVC_PREVIEW_CLEANUP_CRON": "off",
        "FLEETSVC_LOG_LEVEL": "warning",
    }
    return [
        subprocess.Popen([str(BIN / "fleetsvc"), "worker"], env=env, cwd=ROOT) for _ in range(count)
    ]


async def _wait_for_workers(url: str, count: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        for _ in range(600):
            listening = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fleetsvc-worker'"
            )
            if listening >= count:
                return
            await asyncio.sleep(0.1)
        raise SystemExit("the workers did not start")
    finally:
        await conn.close()


async def _measure(url: str, jobs: int, burst: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    rows.append(
        {"what": "baseline: SELECT 1 round trip"} | _percentiles(await _select_one(url, jobs))
    )
    rows.append(
        {"what": "baseline: NOTIFY round trip"} | _percentiles(await _notify_round_trip(url, jobs))
    )
    await _one_at_a_time(url, 20)  # warm up: connections, prepared statements
    rows.append(
        {"what": "job claim-to-start, one at a time"}
        | _percentiles(await _one_at_a_time(url, jobs))
    )
    latencies, rate = await _burst(url, burst)
    rows.append(
        {"what": f"job claim-to-start, burst of {burst} ({rate:,.0f} jobs/s)"}
        | _percentiles(latencies)
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--burst", type=int, default=2000)
    args = parser.parse_args()
    with bench_database() as url:
        workers = _workers(url, 2)
        try:
            asyncio.run(_wait_for_workers(url, 2))
            rows = asyncio.run(_measure(url, args.jobs, args.burst))
        finally:
            for w in workers:
                w.send_signal(signal.SIGTERM)
            for w in workers:
                w.wait(60)
    print_table("Jobs: two `fleetsvc worker` processes (one job at a time each)", rows)
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
