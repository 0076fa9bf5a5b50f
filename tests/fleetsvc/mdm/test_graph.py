"""Pulling the MDM's device list through its Graph API, against a fake Graph server on
127.0.0.1: paging, throttling, retries, and what a failed pull leaves behind."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from db.engine import connection
from fleetsvc.auth import Actor
from fleetsvc.mdm import graph, reconcile, runs
from tests import factories
from tests.api.test_mdm import graph_record
from tests.conftest import unique
from tests.fake_graph import SECRET, TOKEN, FakeGraph, Fault, serving

ACTOR = Actor("tests:mdm-pull", "mdm")


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    fake = FakeGraph(devices=[], page_size=2)
    with serving(fake):
        yield fake


def config(fake: FakeGraph, **kw: Any) -> graph.GraphConfig:
    values: dict[str, Any] = {
        "graph_url": f"{fake.base}/v1.0",
        "token_url": f"{fake.base}/oauth2/token",
        "client_id": "fleetsvc-tests",
        "client_secret": SECRET,
        "timeout_seconds": 2.0,
        "max_retries": 5,
        "backoff_seconds": 0.01,
        **kw,
    }
    return graph.GraphConfig(**values)


class Sleeps:
    """Records how long the client chose to wait, and waits that long."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(seconds)


async def handsets(n: int) -> list[dict[str, Any]]:
    return [await factories.asset() for _ in range(n)]


async def run_row(run_key: str) -> dict[str, Any]:
    async with connection() as conn:
        row = await conn.fetchrow("SELECT * FROM mdm_run WHERE run_key = $1", run_key)
    assert row is not None
    return dict(row)


async def mdm_ids(device_ids: list[str]) -> set[str]:
    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT mdm_device_id FROM mdm_device WHERE mdm_device_id = ANY($1::text[])",
            device_ids,
        )
    return {r["mdm_device_id"] for r in rows}


async def test_pages_are_followed_and_applied_as_one_run(app: object, fake: FakeGraph) -> None:
    assets = await handsets(5)
    fake.devices = [graph_record(serial=a["serial_number"]) for a in assets]
    fake.devices.append(graph_record(serial=unique("STRAY")))
    run_key = unique("pull-")

    run, stats = await graph.pull(ACTOR, config(fake), run_key=run_key)

    assert stats.pages == 3 and stats.devices == 6 and stats.retries == 0
    assert run.source == "pull" and run.status == "closed" and run.batches == 1
    assert run.counts.received == 6 and run.counts.matched == 5 and run.counts.unknown == 1
    # Client credentials: one token, sent to the device list and nowhere else.
    assert fake.tokens_issued == 1
    token_request = fake.requests[0]
    assert token_request.form["grant_type"] == ["client_credentials"]
    assert token_request.form["client_id"] == ["fleetsvc-tests"]
    assert token_request.form["scope"] == [graph.DEFAULT_SCOPE]
    assert "authorization" not in token_request.headers
    first = fake.page_requests()[0]
    assert first.query["$top"] == ["999"]
    assert "serialNumber" in first.query["$select"][0].split(",")
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in fake.page_requests())


async def test_throttling_waits_for_retry_after(app: object, fake: FakeGraph) -> None:
    assets = await handsets(4)
    fake.devices = [graph_record(serial=a["serial_number"]) for a in assets]
    fake.fail(1, Fault(429, retry_after="0.3"))
    sleeps = Sleeps()
    cfg = config(fake)

    run, stats = await graph.pull(
        ACTOR, cfg, run_key=unique("pull-"), client=graph.GraphClient(cfg, sleep=sleeps)
    )

    assert sleeps.waits == [0.3]
    assert stats.retries == 1 and run.status == "closed" and run.counts.matched == 4
    # The retried page was asked for again, after the wait.
    second_page = [r for r in fake.page_requests() if r.query.get("$skiptoken") == ["1"]]
    assert len(second_page) == 2


async def test_server_error_then_success_backs_off(app: object, fake: FakeGraph) -> None:
    assets = await handsets(3)
    fake.devices = [graph_record(serial=a["serial_number"]) for a in assets]
    fake.fail(0, Fault(500), Fault(503))
    sleeps = Sleeps()
    cfg = config(fake, backoff_seconds=0.02)
    client = graph.GraphClient(cfg, sleep=sleeps, jitter=lambda: 0.5)

    run, stats = await graph.pull(ACTOR, cfg, run_key=unique("pull-"), client=client)

    # Exponential: 0.02 then 0.04 (jitter pinned to its middle).
    assert sleeps.waits == pytest.approx([0.02, 0.04])
    assert stats.retries == 2 and run.status == "closed" and run.counts.matched == 3


async def test_timeout_then_success(app: object, fake: FakeGraph) -> None:
    assets = await handsets(2)
    fake.devices = [graph_record(serial=a["serial_number"]) for a in assets]
    fake.fail(0, Fault(200, delay=1.5))
    sleeps = Sleeps()
    cfg = config(fake, timeout_seconds=0.3)

    run, stats = await graph.pull(
        ACTOR, cfg, run_key=unique("pull-"), client=graph.GraphClient(cfg, sleep=sleeps)
    )

    assert len(sleeps.waits) == 1 and stats.retries == 1
    assert run.status == "closed" and run.counts.matched == 2


async def test_retries_exhausted_fails_the_run_keeping_accepted_batches(
    app: object, fake: FakeGraph
) -> None:
    assets = await handsets(6)
    fake.devices = [graph_record(serial=a["serial_number"]) for a in assets]
    fake.always_fail_page = 2
    cfg = config(fake, max_retries=2)
    run_key = unique("pull-")

    with pytest.raises(graph.GraphError) as failed:
        await graph.pull(ACTOR, cfg, run_key=run_key, batch_size=2)

    message = failed.value.message
    assert "page 3" in message and "500" in message and "gave up after 3 attempts" in message
    assert SECRET not in message and TOKEN not in message
    row = await run_row(run_key)
    assert row["status"] == "failed" and row["closed_at"] is None
    run = await _get_run(run_key)
    assert run.error == message
    assert run.counts.received == 4 and run.batches == 2
    ids = [d["id"] for d in fake.devices]
    assert await mdm_ids(ids) == set(ids[:4])  # the third page's devices were not applied
    # A run that did not close marks nothing unseen.
    async with connection() as conn:
        assert await reconcile.not_seen_reference(conn, row["id"]) is None


async def test_unfinished_batch_is_not_applied(app: object, fake: FakeGraph) -> None:
    assets = await handsets(4)
    fake.devices = [graph_record(serial=a["serial_number"]) for a in assets]
    fake.always_fail_page = 1
    cfg = config(fake, max_retries=0)
    run_key = unique("pull-")
    with pytest.raises(graph.GraphError):
        # Pages of 2, batches of 1000: the first page was read but its batch never completed.
        await graph.pull(ACTOR, cfg, run_key=run_key)
    assert await mdm_ids([d["id"] for d in fake.devices]) == set()
    assert (await run_row(run_key))["status"] == "failed"


async def test_a_job_is_told_of_each_batch_inside_its_transaction(
    app: object, fake: FakeGraph
) -> None:
    assets = await handsets(5)
    fake.devices = [graph_record(serial=a["serial_number"]) for a in assets]
    ids = [d["id"] for d in fake.devices]
    told: list[tuple[int, int, int]] = []

    async def on_batch(conn: asyncpg.Connection, run: runs.Run) -> None:
        # The batch is applied in this transaction, not yet committed.
        held = await conn.fetchval(
            "SELECT count(*) FROM mdm_device WHERE mdm_device_id = ANY($1::text[])", ids
        )
        told.append((run.batches, run.counts.received, held))
        if run.batches == 3:
            raise RuntimeError("the job lost its lease")

    run_key = unique("pull-")
    with pytest.raises(RuntimeError):
        await graph.pull(ACTOR, config(fake), run_key=run_key, batch_size=2, on_batch=on_batch)

    assert told == [(1, 2, 2), (2, 4, 4), (3, 5, 5)]
    # What the job could not record was not applied either: the last batch rolled back.
    assert await mdm_ids(ids) == set(ids[:4])
    run = await _get_run(run_key)
    assert run.status == "failed" and run.error == "RuntimeError" and run.batches == 2


async def test_bad_credentials_fail_at_once_without_the_secret(
    app: object, fake: FakeGraph
) -> None:
    cfg = config(fake, client_secret="wrong-secret-value")
    sleeps = Sleeps()
    async with graph.GraphClient(cfg, sleep=sleeps) as client:
        with pytest.raises(graph.GraphError) as failed:
            async for _ in client.managed_devices():
                pass
    assert failed.value.message == "the MDM token request answered 401 (invalid_client)"
    assert sleeps.waits == [] and "wrong-secret-value" not in repr(cfg)


async def test_next_link_to_another_host_is_refused(app: object, fake: FakeGraph) -> None:
    fake.devices = [graph_record(serial=unique("S")) for _ in range(3)]
    fake.next_link_base = "http://evil.example"
    async with graph.GraphClient(config(fake)) as client:
        with pytest.raises(graph.GraphError, match="another host"):
            async for _ in client.managed_devices():
                pass
    assert len(fake.page_requests()) == 1  # the token never went to the other host


def test_config_from_environment() -> None:
    with pytest.raises(graph.GraphConfigError) as missing:
        graph.GraphConfig.from_env({graph.ENV_GRAPH_URL: "https://graph.example/v1.0"})
    assert missing.value.message == (
        "set FLEETSVC_MDM_TOKEN_URL, FLEETSVC_MDM_CLIENT_ID, FLEETSVC_MDM_CLIENT_SECRET"
        " to pull from the MDM"
    )
    env = {
        graph.ENV_GRAPH_URL: "https://graph.example/v1.0/",
        graph.ENV_TOKEN_URL: "https://login.example/tenant/oauth2/v2.0/token",
        graph.ENV_CLIENT_ID: "app-id",
        graph.ENV_CLIENT_SECRET: "very-secret",
        graph.ENV_TIMEOUT: "12.5",
    }
    cfg = graph.GraphConfig.from_env(env)
    assert cfg.graph_url == "https://graph.example/v1.0" and cfg.timeout_seconds == 12.5
    assert cfg.scope == graph.DEFAULT_SCOPE
    assert "very-secret" not in repr(cfg)
    with pytest.raises(graph.GraphConfigError, match="https"):
        graph.GraphConfig.from_env({**env, graph.ENV_TOKEN_URL: "http://login.example/token"})
    with pytest.raises(graph.GraphConfigError, match=graph.ENV_TIMEOUT):
        graph.GraphConfig.from_env({**env, graph.ENV_TIMEOUT: "soon"})


async def _get_run(run_key: str) -> runs.Run:
    async with connection() as conn:
        return await runs.get_run(conn, run_key)
