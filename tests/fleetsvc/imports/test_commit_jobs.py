"""The commit job's recovery hook, in process: a commit job taken back after its import was
committed (its process died between the commit and the job's outcome) leaves the import
committed and applies nothing again; the same file uploaded again is recognised."""

from __future__ import annotations

import httpx
import pytest

from db.engine import connection, transaction
from fleetsvc.jobs import queue
from tests.api.test_imports import count, csv_bytes, handset, order
from tests.api.test_imports_jobs import settled, upload_commit
from tests.conftest import ClientFactory

pytestmark = pytest.mark.usefixtures("app")


async def test_a_commit_taken_back_after_it_committed_stays_committed_once(
    client_for: ClientFactory,
) -> None:
    stores: httpx.AsyncClient = await client_for("stores")
    o = await order(quantity=3)
    content = csv_bytes([handset(o) for _ in range(3)])
    r = await upload_commit(stores, content)
    assert r.status_code == 201, r.text
    import_id = r.json()["id"]
    # As if the process died after the commit, before the job's outcome was written.
    async with transaction() as conn:
        await conn.execute(
            "UPDATE job SET status = 'running', lease_owner = 'gone:1',"
            " lease_expires_at = now() - interval '1 second', finished_at = NULL"
            " WHERE id = (SELECT job_id FROM delivery_import WHERE id = $1)",
            import_id,
        )
        settled_jobs = await queue.take_back_expired(conn, statement_seconds=10)
    (job, status), *_ = [s for s in settled_jobs if s[0].id == r.json()["job_id"]]
    assert status == "failed"
    async with connection() as conn:
        error = await conn.fetchval("SELECT error FROM job WHERE id = $1", job.id)
    assert error.endswith("the import had been committed"), error
    assert (await settled(stores, import_id))["status"] == "committed"
    again = await upload_commit(stores, content)
    assert again.status_code == 201 and again.json()["counts"]["new"] == 0, again.text
    assert await count("SELECT count(*) FROM asset WHERE delivery_import_id = $1", import_id) == 3
