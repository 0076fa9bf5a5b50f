"""No lock-out: the last active admin credential cannot be taken away, by the API, by the
CLI, or by two revocations racing each other."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from db.embedded import drop_database
from fleetsvc.auth import Actor, NewToken, create_token, revoke_token
from fleetsvc.errors import Conflict
from tests.conftest import Databases, new_database

ACTOR = Actor("tests", "admin")
EXE = str(Path(sys.executable).parent / "fleetsvc")


@pytest.fixture(scope="module")
async def own_database(databases: Databases) -> AsyncIterator[Databases]:
    """A database of its own: which admins are active is the whole point here, and the
    suite's database has many."""
    name = f"fleetsvc_auth_{uuid.uuid4().hex[:8]}"
    db = await new_database(databases, name)
    yield db
    await drop_database(databases.admin, name)


async def _only_admins(db: Databases, count: int) -> list[NewToken]:
    """Leave exactly ``count`` new active admin tokens (revoking the others behind the
    check's back, in plain SQL)."""
    conn = await asyncpg.connect(db.service)
    try:
        async with conn.transaction():
            await conn.execute("UPDATE api_token SET revoked_at = now() WHERE revoked_at IS NULL")
            return [
                await create_token(conn, ACTOR, f"admin-{uuid.uuid4().hex[:8]}", "admin")
                for _ in range(count)
            ]
    finally:
        await conn.close()


async def _active_admins(conn: asyncpg.Connection) -> list[int]:
    rows = await conn.fetch(
        "SELECT id FROM api_token WHERE role = 'admin' AND revoked_at IS NULL ORDER BY id"
    )
    return [r["id"] for r in rows]


async def _wait_until_waiting_for_a_lock(watcher: asyncpg.Connection, pid: int) -> None:
    for _ in range(1000):
        waiting = await watcher.fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second revocation never waited for the first")


async def test_two_revocations_of_the_last_two_admins_cannot_both_succeed(
    own_database: Databases,
) -> None:
    """The first revocation holds the admin tokens' row locks until it commits; the
    second waits, counts again, and is refused. (Counting without the lock, both would see
    two admins and both would succeed.)"""
    first, second = await _only_admins(own_database, 2)
    one, other, watcher = [await asyncpg.connect(own_database.service) for _ in range(3)]
    try:
        tx_one, tx_other = one.transaction(), other.transaction()
        await tx_one.start()
        await revoke_token(one, ACTOR, first.info.id)
        await tx_other.start()
        racing = asyncio.ensure_future(revoke_token(other, ACTOR, second.info.id))
        await _wait_until_waiting_for_a_lock(watcher, other.get_server_pid())
        await tx_one.commit()
        with pytest.raises(Conflict, match="last active admin"):
            await racing
        await tx_other.rollback()
        assert await _active_admins(watcher) == [second.info.id]
    finally:
        for conn in (one, other, watcher):
            await conn.close()


async def test_revoking_an_admin_while_another_remains_is_allowed(
    own_database: Databases,
) -> None:
    first, second = await _only_admins(own_database, 2)
    conn = await asyncpg.connect(own_database.service)
    try:
        async with conn.transaction():
            await revoke_token(conn, ACTOR, first.info.name)
        async with conn.transaction():
            with pytest.raises(Conflict, match="last active admin"):
                await revoke_token(conn, ACTOR, second.info.name)
        assert await _active_admins(conn) == [second.info.id]
    finally:
        await conn.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_api_and_the_cli_refuse_to_revoke_the_last_admin(
    own_database: Databases,
) -> None:
    (last,) = await _only_admins(own_database, 1)
    env = {
        **os.environ,
        "DATABASE_URL": own_database.service,
        "FLEETSVC_MIGRATION_DATABASE_URL": own_database.owner,
        "FLEETSVC_LOG_LEVEL": "warning",
    }
    revoke = subprocess.run(
        [EXE, "tokens", "revoke", last.info.name], env=env, capture_output=True, text=True
    )
    assert revoke.returncode == 1, revoke.stderr
    assert "last active admin token" in revoke.stderr
    assert len(revoke.stderr.strip().splitlines()) == 1, revoke.stderr

    port = _free_port()
    server = subprocess.Popen(
        [EXE, "serve"],
        env={**env, "FLEETSVC_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    auth = {"Authorization": f"Bearer {last.token}"}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            for _ in range(300):
                try:
                    if (await c.get("/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            r = await c.post(f"/api/v1/tokens/{last.info.id}/revoke", headers=auth)
            assert r.status_code == 409, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert "last active admin token" in r.json()["detail"]
            # With a second admin, the first may go.
            r = await c.post(
                "/api/v1/tokens", json={"name": "second", "role": "admin"}, headers=auth
            )
            assert r.status_code == 201, r.text
            r = await c.post(f"/api/v1/tokens/{last.info.id}/revoke", headers=auth)
            assert r.status_code == 200, r.text
    finally:
        server.terminate()
        server.wait(timeout=30)
