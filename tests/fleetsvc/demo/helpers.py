"""Running `fleetsvc demo` (and `fleetsvc import`) as a user does, and the register's rows
before and after, to show what a run changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg

from fleetsvc.demo.shape import FULL

SIZE = FULL.scaled(0.01)
EXE = str(Path(sys.executable).parent / "fleetsvc")

# Every table of the register the demo could write to; every row of each is compared.
REGISTER = (
    "business_unit",
    "person",
    "vehicle",
    "supplier",
    "contract",
    "contract_charge",
    "device_model",
    "model_part_number",
    "model_alias",
    "purchase_order",
    "purchase_order_line",
    "delivery_import",
    "asset",
    "sim",
    "sim_fitting",
    "assignment",
    "install",
    "install_job",
    "licence_pool",
    "licence_seat",
)


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``fleetsvc ARGS`` against the suite's database, or the one ``env`` names."""
    return subprocess.run(
        [EXE, *args],
        cwd=cwd,
        env={**os.environ, "FLEETSVC_LOG_LEVEL": "warning", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def demo(env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run("demo", "--scale", "0.01", env=env)


async def rows(conn: asyncpg.Connection) -> dict[str, list[str]]:
    """Every row of every register table, and how far the audit trail has got."""
    out = {
        table: [
            r[0] for r in await conn.fetch(f"SELECT to_jsonb(t)::text FROM {table} t ORDER BY t.id")
        ]
        for table in REGISTER
    }
    events = await conn.fetchrow("SELECT count(*) AS n, max(id) AS last FROM event")
    assert events is not None
    out["event"] = [str(events["n"]), str(events["last"])]
    return out
