"""A commit job whose process is SIGKILLed mid-commit (`fleetsvc serve` answering an upload,
or `fleetsvc import --commit`): once its lease expires a worker takes it back, the import is
failed with the reason, its staged rows are removed, the session it ran on is ended, nothing
was applied, and the same file commits when it is uploaded again. Real processes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from db.engine import connection
from fleetsvc.imports.commit_jobs import INTERRUPTED
from tests.api.test_imports import count, csv_bytes, handset, order
from tests.api.test_imports_jobs import ASYNC, apply_lock_held
from tests.conftest import ClientFactory, TokenFactory
from tests.fleetsvc.jobs.helpers import running_worker, wait_until

FLEETSVC = str(Path(sys.executable).parent / "fleetsvc")
ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.usefixtures("app")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(database_url: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [FLEETSVC, *args],
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "FLEETSVC_WORKERS": "0",
            "FLEETSVC_JOB_LEASE_SECONDS": "2",
            "FLEETSVC_LOG_LEVEL": "warning",
            **env,
        },
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _waiting_on_the_apply_lock(import_id: int) -> tuple[int, int]:
    """The import's job and the database session its commit waits on the apply lock in."""
    query = (
        "SELECT j.backend_pid FROM delivery_import d JOIN job j ON j.id = d.job_id"
        " JOIN pg_stat_activity a ON a.pid = j.backend_pid"
        " WHERE d.id = $1 AND a.wait_event_type = 'Lock'"
    )
    pid = int(await wait_until(query, import_id))
    async with connection() as conn:
        job_id = int(
            await conn.fetchval("SELECT job_id FROM delivery_import WHERE id = $1", import_id)
        )
    return job_id, pid


async def _taken_back(import_id: int, job_id: int, pid: int) -> dict[str, Any]:
    """Let a worker take the job back; what the import, its rows and the job are then."""
    async with running_worker():
        await wait_until(
            "SELECT status = 'failed' FROM delivery_import WHERE id = $1", import_id, within=60
        )
    async with connection() as conn:
        found = await conn.fetchrow(
            "SELECT d.status, d.summary ->> 'message' AS message, j.status AS job_status,"
            " j.error, (SELECT count(*) FROM import_staged_row s WHERE s.import_id = d.id)"
            " AS staged, (SELECT count(*) FROM asset a WHERE a.delivery_import_id = d.id)"
            " AS assets, EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $2) AS session"
            " FROM delivery_import d JOIN job j ON j.id = $3 WHERE d.id = $1",
            import_id,
            pid,
            job_id,
        )
    assert found is not None
    return dict(found)


def _check_interrupted(found: dict[str, Any]) -> None:
    assert found["status"] == "failed" and found["message"] == INTERRUPTED, found
    assert found["job_status"] == "failed" and INTERRUPTED in found["error"], found
    assert found["staged"] == 0 and found["assets"] == 0, found
    assert not found["session"], found  # the orphaned statement did not run on


async def _upload_to_serve(port: int, token: str, content: bytes) -> int:
    """Upload to the `fleetsvc serve` on ``port`` once it is ready; the import's id."""
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as client:
        for _ in range(300):
            try:
                if (await client.get("/ready")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        r = await client.post(
            "/api/v1/imports",
            files={"file": ("despatch.csv", content, "text/csv")},
            data={"profile": "vodafone-despatch", "mode": "commit"},
            headers=ASYNC,
        )
    assert r.status_code == 202, r.text
    return int(r.json()["id"])


async def test_serve_killed_mid_commit(
    database_url: str, make_token: TokenFactory, client_for: ClientFactory
) -> None:
    token = await make_token("stores")
    o = await order(quantity=20)
    content = csv_bytes([handset(o) for _ in range(20)])
    port = _free_port()
    async with apply_lock_held(database_url):
        proc = _start(database_url, "serve", FLEETSVC_PORT=str(port))
        try:
            import_id = await _upload_to_serve(port, token, content)
            job_id, pid = await _waiting_on_the_apply_lock(import_id)
        finally:
            proc.kill()
            proc.wait(30)
        _check_interrupted(await _taken_back(import_id, job_id, pid))
    stores = await client_for("stores")
    again = await stores.post(
        "/api/v1/imports",
        files={"file": ("despatch.csv", content, "text/csv")},
        data={"profile": "vodafone-despatch", "mode": "commit"},
    )
    assert again.status_code == 201 and again.json()["status"] == "committed", again.text
    assert again.json()["counts"]["new"] == 20


async def test_cli_killed_mid_commit(database_url: str, tmp_path: Path) -> None:
    o = await order(quantity=20)
    content = csv_bytes([handset(o) for _ in range(20)])
    path = tmp_path / "despatch.csv"
    path.write_bytes(content)
    sha = hashlib.sha256(content).hexdigest()
    args = ("import", str(path), "--profile", "vodafone-despatch", "--commit")
    async with apply_lock_held(database_url):
        proc = _start(database_url, *args)
        try:
            import_id = int(
                await wait_until("SELECT id FROM delivery_import WHERE sha256 = $1", sha)
            )
            job_id, pid = await _waiting_on_the_apply_lock(import_id)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(30)
        _check_interrupted(await _taken_back(import_id, job_id, pid))
    assert path.exists()  # the command's own file: never removed
    proc = _start(database_url, *args)
    assert await asyncio.to_thread(proc.wait, 120) == 0
    committed = "SELECT count(*) FROM delivery_import WHERE sha256 = $1 AND status = 'committed'"
    assert await count(committed, sha) == 1


async def test_serve_stopping_mid_commit_releases_it_at_once(
    database_url: str, make_token: TokenFactory
) -> None:
    """SIGTERM: the commit in flight is given FLEETSVC_JOB_STOP_SECONDS, then released by
    the stopping process itself (no lease to wait for)."""
    token = await make_token("stores")
    o = await order(quantity=5)
    content = csv_bytes([handset(o) for _ in range(5)])
    port = _free_port()
    async with apply_lock_held(database_url):
        proc = _start(database_url, "serve", FLEETSVC_PORT=str(port), FLEETSVC_JOB_STOP_SECONDS="0")
        try:
            import_id = await _upload_to_serve(port, token, content)
            await _waiting_on_the_apply_lock(import_id)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 60) == 0
        finally:
            proc.kill()
        async with connection() as conn:
            found = await conn.fetchrow(
                "SELECT d.status, d.summary ->> 'message' AS message, j.status AS job_status,"
                " (SELECT count(*) FROM import_staged_row s WHERE s.import_id = d.id) AS staged"
                " FROM delivery_import d JOIN job j ON j.id = d.job_id WHERE d.id = $1",
                import_id,
            )
    assert found is not None
    assert dict(found) == {
        "status": "failed",
        "message": INTERRUPTED,
        "job_status": "failed",
        "staged": 0,
    }
