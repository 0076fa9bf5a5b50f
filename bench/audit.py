"""Audit-trail bench: what the hash chain costs writers, and how fast a check walks it.

On a throw-away database: an import-sized transaction (59,474 events by COPY, as a
29,737-handset delivery writes), single-event transactions one after another and from 8
connections at once, each next to the same rows written into a copy of the event table
without the chain's triggers (the baseline, same run); then ``verify_chain`` (in process
and as ``fleetsvc audit verify``) over the whole trail, about 100,000 events by default.

    .venv/bin/python -m bench.audit [--events 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time

import asyncpg

from bench.common import BIN, bench_database, print_table

IMPORT_EVENTS = 59_474
SINGLES = 1_000
CONCURRENT = 8
_COPY_COLUMNS = ["occurred_at", "actor_name", "actor_role", "request_id", "entity", "entity_id"]
_COPY_COLUMNS += ["action", "before", "after"]


def _rows(n: int, offset: int, now: object) -> list[tuple[object, ...]]:
    return [
        (
            now,
            "bench",
            "stores",
            "req-bench",
            "asset",
            offset + i,
            "created",
            None,
            f'{{"serial_number": "R58R{offset + i:08d}", "status": "in_stock", "model_id": 1,'
            f' "unit_cost": "289.00", "delivery_import_id": 7}}',
        )
        for i in range(n)
    ]


async def _bulk(conn: asyncpg.Connection, table: str, n: int, offset: int) -> tuple[float, float]:
    """One transaction COPYing n events: (statement seconds, commit seconds)."""
    tx = conn.transaction()
    await tx.start()
    now = await conn.fetchval("SELECT now()")
    started = time.perf_counter()
    await conn.copy_records_to_table(table, records=_rows(n, offset, now), columns=_COPY_COLUMNS)
    written = time.perf_counter()
    await tx.commit()
    return written - started, time.perf_counter() - written


_ONE = (
    "INSERT INTO {table} (actor_name, actor_role, entity, entity_id, action, before, after)"
    """ VALUES ('bench', 'engineer', 'asset', $1, 'transition', '{{"status": "in_stock"}}',"""
    """ '{{"status": "deployed", "person_id": 7}}')"""
)


async def _singles(url: str, table: str, n: int, connections: int) -> float:
    """n single-event transactions spread over ``connections`` at once: seconds."""
    conns = [await asyncpg.connect(url) for _ in range(connections)]
    sql = _ONE.format(table=table)

    async def run(conn: asyncpg.Connection, k: int) -> None:
        for i in range(k):
            async with conn.transaction():
                await conn.execute(sql, i)

    started = time.perf_counter()
    await asyncio.gather(*(run(c, n // connections) for c in conns))
    elapsed = time.perf_counter() - started
    for c in conns:
        await c.close()
    return elapsed


async def measure(url: str, events: int) -> dict[str, object]:
    conn = await asyncpg.connect(url)
    # The baseline: the same table and indexes, none of the chain's triggers.
    await conn.execute("CREATE TABLE event_plain (LIKE event INCLUDING ALL)")
    rows: list[dict[str, object]] = []
    for table in ("event_plain", "event"):
        statement, commit = await _bulk(conn, table, IMPORT_EVENTS, 0)
        one = await _singles(url, table, SINGLES, 1)
        many = await _singles(url, table, SINGLES * 2, CONCURRENT)
        rows.append(
            {
                "table": "with the chain" if table == "event" else "no chain (baseline)",
                f"{IMPORT_EVENTS:,} events: COPY s": statement,
                "commit s": commit,
                f"{SINGLES:,} single-event txns, 1 conn: ms each": one * 1000 / SINGLES,
                f"{CONCURRENT} conns: txns/s": SINGLES * 2 / many,
            }
        )
    print_table("writing events (same run; baseline: a copy of the table without triggers)", rows)

    have = int(await conn.fetchval("SELECT count(*) FROM event"))
    offset = 10_000_000
    while have < events:  # the rest of the trail, in import-sized and smaller transactions
        n = min(events - have, 20_000)
        await _bulk(conn, "event", n, offset)
        offset += n
        have += n
    await conn.execute("VACUUM ANALYZE event")
    await conn.execute("VACUUM ANALYZE event_seal")
    seals = int(await conn.fetchval("SELECT count(*) FROM event_seal"))
    await conn.close()

    from db.engine import close_pool, open_pool
    from fleetsvc.audit_chain import verify_chain

    os.environ["DATABASE_URL"] = url
    await open_pool(2)
    timings = []
    from db.engine import connection

    for _ in range(3):
        async with connection() as c:
            report = await verify_chain(c)
        assert report.ok, report.summary()
        timings.append(report.seconds)
    await close_pool()
    best = min(timings)
    return {
        "events": f"{report.events_checked:,}",
        "seals": f"{seals:,}",
        "in process s (best of 3)": best,
        "events/s": f"{report.events_checked / best:,.0f}",
    }


def _cli_verify(url: str) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run(
        [str(BIN / "fleetsvc"), "audit", "verify"],
        env={**os.environ, "DATABASE_URL": url, "FLEETSVC_LOG_LEVEL": "warning"},
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, out.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=100_000)
    args = ap.parse_args()
    with bench_database() as url:
        check = asyncio.run(measure(url, args.events))
        cli_s, line = _cli_verify(url)
    check["fleetsvc audit verify s (whole command)"] = cli_s
    print_table(
        "checking the chain (verify_chain: one snapshot, a cursor, SHA-256 in Python)",
        [check],
    )
    print(line)


if __name__ == "__main__":
    main()
