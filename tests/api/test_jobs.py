"""Jobs over HTTP: each role sees the jobs it may; cancelling a queued, a running and a
finished job; filters and pages."""

from __future__ import annotations

import datetime as dt

import httpx

from db.engine import connection, transaction
from fleetsvc.auth import Actor
from fleetsvc.jobs import queue
from tests.conftest import ClientFactory
from tests.fleetsvc.jobs.helpers import running_worker, wait_for, wait_until

TOMORROW = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


async def _queued(kind: str, payload: dict[str, object], role: str = "admin") -> int:
    """A job queued for tomorrow: no worker of this test run will claim it."""
    async with transaction() as conn:
        job = await queue.enqueue(conn, Actor(f"t-{role}", role), kind, payload, run_after=TOMORROW)
    assert job is not None
    return job.id


async def test_a_job_reads_as_queued_with_its_parts(admin: httpx.AsyncClient) -> None:
    job_id = await _queued("test.record", {"token": "shown"})
    r = await admin.get(f"/api/v1/jobs/{job_id}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "test.record" and body["status"] == "queued"
    assert body["payload"] == {"token": "shown"} and body["attempts"] == 0
    assert body["max_attempts"] == 3 and body["queued_by"] == "t-admin"
    assert body["progress"] == {"phase": None, "counts": {}}
    assert body["lease_owner"] is None and body["error"] is None
    assert (await admin.get("/api/v1/jobs/999999999")).status_code == 404


async def test_each_role_sees_the_jobs_it_may(client_for: ClientFactory) -> None:
    engineers = await _queued("test.record", {"token": "e"}, role="engineer")
    pull = await _queued("mdm.pull", {})  # queued as a schedule queues it (admin)
    for role, sees_engineers, sees_pull in [
        ("admin", True, True),
        ("auditor", True, True),
        ("engineer", True, False),
        ("mdm", False, True),  # the mdm.pull kind names the mdm role
        ("stores", False, False),
    ]:
        client = await client_for(role)
        for job_id, sees in ((engineers, sees_engineers), (pull, sees_pull)):
            r = await client.get(f"/api/v1/jobs/{job_id}")
            assert r.status_code == (200 if sees else 404), (role, job_id, r.text)
        listed = (await client.get("/api/v1/jobs?limit=1000")).json()["items"]
        ids = {j["id"] for j in listed}
        assert (engineers in ids, pull in ids) == (sees_engineers, sees_pull), role


async def test_filters_and_pages(admin: httpx.AsyncClient) -> None:
    first = await _queued("test.record", {"token": "p1"})
    second = await _queued("test.record", {"token": "p2"})
    r = await admin.get("/api/v1/jobs?kind=test.record&status=queued&limit=1")
    assert r.status_code == 200, r.text
    page = r.json()
    assert [j["id"] for j in page["items"]] == [second]  # newest first
    more = await admin.get(
        f"/api/v1/jobs?kind=test.record&status=queued&limit=1&cursor={page['next_cursor']}"
    )
    assert [j["id"] for j in more.json()["items"]] == [first]
    bad = await admin.get("/api/v1/jobs?status=finished")
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        {
            "field": "status",
            "message": "status must be one of: queued, running, succeeded, failed, cancelled",
        }
    ]


async def test_cancelling_a_queued_job_ends_it_at_once_and_a_finished_one_is_a_409(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    job_id = await _queued("test.record", {"token": "c"}, role="stores")
    r = await stores.post(f"/api/v1/jobs/{job_id}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["cancel_requested_at"] is not None
    again = await stores.post(f"/api/v1/jobs/{job_id}/cancel")
    assert again.status_code == 409
    assert again.json()["detail"] == (
        f"job {job_id} is cancelled; only a queued or running job can be cancelled"
    )
    async with connection() as conn:
        event = await conn.fetchrow(
            "SELECT actor_role, action FROM event WHERE entity = 'job' AND entity_id = $1", job_id
        )
    assert event is not None and (event["actor_role"], event["action"]) == ("stores", "cancelled")


async def test_a_role_cannot_cancel_what_it_cannot_see(client_for: ClientFactory) -> None:
    job_id = await _queued("test.record", {"token": "x"}, role="engineer")
    r = await (await client_for("finance")).post(f"/api/v1/jobs/{job_id}/cancel")
    assert r.status_code == 404
    r = await (await client_for("auditor")).post(f"/api/v1/jobs/{job_id}/cancel")
    assert r.status_code == 403


async def test_cancelling_a_running_job_asks_it_to_stop_at_its_next_check(
    admin: httpx.AsyncClient,
) -> None:
    async with running_worker():
        async with transaction() as conn:
            job = await queue.enqueue(
                conn, Actor("t", "admin"), "test.loop", {"steps": 100000, "pause": 0.02}
            )
        assert job is not None
        await wait_for(job.id, "running")
        await wait_until("SELECT progress -> 'counts' <> '{}' FROM job WHERE id = $1", job.id)
        r = await admin.post(f"/api/v1/jobs/{job.id}/cancel")
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "running" and r.json()["cancel_requested_at"]
        done = await wait_for(job.id, "cancelled", "succeeded", "failed")
    assert done.status == "cancelled"
    assert done.error == "cancelled: it stopped at the caller's request"
    assert done.progress["phase"] == "looping"


async def test_the_document_lists_each_answer_of_cancel(admin: httpx.AsyncClient) -> None:
    doc = (await admin.get("/schema/openapi.json")).json()
    cancel = doc["paths"]["/api/v1/jobs/{job_id}/cancel"]["post"]
    assert cancel["operationId"] == "cancelJob"
    assert {"200", "202", "401", "403", "404", "409"} <= set(cancel["responses"])
    listing = doc["paths"]["/api/v1/jobs"]["get"]
    assert listing["operationId"] == "listJobs" and "422" in listing["responses"]
