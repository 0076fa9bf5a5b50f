"""Databases of their own for audit-trail tests that break the chain on purpose (as the owner,
with triggers off), so the suite's shared database keeps a chain that verifies."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from db.embedded import drop_database, ensure_database, with_database

FLEETSVC = str(Path(sys.executable).parent / "fleetsvc")


async def run_cli(url: str, *args: str) -> tuple[int, str, str]:
    """Run ``fleetsvc ARGS`` against the database at ``url``: (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        FLEETSVC,
        *args,
        env={
            **os.environ,
            "DATABASE_URL": url,
            "FLEETSVC_MIGRATION_DATABASE_URL": url,
            "FLEETSVC_LOG_LEVEL": "warning",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def migrated_template(base_url: str) -> str:
    """A database migrated by the real migrations, to copy (``CREATE DATABASE … TEMPLATE``)."""
    name = f"fleetsvc_audit_tmpl_{uuid.uuid4().hex[:8]}"
    await ensure_database(base_url, name)
    code, out, err = await run_cli(with_database(base_url, name), "db", "migrate")
    assert code == 0, out + err
    return name


@asynccontextmanager
async def copy_of(base_url: str, template: str) -> AsyncIterator[str]:
    """A fresh copy of ``template``, dropped afterwards; yields its URL."""
    name = f"fleetsvc_audit_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(base_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    try:
        yield with_database(base_url, name)
    finally:
        await drop_database(base_url, name)
