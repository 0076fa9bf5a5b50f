"""Imports committed as jobs over HTTP: 202 with ``Prefer: respond-async`` or after the wait,
the answer of today when the job ends in time, one job for two commits, and cancelling."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from fleetsvc.imports import commit_jobs
from fleetsvc.imports.evaluate import APPLY_LOCK
from fleetsvc.jobs.worker import own_worker
from fleetsvc.settings import get_settings
from tests.api.test_imports import count, csv_bytes, handset, order
from tests.conftest import ClientFactory

ASYNC = {"Prefer": "respond-async"}


@asynccontextmanager
async def apply_lock_held(database_url: str) -> AsyncIterator[None]:
    """Hold the imports' apply lock (on a connection of its own): a commit waits for it
    inside its transaction until the block ends."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", APPLY_LOCK)
        yield
    finally:
        await conn.close()


async def upload_commit(
    client: httpx.AsyncClient, content: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(
        "/api/v1/imports",
        files={"file": ("despatch.csv", content, "text/csv")},
        data={"profile": "vodafone-despatch", "mode": "commit"},
        headers=headers or {},
    )


async def settled(client: httpx.AsyncClient, import_id: int, within: float = 60) -> dict[str, Any]:
    """The import once it is no longer running (its job has ended)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        r = await client.get(f"/api/v1/imports/{import_id}")
        assert r.status_code == 200, r.text
        item: dict[str, Any] = r.json()
        if item["status"] != "running" and item["phase"] is None:
            return item
        assert loop.time() < deadline, item
        await asyncio.sleep(0.05)


async def previewed(client: httpx.AsyncClient) -> int:
    """A previewed delivery of three new handsets; its import id."""
    o = await order()
    preview = await client.post(
        "/api/v1/imports",
        files={"file": ("d.csv", csv_bytes([handset(o) for _ in range(3)]), "text/csv")},
        data={"profile": "vodafone-despatch"},
    )
    assert preview.status_code == 201, preview.text
    import_id: int = preview.json()["id"]
    return import_id


async def job_of(client: httpx.AsyncClient, job_id: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/jobs/{job_id}")
    assert r.status_code == 200, r.text
    job: dict[str, Any] = r.json()
    return job


async def test_respond_async_answers_202_at_once_and_the_import_commits(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    o = await order()
    rows = [handset(o) for _ in range(3)]
    r = await upload_commit(stores, csv_bytes(rows), ASYNC)
    assert r.status_code == 202, r.text
    body = r.json()
    assert r.headers["location"] == f"/api/v1/imports/{body['id']}"
    assert r.headers["preference-applied"] == "respond-async"
    assert body["job_id"] is not None and body["status"] == "running"
    done = await settled(stores, body["id"])
    assert done["status"] == "committed" and done["counts"]["new"] == 3
    job = await job_of(stores, body["job_id"])
    assert job["kind"] == "import.commit" and job["status"] == "succeeded"
    assert job["result"] == {"import_id": body["id"], "status": "committed"}


async def test_waiting_answers_as_before_201_upload_and_200_commit(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    o = await order()
    r = await upload_commit(stores, csv_bytes([handset(o) for _ in range(2)]))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "committed" and r.json()["job_id"] is not None
    assert r.headers["location"] == f"/api/v1/imports/{r.json()['id']}"

    preview = await stores.post(
        "/api/v1/imports",
        files={"file": ("d.csv", csv_bytes([handset(o)]), "text/csv")},
        data={"profile": "vodafone-despatch"},
    )
    assert preview.status_code == 201 and preview.json()["job_id"] is None
    r = await stores.post(f"/api/v1/imports/{preview.json()['id']}/commit")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "committed" and r.json()["phase"] is None


async def test_a_commit_longer_than_the_wait_answers_202(
    client_for: ClientFactory, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    stores = await client_for("stores")
    o = await order()
    quick = dataclasses.replace(get_settings(), import_wait_seconds=0.0)
    monkeypatch.setattr("api.imports.get_settings", lambda: quick)
    async with apply_lock_held(database_url):
        r = await upload_commit(stores, csv_bytes([handset(o)]))
        assert r.status_code == 202, r.text
        assert "preference-applied" not in r.headers
    assert (await settled(stores, r.json()["id"]))["status"] == "committed"


async def test_a_second_commit_while_the_first_runs_answers_with_the_same_job(
    client_for: ClientFactory, database_url: str
) -> None:
    stores = await client_for("stores")
    import_id = await previewed(stores)
    async with apply_lock_held(database_url):
        first = await stores.post(f"/api/v1/imports/{import_id}/commit", headers=ASYNC)
        second = await stores.post(f"/api/v1/imports/{import_id}/commit", headers=ASYNC)
        assert (first.status_code, second.status_code) == (202, 202), second.text
        assert first.json()["job_id"] == second.json()["job_id"] is not None
        assert second.json()["status"] == "previewed" and second.json()["phase"] is not None
    done = await settled(stores, import_id)
    assert done["status"] == "committed" and done["counts"]["new"] == 3
    assert await count("SELECT count(*) FROM asset WHERE delivery_import_id = $1", import_id) == 3
    assert (
        await count(
            "SELECT count(*) FROM job WHERE kind = 'import.commit' AND"
            " (payload ->> 'import_id')::int = $1",
            import_id,
        )
        == 1
    )
    again = await stores.post(f"/api/v1/imports/{import_id}/commit")
    assert again.status_code == 200 and again.json()["job_id"] == first.json()["job_id"]


async def test_a_commit_waiting_on_another_requests_job_is_woken_by_its_end(
    client_for: ClientFactory, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    """A second commit (no Prefer) of an import whose commit job the first request runs
    waits for that job's end, woken by its notification (queue.FINISHED_CHANNEL): it never
    looks again by itself here (nor does its wait end), and still answers 200 once the job
    has ended (within a minute; it takes well under a second)."""
    stores = await client_for("stores")
    import_id = await previewed(stores)
    monkeypatch.setattr(commit_jobs, "LOOK_SECONDS", 3600.0)
    waiting = dataclasses.replace(get_settings(), import_wait_seconds=3600.0)
    monkeypatch.setattr("api.imports.get_settings", lambda: waiting)
    ends = own_worker(get_settings())._ends
    async with apply_lock_held(database_url):
        first = await stores.post(f"/api/v1/imports/{import_id}/commit", headers=ASYNC)
        assert first.status_code == 202, first.text
        job_id = first.json()["job_id"]
        second = asyncio.create_task(stores.post(f"/api/v1/imports/{import_id}/commit"))
        for _ in range(600):  # until the second request waits on the job's end
            if job_id in ends or second.done():
                break
            await asyncio.sleep(0.05)
        assert job_id in ends and not second.done()
    r = await asyncio.wait_for(second, 60)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "committed" and r.json()["job_id"] == job_id
    assert job_id not in ends


@pytest.mark.parametrize("previewed", [True, False], ids=["previewed", "upload"])
async def test_a_cancelled_commit_applies_nothing(
    client_for: ClientFactory, previewed: bool, database_url: str
) -> None:
    stores = await client_for("stores")
    o = await order()
    content = csv_bytes([handset(o) for _ in range(3)])
    import_id: int | None = None
    if previewed:
        preview = await stores.post(
            "/api/v1/imports",
            files={"file": ("d.csv", content, "text/csv")},
            data={"profile": "vodafone-despatch"},
        )
        import_id = preview.json()["id"]
    async with apply_lock_held(database_url):
        if import_id is not None:
            r = await stores.post(f"/api/v1/imports/{import_id}/commit", headers=ASYNC)
        else:
            r = await upload_commit(stores, content, ASYNC)
        assert r.status_code == 202, r.text
        import_id, job_id = r.json()["id"], r.json()["job_id"]
        cancel = await stores.post(f"/api/v1/jobs/{job_id}/cancel")
        assert cancel.status_code == 202, cancel.text
    done = await settled(stores, import_id)
    job = await job_of(stores, job_id)
    assert job["status"] == "cancelled", job
    assert await count("SELECT count(*) FROM asset WHERE delivery_import_id = $1", import_id) == 0
    if previewed:
        # Still a preview: it can be committed again.
        assert done["status"] == "previewed"
        r = await stores.post(f"/api/v1/imports/{import_id}/commit")
        assert r.status_code == 200 and r.json()["status"] == "committed", r.text
    else:
        assert done["status"] == "failed" and done["message"].startswith("cancelled")
        staged = "SELECT count(*) FROM import_staged_row WHERE import_id = $1"
        assert await count(staged, import_id) == 0
        r = await upload_commit(stores, content)
        assert r.status_code == 201 and r.json()["status"] == "committed", r.text


async def test_a_commit_refused_before_any_job(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    r = await upload_commit(stores, b"nothing,like,a,despatch\r\n1,2,3,4\r\n")
    assert r.status_code == 422, r.text
    r = await stores.post("/api/v1/imports/999999999/commit")
    assert r.status_code == 404, r.text


async def test_the_202_and_prefer_are_documented(anon: httpx.AsyncClient) -> None:
    spec = (await anon.get("/schema/openapi.json")).json()
    for path in ("/api/v1/imports", "/api/v1/imports/{import_id}/commit"):
        operation = spec["paths"][path]["post"]
        assert "202" in operation["responses"], path
        assert "Prefer" in operation["responses"]["202"]["description"]
        headers = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
        assert "Prefer" in headers, path
