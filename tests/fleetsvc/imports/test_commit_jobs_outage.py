"""PostgreSQL restarting in the middle of a commit job (`fleetsvc import --commit` on a
server of this test's own): the import ends ``failed`` with the reason, its staged rows
removed, never stuck ``running``; the command says so and exits 1."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
from pathlib import Path

import asyncpg

from fleetsvc.imports.commit_jobs import OUTAGE
from fleetsvc.imports.evaluate import APPLY_LOCK
from tests.api.test_imports import VF_HEADER
from tests.fleetsvc.jobs.processes import FLEETSVC, ROOT
from tests.fleetsvc.jobs.test_database_restart import _pg_ctl, blinking_database

__all__ = ["blinking_database"]


def _file(path: Path, rows: int) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(VF_HEADER)
    for n in range(rows):
        serial = f"R58R{n:06d}"
        writer.writerow(
            ["14/11/2022", "VF-1", "PO-NONE", "DN1", "PN-X", "A32", "", serial, "", "", "1"]
        )
    path.write_text(out.getvalue())


async def _fetchval(url: str, query: str) -> object:
    try:
        conn = await asyncpg.connect(url, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        return await conn.fetchval(query)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return None
    finally:
        await conn.close()


async def _until(url: str, query: str, within: float = 120.0) -> object:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not (value := await _fetchval(url, query)):
        assert loop.time() < deadline, query
        await asyncio.sleep(0.1)
    return value


async def test_the_database_restarting_mid_commit_fails_the_import_with_the_reason(
    blinking_database: tuple[str, Path], tmp_path: Path
) -> None:
    url, pgdata = blinking_database
    path = tmp_path / "despatch.csv"
    _file(path, 50)
    holder = await asyncpg.connect(url)
    await holder.execute("SELECT pg_advisory_lock($1)", APPLY_LOCK)  # the commit waits
    proc = subprocess.Popen(
        [FLEETSVC, "import", str(path), "--profile", "vodafone-despatch", "--commit"],
        env={
            **os.environ,
            "DATABASE_URL": url,
            "FLEETSVC_MIGRATION_DATABASE_URL": url,
            "FLEETSVC_JOB_LEASE_SECONDS": "15",  # room for a slow restart
            "FLEETSVC_LOG_LEVEL": "warning",
        },
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await _until(
            url,
            "SELECT 1 FROM job j JOIN pg_stat_activity a ON a.pid = j.backend_pid"
            " WHERE j.kind = 'import.commit' AND a.wait_event_type = 'Lock'",
        )
        await asyncio.to_thread(_pg_ctl, pgdata, "-m", "fast", "-w", "restart")
        out, err = await asyncio.to_thread(proc.communicate, timeout=120)
    finally:
        proc.kill()
        holder.terminate()
    assert proc.returncode == 1, out + err
    assert "failed" in err and "database connection was lost" in err, out + err
    state = await _until(
        url,
        "SELECT d.status || '|' || (d.summary ->> 'message') || '|' || j.status || '|'"
        " || (SELECT count(*) FROM import_staged_row s WHERE s.import_id = d.id)"
        " FROM delivery_import d JOIN job j ON j.id = d.job_id",
    )
    assert state == f"failed|{OUTAGE}|failed|0"
