"""What an MDM run costs in CPU and WAL, figures that move less with a busy machine than
bench.mdm's wall times: this process's CPU (parse, checks), the CPU of the database backends
serving it (read from /proc, so the server must run on this machine: the embedded one does),
and the WAL the run wrote. 40,000 handsets and MDM records as in bench.mdm; pushes are
applied in process (``push_batch``, batches of 1,000), without HTTP.

    .venv/bin/python -m bench.mdm_cpu [--devices 40000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from bench import mdm as B
from bench.common import bench_database, cpu_seconds, print_table


def _proc_cpu(pid: int) -> float:
    return cpu_seconds(pid) or 0.0


async def _backends(mon: asyncpg.Connection) -> list[int]:
    rows = await mon.fetch(
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    return [int(r["pid"]) for r in rows]


async def measure(url: str, work: Callable[[], Awaitable[None]]) -> dict[str, float]:
    from db.engine import close_pool, open_pool, transaction

    mon = await asyncpg.connect(url)
    await open_pool(4)
    try:
        async with transaction() as conn:  # the pool's connections open before the clock
            await conn.fetchval("SELECT 1")
        before = {p: _proc_cpu(p) for p in await _backends(mon)}
        wal0 = await mon.fetchval("SELECT pg_current_wal_lsn()")
        t, c = time.perf_counter(), time.process_time()
        await work()
        wall, py = time.perf_counter() - t, time.process_time() - c
        db = sum(_proc_cpu(p) - before.get(p, 0.0) for p in await _backends(mon))
        wal = await mon.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)", wal0)
    finally:
        await close_pool()
        await mon.close()
    return {"wall": wall, "python": py, "db": db, "wal": float(wal)}


async def push_in_process(actor: Any, bodies: list[bytes], key: str) -> None:
    """One push run in process: each body a batch of 1,000 as the endpoint decodes it, each
    batch in its own transaction, as POST /api/v1/mdm/sync applies it."""
    from db.engine import transaction
    from fleetsvc.mdm.checks import ManagedDevice
    from fleetsvc.mdm.sync import push_batch

    for k, body in enumerate(bodies):
        devices = msgspec.json.decode(body, type=list[ManagedDevice])
        async with transaction() as conn:
            await push_batch(
                conn,
                actor,
                run_key=key,
                batch_no=k + 1,
                devices=devices,
                final=k == len(bodies) - 1,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--devices", type=int, default=40_000)
    n = ap.parse_args().devices
    from fleetsvc.auth import Actor
    from fleetsvc.logs import configure_logging
    from fleetsvc.mdm.sync import sync_file
    from fleetsvc.settings import load_settings

    configure_logging(load_settings({**os.environ, "FLEETSVC_LOG_LEVEL": "warning"}))
    actor = Actor("bench", "admin")
    rows: list[dict[str, Any]] = []
    with bench_database() as url, tempfile.TemporaryDirectory() as tmp:
        asyncio.run(B.seed_register(url, n))
        records = B.mdm_records(n)
        later = B.mdm_records(n, shift=dt.timedelta(hours=1), updated_every=20)
        export = Path(tmp) / "export.csv"
        B.write_export(records, export)

        async def file_run() -> None:
            await sync_file(actor, export)

        def push_run(recs: list[dict[str, Any]]) -> Callable[[], Awaitable[None]]:
            bodies = [msgspec.json.encode(recs[i : i + 1000]) for i in range(0, len(recs), 1000)]

            async def run() -> None:
                await push_in_process(actor, bodies, f"cpu-{uuid.uuid4().hex[:8]}")

            return run

        def row(what: str, work: Callable[[], Awaitable[None]]) -> None:
            m = asyncio.run(measure(url, work))
            rows.append(
                {
                    "what": what,
                    "wall s": round(m["wall"], 2),
                    "python CPU s": round(m["python"], 2),
                    "database CPU s": round(m["db"], 2),
                    "CPU s": round(m["python"] + m["db"], 2),
                    "WAL MB": round(m["wal"] / 1e6, 1),
                }
            )

        row("file: first run", file_run)
        row("file: unchanged re-run", file_run)
        asyncio.run(B.forget_mdm(url))
        row("push, in process: first run", push_run(records))
        row("push, in process: routine run (5% OS updates)", push_run(later))
        row("push, in process: unchanged re-run", push_run(later))
        row("file: older export (changes nothing)", file_run)
    print_table(f"MDM runs, {n:,} devices: CPU and WAL", rows)
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
