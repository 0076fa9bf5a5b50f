"""Migrations: applied by the real migration files, safe twice and concurrently."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import asyncpg

from db.embedded import drop_database
from db.migrate import known_migration_ids, migrate, pending_migrations
from tests.conftest import Databases, new_database


async def test_test_database_is_fully_migrated(databases: Databases) -> None:
    conn = await asyncpg.connect(databases.service)
    try:
        assert await pending_migrations(conn) == []
    finally:
        await conn.close()
    assert await migrate(databases.owner) == []  # a second run does nothing


async def _run_migrate(db: Databases) -> tuple[int, str]:
    exe = str(Path(sys.executable).parent / "fleetsvc")
    proc = await asyncio.create_subprocess_exec(
        exe,
        "db",
        "migrate",
        env={
            **os.environ,
            "DATABASE_URL": db.service,
            "FLEETSVC_MIGRATION_DATABASE_URL": db.owner,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


async def test_two_processes_migrating_at_once_apply_each_migration_once(
    databases: Databases,
) -> None:
    name = f"fleetsvc_mig_{uuid.uuid4().hex[:8]}"
    db = await new_database(databases, name, migrated=False)
    url = db.service
    try:
        (rc1, out1), (rc2, out2) = await asyncio.gather(_run_migrate(db), _run_migrate(db))
        assert (rc1, rc2) == (0, 0), out1 + out2
        outputs = sorted([out1, out2])
        assert any("applied" in o for o in outputs) and any("up to date" in o for o in outputs)
        conn = await asyncpg.connect(url)
        try:
            names = [r["name"] for r in await conn.fetch("SELECT name FROM migration")]
            assert await pending_migrations(conn) == []
        finally:
            await conn.close()
        assert sorted(names) == sorted(known_migration_ids())  # each applied exactly once
    finally:
        await drop_database(databases.admin, name)
