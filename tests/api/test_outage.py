"""The database going away under a request is a 503 with Retry-After, never a 500: a
query cut mid-way, a write (rolled back, and the answer says so), an import being applied
(marked failed), every connection busy beyond the pool timeout. The pool recovers with no
restart. (A real PostgreSQL restarted under load: tests/test_outage_restart.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass

import asyncpg
import httpx
import pytest

from db import engine
from db.embedded import with_database
from fleetsvc.imports.commit_jobs import OUTAGE
from fleetsvc.imports.evaluate import APPLY_LOCK
from tests.api.test_imports import csv_bytes, handset, order, upload
from tests.conftest import TEST_DB, ClientFactory, Databases, unique


@dataclass
class Cutter:
    """Connections that can see, lock and cut the service's (the server's admin URL)."""

    url: str
    watcher: asyncpg.Connection

    async def cut_while_it_waits(
        self, lock: str, request: Awaitable[httpx.Response]
    ) -> httpx.Response:
        """Hold ``lock`` until the request's query waits for it, then end that query's
        connection as a server shutting down does (57P01), and release the lock."""
        holder = await asyncpg.connect(self.url)
        try:
            tx = holder.transaction()
            await tx.start()
            await holder.execute(lock)
            pending = asyncio.ensure_future(request)
            for _ in range(1000):
                pid = await self.watcher.fetchval(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND pid <> $1",
                    holder.get_server_pid(),
                )
                if pid is not None or pending.done():
                    break
                await asyncio.sleep(0.01)
            assert pid is not None, "the request never waited for the lock"
            assert await self.watcher.fetchval("SELECT pg_terminate_backend($1)", pid)
            await tx.rollback()
        finally:
            await holder.close()
        return await pending


@pytest.fixture
async def cutter(databases: Databases) -> AsyncIterator[Cutter]:
    url = with_database(databases.admin, TEST_DB)
    watcher = await asyncpg.connect(url)
    try:
        yield Cutter(url, watcher)
    finally:
        await watcher.close()


def _assert_503(r: httpx.Response) -> dict[str, object]:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert int(r.headers["retry-after"]) > 0
    body: dict[str, object] = r.json()
    assert body["status"] == 503 and "Traceback" not in r.text
    return body


async def test_a_read_cut_mid_query_is_503_and_the_next_one_works(
    admin: httpx.AsyncClient, cutter: Cutter
) -> None:
    r = await cutter.cut_while_it_waits(
        "LOCK TABLE asset IN ACCESS EXCLUSIVE MODE", admin.get("/api/v1/assets?limit=1")
    )
    body = _assert_503(r)
    assert "the database is not reachable" in str(body["detail"])
    assert "nothing was changed" not in str(body["detail"])
    # The dead connection is replaced, and the task's next transaction starts afresh.
    assert (await admin.get("/api/v1/assets?limit=1")).status_code == 200
    assert (await admin.post("/api/v1/people", json=_person())).status_code == 201


def _person() -> dict[str, str]:
    n = unique()
    return {"employee_number": f"E{n}", "display_name": f"Outage {n}"}


async def test_a_write_cut_mid_transaction_is_503_saying_nothing_was_changed(
    admin: httpx.AsyncClient, cutter: Cutter
) -> None:
    person = _person()
    r = await cutter.cut_while_it_waits(
        "LOCK TABLE person IN ACCESS EXCLUSIVE MODE",
        admin.post("/api/v1/people", json=person),
    )
    body = _assert_503(r)
    assert "nothing was changed" in str(body["detail"])
    assert not await cutter.watcher.fetchval(
        "SELECT count(*) FROM person WHERE employee_number = $1", person["employee_number"]
    )


async def test_an_import_cut_while_it_is_applied_is_503_and_marked_failed(
    client_for: ClientFactory, cutter: Cutter
) -> None:
    stores = await client_for("stores")
    o = await order()
    name = f"{unique('cut-')}.csv"
    r = await cutter.cut_while_it_waits(
        f"SELECT pg_advisory_xact_lock({APPLY_LOCK})",
        upload(stores, csv_bytes([handset(o)]), mode="commit", filename=name),
    )
    _assert_503(r)
    row = await cutter.watcher.fetchrow(
        "SELECT status, summary->>'message' AS message FROM delivery_import WHERE file_name = $1",
        name,
    )
    assert row is not None and row["status"] == "failed", row
    assert row["message"] == OUTAGE  # its commit job says why
    staged = await cutter.watcher.fetchval(
        "SELECT count(*) FROM import_staged_row s JOIN delivery_import d ON d.id = s.import_id"
        " WHERE d.file_name = $1",
        name,
    )
    assert staged == 0


async def test_every_connection_busy_beyond_the_pool_timeout_is_503(
    admin: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await admin.get("/api/v1/reports/summary")).status_code == 200  # token cached
    monkeypatch.setattr(engine._current(), "timeout", 0.2)
    held = []
    try:
        for _ in range(engine.pool().get_max_size()):
            cm = engine.connection()
            await cm.__aenter__()
            held.append(cm)
        body = _assert_503(await admin.get("/api/v1/reports/summary"))
        assert "no database connection became free within 0.2 s" in str(body["detail"])
        body = _assert_503(await admin.post("/api/v1/people", json=_person()))
        assert "nothing was changed" in str(body["detail"])
    finally:
        for cm in held:
            await cm.__aexit__(None, None, None)
    assert (await admin.get("/api/v1/reports/summary")).status_code == 200


@pytest.mark.parametrize(
    ("exc", "outage"),
    [
        (asyncpg.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.AdminShutdownError("terminating connection due to administrator command"), True),
        (asyncpg.CrashShutdownError("terminating connection because of crash"), True),
        (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle"), True),
        (asyncpg.TooManyConnectionsError("sorry, too many clients already"), True),
        (asyncpg.InterfaceError("cannot perform operation: connection is closed"), True),
        (ConnectionRefusedError(111, "Connect call failed"), True),
        (FileNotFoundError(2, "No such file or directory"), True),
        (engine.PoolTimeout(10), True),
        (asyncpg.InterfaceError("connection has been released back to the pool"), False),
        (asyncpg.UniqueViolationError("duplicate key"), False),
        (asyncpg.QueryCanceledError("canceling statement due to statement timeout"), False),
        (ValueError("not a database matter"), False),
    ],
)
def test_what_counts_as_an_outage(exc: Exception, outage: bool) -> None:
    assert engine.is_outage(exc) is outage
