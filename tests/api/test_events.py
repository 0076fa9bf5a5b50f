"""The audit trail: every write is an event, and no path can change one."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from db.engine import connection, transaction
from fleetsvc import audit
from fleetsvc.auth import Actor
from tests.conftest import ClientFactory, Databases, unique


async def test_token_creation_is_an_event_with_actor_and_request_id(
    admin: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    name = unique("ev-")
    r = await admin.post(
        "/api/v1/tokens",
        json={"name": name, "role": "finance"},
        headers={"X-Request-ID": f"req-{name}"},
    )
    token_id = r.json()["id"]
    auditor = await client_for("auditor")
    resp = await auditor.get(f"/api/v1/events?entity=api_token&entity_id={token_id}")
    assert resp.status_code == 200, resp.text
    [event] = resp.json()["items"]
    assert event["action"] == "created"
    assert event["actor_role"] == "admin"
    assert event["request_id"] == f"req-{name}"
    assert event["after"] == {"name": name, "role": "finance"}
    assert "token" not in str(event).replace("api_token", "")


async def test_events_paginate_with_cursor(client_for: ClientFactory) -> None:
    auditor = await client_for("auditor")
    first = (await auditor.get("/api/v1/events?limit=1")).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = (await auditor.get(f"/api/v1/events?limit=1&cursor={first['next_cursor']}")).json()
    assert second["items"][0]["id"] > first["items"][0]["id"]


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "cursor=not-ours", "limit=abc"])
async def test_bad_paging_is_4xx(client_for: ClientFactory, query: str) -> None:
    auditor = await client_for("auditor")
    r = await auditor.get(f"/api/v1/events?{query}")
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_only_auditor_and_admin_read_events(client_for: ClientFactory) -> None:
    for role, status in [
        ("auditor", 200),
        ("admin", 200),
        ("engineer", 403),
        ("stores", 403),
        ("finance", 403),
        ("mdm", 403),
    ]:
        c = await client_for(role)
        assert (await c.get("/api/v1/events?limit=1")).status_code == status, role


@pytest.mark.parametrize(
    "sql", ["UPDATE event SET action = 'x'", "DELETE FROM event", "TRUNCATE event"]
)
async def test_database_refuses_changing_events(
    admin: httpx.AsyncClient, databases: Databases, sql: str
) -> None:
    """Even the tables' owner is refused, by the trigger (the service's role has no right
    to try: tests/db/test_privileges.py)."""
    await admin.post("/api/v1/tokens", json={"name": unique(), "role": "auditor"})
    conn = await asyncpg.connect(databases.owner)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute(sql)
    finally:
        await conn.close()


async def test_events_of_one_transaction_carry_its_time(app: object) -> None:
    """One event written alone and two in bulk, in one transaction, some time after it began:
    all three carry the transaction's time (the database's clock), so a history never puts a
    bulk change out of order against the change made with it."""
    actor = Actor(name=unique("clock-"), role="admin")
    async with transaction() as conn:
        started = await conn.fetchval("SELECT now()")
        await conn.execute("SELECT pg_sleep(0.05)")
        await audit.record(conn, actor, "vehicle", 1, "clock-one")
        written = await audit.record_many(
            conn,
            actor,
            [audit.EventRow("vehicle", n, "clock-bulk", None, {"n": n}) for n in (2, 3)],
        )
    assert written == 2
    async with connection() as conn:
        times = await conn.fetch(
            "SELECT action, occurred_at FROM event WHERE actor_name = $1 ORDER BY id", actor.name
        )
    assert [t["action"] for t in times] == ["clock-one", "clock-bulk", "clock-bulk"]
    assert {t["occurred_at"] for t in times} == {started}


async def test_verify_walks_the_chain_and_says_where_it_stands(
    admin: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    await admin.post("/api/v1/tokens", json={"name": unique("chain-"), "role": "auditor"})
    auditor = await client_for("auditor")
    r = await auditor.get("/api/v1/events/verify")
    assert r.status_code == 200, r.text
    check = r.json()
    assert check["ok"] is True and check["first_break"] is None
    assert check["events_checked"] >= 1 and len(check["head_hash"]) == 64
    assert check["summary"].startswith(f"audit trail verified: {check['events_checked']:,} events")
    async with connection() as conn:
        last = await conn.fetchval("SELECT max(id) FROM event")
        head = await conn.fetchval("SELECT encode(hash, 'hex') FROM event_chain_head")
    assert (check["head_event_id"], check["head_hash"]) == (last, head)

    # A later check still passes through an earlier head; an unknown one is reported.
    await admin.post("/api/v1/tokens", json={"name": unique("chain-"), "role": "auditor"})
    later = (await auditor.get(f"/api/v1/events/verify?anchor={check['head_hash']}")).json()
    assert later["ok"] and later["anchor_event_id"] == check["head_event_id"]
    assert later["events_checked"] > check["events_checked"]
    unknown = (await admin.get(f"/api/v1/events/verify?anchor={'ab' * 32}")).json()
    assert unknown["ok"] is False and "anchor" in unknown["first_break"]["problem"]


@pytest.mark.parametrize("anchor", ["xyz", "ab" * 31, "ab" * 33, "g" * 64])
async def test_verify_refuses_an_anchor_that_is_not_a_head_hash(
    client_for: ClientFactory, anchor: str
) -> None:
    auditor = await client_for("auditor")
    r = await auditor.get(f"/api/v1/events/verify?anchor={anchor}")
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "anchor" in r.text
