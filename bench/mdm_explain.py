"""Where an MDM run's time goes in the database: every statement of a first run (and of an
unchanged re-run), nested ones (triggers, the chain's seal at commit) included, with its
plan, from ``auto_explain`` (ANALYZE, BUFFERS) on the service's own connections. 40,000
handsets and MDM records as in bench.mdm.

    .venv/bin/python -m bench.mdm_explain [--devices 40000] [--push] [--plans 3]

Needs a superuser connection (the embedded server's is one) to load ``auto_explain``.
The statements are printed grouped by their first line, slowest group first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from bench import mdm as B
from bench.common import bench_database
from bench.mdm_cpu import push_in_process

_DURATION = re.compile(r"duration: ([0-9.]+) ms\s+plan:\s*\n(.*)", re.S)


def _key(plan: str) -> str:
    """The plan's top node and the first line of its statement's text (a script of several
    statements is one text: the top node tells them apart)."""
    lines = plan.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Query Text:")), -1)
    text = [lines[start].removeprefix("Query Text:").strip(), *lines[start + 1 :]]
    first = next((t.strip() for t in text if t.strip() and not t.strip().startswith("--")), "")
    top = next((line.split("  (cost=")[0] for line in lines if "  (cost=" in line), "")
    return f"{top[:40]:40} | {first[:70]}"


async def _profiled(
    work: Any, plans: int, nested: bool
) -> tuple[float, list[tuple[str, float, int, str]]]:
    from db import engine

    seen: list[tuple[float, str]] = []

    def listener(_conn: object, fields: dict[str, str], _last_query: object) -> None:
        # Every message of every connection, also while it is out of the pool (a pool
        # drops a connection's log listeners when it is given back).
        m = _DURATION.search(fields.get("M", ""))
        if m:
            seen.append((float(m.group(1)), m.group(2)))

    base = engine.prepare_connection

    async def prepare(conn: asyncpg.Connection) -> None:
        await base(conn)
        await conn.execute(
            "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;"
            " SET auto_explain.log_analyze = on; SET auto_explain.log_buffers = on;"
            " SET auto_explain.log_timing = on;"
            f" SET auto_explain.log_nested_statements = {'on' if nested else 'off'};"
            " SET auto_explain.log_level = warning"
        )

    engine.prepare_connection = prepare
    # asyncpg's hook for a server message (private: this is a bench, not the service).
    original = getattr(asyncpg.Connection, "_process_log_message")  # noqa: B009
    setattr(asyncpg.Connection, "_process_log_message", listener)  # noqa: B010
    await engine.open_pool(4)
    try:
        t = time.perf_counter()
        await work()
        wall = time.perf_counter() - t
    finally:
        await engine.close_pool()
        engine.prepare_connection = base
        setattr(asyncpg.Connection, "_process_log_message", original)  # noqa: B010
    groups: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for ms, plan in seen:
        groups[_key(plan)].append((ms, plan))
    out = [
        (k, sum(ms for ms, _ in v), len(v), max(v)[1] if plans else "") for k, v in groups.items()
    ]
    out.sort(key=lambda x: -x[1])
    return wall, out


def _print(title: str, wall: float, rows: list[tuple[str, float, int, str]], plans: int) -> None:
    print(f"\n== {title}: {wall:.2f} s wall, statements' own total (nested included):")
    for i, (key, ms, n, plan) in enumerate(rows):
        print(f"{ms / 1000:8.3f} s  ×{n:<5} {key}")
        if i < plans:
            print("          " + plan.replace("\n", "\n          "))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--devices", type=int, default=40_000)
    ap.add_argument("--push", action="store_true", help="push batches of 1,000 in process")
    ap.add_argument("--plans", type=int, default=3, help="plans printed (slowest groups)")
    ap.add_argument(
        "--nested",
        action="store_true",
        help="also each nested statement (foreign-key checks, triggers): slows the run",
    )
    args = ap.parse_args()
    n = args.devices
    from fleetsvc.auth import Actor
    from fleetsvc.logs import configure_logging
    from fleetsvc.mdm.sync import sync_file
    from fleetsvc.settings import load_settings

    configure_logging(load_settings({**os.environ, "FLEETSVC_LOG_LEVEL": "error"}))
    actor = Actor("bench", "admin")
    with bench_database() as url, tempfile.TemporaryDirectory() as tmp:
        asyncio.run(B.seed_register(url, n))
        records = B.mdm_records(n)
        export = Path(tmp) / "export.csv"
        B.write_export(records, export)

        async def file_run() -> None:
            await sync_file(actor, export)

        async def push_run() -> None:
            bodies = [msgspec.json.encode(records[i : i + 1000]) for i in range(0, n, 1000)]
            await push_in_process(actor, bodies, f"explain-{uuid.uuid4().hex[:8]}")

        work = push_run if args.push else file_run
        what = "push (in process)" if args.push else "file"
        wall, rows = asyncio.run(_profiled(work, args.plans, args.nested))
        _print(f"{what}: first run", wall, rows, args.plans)
        wall, rows = asyncio.run(_profiled(work, 0, args.nested))
        _print(f"{what}: unchanged re-run", wall, rows, 0)


if __name__ == "__main__":
    main()
