"""The audit trail's hash chain: sealed at commit in commit order, correct under concurrent
writers, never deadlocking, and checked by ``verify_chain``, which names the first event that
an owner changed, deleted or slipped in behind the chain's back.

Each test gets a database of its own (a copy of a migrated template) because several of
them break the chain on purpose."""

from __future__ import annotations

import asyncio
import random

import asyncpg
import pytest

from fleetsvc import audit
from fleetsvc.audit_chain import CANONICAL_SQL, ChainReport, verify_chain
from fleetsvc.auth import Actor
from tests.fleetsvc.audit_db import run_cli

ADMIN = Actor("tests", "admin")


async def write(url: str, n: int = 3, actor: Actor = ADMIN) -> None:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await audit.record_many(
                conn,
                actor,
                [audit.EventRow("vehicle", i, "tested", None, {"n": i}) for i in range(n)],
            )
    finally:
        await conn.close()


async def check(url: str, anchor: bytes | None = None) -> ChainReport:
    conn = await asyncpg.connect(url)
    try:
        return await verify_chain(conn, anchor=anchor)
    finally:
        await conn.close()


async def as_owner(url: str, *statements: str) -> None:
    """Run statements as the tables' owner (the test server's superuser), in one transaction."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for sql in statements:
                await conn.execute(sql)
    finally:
        await conn.close()


async def event_ids(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return [r["id"] for r in await conn.fetch("SELECT id FROM event ORDER BY id")]
    finally:
        await conn.close()


async def chain_order(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT s.seq, u.id, e.actor_name, e.action FROM event_seal s"
            " CROSS JOIN LATERAL unnest(s.event_ids) WITH ORDINALITY AS u(id, n)"
            " JOIN event e ON e.id = u.id ORDER BY s.seq, u.n"
        )
    )


# --- order and concurrency -------------------------------------------------------------------


async def test_the_chain_is_in_commit_order_and_a_transaction_is_one_seal(own_db: str) -> None:
    first, second = await asyncpg.connect(own_db), await asyncpg.connect(own_db)
    try:
        early = first.transaction()
        await early.start()
        await audit.record(first, Actor("early", "admin"), "vehicle", 1, "written_first")
        async with second.transaction():
            await audit.record_many(
                second,
                Actor("late", "admin"),
                [audit.EventRow("vehicle", 2, "written_second", None, {"n": n}) for n in (1, 2)],
            )
        await audit.record(first, Actor("early", "admin"), "vehicle", 1, "written_third")
        await early.commit()
        order = await chain_order(first)
    finally:
        await first.close()
        await second.close()
    # The transaction that committed first is first in the chain, though its ids came later.
    assert [r["action"] for r in order] == [
        "written_second",
        "written_second",
        "written_first",
        "written_third",
    ]
    assert order[0]["id"] > order[2]["id"]
    assert order[0]["seq"] == order[1]["seq"] < order[2]["seq"] == order[3]["seq"]
    report = await check(own_db)
    assert report.ok, report.summary()
    assert report.events_checked == 4 and report.head_event_id == order[-1]["id"]


class Rollback(Exception):
    pass


async def _writer(url: str, w: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """Transactions of every writer kind, interleaved with the other workers'; some roll back,
    and each has a savepoint that rolls back inside it."""
    conn = await asyncpg.connect(url)
    committed: list[str] = []
    dropped: list[str] = []
    try:
        for t in range(10):
            actor = Actor(f"w{w}-t{t}", "admin")
            k = rng.randint(1, 40)
            try:
                async with conn.transaction():
                    await conn.execute("SELECT pg_sleep($1)", rng.random() / 100)
                    kind = t % 3
                    if kind == 0:
                        await audit.record(conn, actor, "vehicle", t, "one", after={"w": w})
                    elif kind == 1:
                        rows = [
                            audit.EventRow("vehicle", i, "many", None, {"i": i}) for i in range(k)
                        ]
                        await audit.record_many(conn, actor, rows)
                    else:
                        await audit.record_from_query(
                            conn,
                            actor,
                            "SELECT 'vehicle' AS entity, g::bigint AS entity_id, 'query' AS action,"
                            " NULL::jsonb AS before, jsonb_build_object('g', g) AS after"
                            " FROM generate_series(1, $1::int) g ORDER BY g",
                            k,
                        )
                    try:
                        async with conn.transaction():  # a savepoint
                            await audit.record(
                                conn, Actor(f"{actor.name}-sp", "admin"), "vehicle", 0, "sp"
                            )
                            raise Rollback
                    except Rollback:
                        pass
                    await conn.execute("SELECT pg_sleep($1)", rng.random() / 100)
                    await audit.record(conn, actor, "vehicle", t, "last")
                    if rng.random() < 0.3:
                        raise Rollback
                committed.append(actor.name)
            except Rollback:
                dropped.append(actor.name)
    finally:
        await conn.close()
    return committed, dropped


async def test_concurrent_writers_some_rolled_back_each_committed_event_chained_once(
    own_db: str,
) -> None:
    rng = random.Random(14)
    results = await asyncio.gather(*(_writer(own_db, w, rng) for w in range(6)))
    committed = {name for c, _ in results for name in c}
    dropped = {name for _, d in results for name in d}
    assert committed and dropped

    report = await check(own_db)
    assert report.ok, report.summary()
    conn = await asyncpg.connect(own_db)
    try:
        written = {
            r["actor_name"] for r in await conn.fetch("SELECT DISTINCT actor_name FROM event")
        }
        times = await conn.fetch(
            "SELECT e.id, count(u.id) AS sealed FROM event e LEFT JOIN"
            " (SELECT unnest(event_ids) AS id FROM event_seal) u ON u.id = e.id GROUP BY e.id"
        )
        # Each committed transaction is one seal: its events together, in id order.
        seals = await conn.fetch(
            "SELECT e.actor_name, array_agg(DISTINCT s.seq) AS seqs,"
            " array_agg(e.id ORDER BY u.n) AS chained, array_agg(e.id ORDER BY e.id) AS by_id"
            " FROM event_seal s CROSS JOIN LATERAL unnest(s.event_ids) WITH ORDINALITY AS u(id, n)"
            " JOIN event e ON e.id = u.id GROUP BY e.actor_name"
        )
        sealed_ids = await conn.fetchval("SELECT sum(cardinality(event_ids)) FROM event_seal")
    finally:
        await conn.close()
    assert written == committed  # nothing rolled back (whole or savepoint) was kept
    assert {r["sealed"] for r in times} == {1}  # every event chained, exactly once
    assert sealed_ids == len(times) == report.events_checked
    for s in seals:
        assert len(s["seqs"]) == 1 and s["chained"] == s["by_id"], s["actor_name"]


async def _until_waiting_for_a_lock(conn: asyncpg.Connection, pid: int) -> None:
    for _ in range(3000):
        waiting = await conn.fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the other transaction never waited for the row lock")


async def test_event_then_row_lock_against_row_lock_then_event_does_not_deadlock(
    own_db: str,
) -> None:
    """T1 writes an event, then wants row B; T2 holds B, then writes an event. A chain lock
    taken at the first event insert would deadlock these two; taken at commit, it cannot."""
    t1c, t2c = await asyncpg.connect(own_db), await asyncpg.connect(own_db)
    try:
        row_b = await t1c.fetchval(
            "INSERT INTO business_unit (code, name) VALUES ('LOCK', 'Row B') RETURNING id"
        )
        t2 = t2c.transaction()
        await t2.start()
        await t2c.execute("SELECT 1 FROM business_unit WHERE id = $1 FOR UPDATE", row_b)
        t1 = t1c.transaction()
        await t1.start()
        await audit.record(t1c, Actor("t1", "admin"), "business_unit", row_b, "t1_first")
        wants_b = asyncio.create_task(
            t1c.execute("SELECT 1 FROM business_unit WHERE id = $1 FOR UPDATE", row_b)
        )
        await _until_waiting_for_a_lock(t2c, t1c.get_server_pid())
        await audit.record(t2c, Actor("t2", "admin"), "business_unit", row_b, "t2_holding_b")
        await t2.commit()
        await wants_b
        await audit.record(t1c, Actor("t1", "admin"), "business_unit", row_b, "t1_after_b")
        await t1.commit()
        order = [r["action"] for r in await chain_order(t1c)]
    finally:
        await t1c.close()
        await t2c.close()
    assert order == ["t2_holding_b", "t1_first", "t1_after_b"]
    assert (await check(own_db)).ok


# --- canonical text --------------------------------------------------------------------------


async def test_canonical_text_is_reproducible_from_the_row_whatever_the_session(
    own_db: str,
) -> None:
    odd = {
        "text": 'naïve “quotes” "x" \\ \n\t\u0001 £289.00 \U0001f693',
        "numbers": [1, 1.5, 10**20, -0.0],
        "nested": {"b": None, "a": [True, False]},
        "": "empty key",
    }
    conn = await asyncpg.connect(own_db)
    try:
        async with conn.transaction():
            await audit.record(
                conn,
                Actor("ünïcode name", "admin", "req-1"),
                "vehicle",
                1,
                "odd",
                before={"x": 1},
                after=odd,
            )
            await audit.record(conn, ADMIN, "vehicle", 2, "bare")
        rows = await conn.fetch(
            f"SELECT event_canonical(e) AS stored, {CANONICAL_SQL} AS ours FROM event e"
        )
        assert rows and all(r["stored"] == r["ours"] for r in rows)
        text = rows[0]["ours"]
        assert text.startswith('[1, "') and text.endswith("}]")
        assert 'Z", "ünïcode name", "admin", "req-1", "vehicle", 1, "odd"' in text
        # Another time zone and date style change nothing the check sees.
        await conn.execute("SET TimeZone = 'Asia/Kolkata'; SET DateStyle = 'SQL, DMY'")
        report = await verify_chain(conn)
    finally:
        await conn.close()
    assert report.ok and report.events_checked == 2, report.summary()


# --- tampering by the owner ------------------------------------------------------------------

EVENT_TRIGGER_OFF = "ALTER TABLE event DISABLE TRIGGER event_no_update_delete"
EVENT_TRIGGER_ON = "ALTER TABLE event ENABLE TRIGGER event_no_update_delete"


async def test_an_event_edited_with_the_trigger_off_is_named(own_db: str) -> None:
    await write(own_db, 5)
    await write(own_db, 5)
    target = (await event_ids(own_db))[6]
    assert (await check(own_db)).ok
    await as_owner(
        own_db,
        EVENT_TRIGGER_OFF,
        f"""UPDATE event SET after = '{{"n": 99}}' WHERE id = {target}""",
        EVENT_TRIGGER_ON,
    )
    report = await check(own_db)
    assert not report.ok
    assert report.first_break is not None and report.first_break.event_id == target
    assert "does not match" in report.first_break.problem
    assert report.events_checked == 6  # every event before it still matched


async def test_a_deleted_event_is_named(own_db: str) -> None:
    await write(own_db, 4)
    target = (await event_ids(own_db))[1]
    await as_owner(
        own_db, EVENT_TRIGGER_OFF, f"DELETE FROM event WHERE id = {target}", EVENT_TRIGGER_ON
    )
    report = await check(own_db)
    assert report.first_break is not None and report.first_break.event_id == target
    assert "deleted" in report.first_break.problem


async def test_an_event_written_with_triggers_off_is_named(own_db: str) -> None:
    await write(own_db, 2)
    await as_owner(
        own_db,
        "ALTER TABLE event DISABLE TRIGGER USER",
        "INSERT INTO event (actor_name, actor_role, entity, entity_id, action)"
        " VALUES ('ghost', 'admin', 'vehicle', 1, 'slipped_in')",
        "ALTER TABLE event ENABLE TRIGGER USER",
    )
    await write(own_db, 2)
    ghost = (await event_ids(own_db))[2]
    report = await check(own_db)
    assert report.first_break is not None and report.first_break.event_id == ghost
    assert "not in the chain" in report.first_break.problem


async def test_removed_seals_are_found(own_db: str) -> None:
    for _ in range(3):
        await write(own_db, 2)
    seal_off = "ALTER TABLE event_seal DISABLE TRIGGER USER"
    await as_owner(own_db, seal_off, "DELETE FROM event_seal WHERE seq = 2")
    report = await check(own_db)
    assert (
        report.first_break is not None
        and "skips from seal 1 to seal 3" in report.first_break.problem
    )


async def test_a_removed_last_seal_with_its_events_is_found_by_the_head(own_db: str) -> None:
    for _ in range(3):
        await write(own_db, 2)
    last_two = (await event_ids(own_db))[-2:]
    await as_owner(
        own_db,
        "ALTER TABLE event_seal DISABLE TRIGGER USER",
        EVENT_TRIGGER_OFF,
        "DELETE FROM event_seal WHERE seq = 3",
        f"DELETE FROM event WHERE id IN ({last_two[0]}, {last_two[1]})",
    )
    report = await check(own_db)
    assert report.first_break is not None and "head" in report.first_break.problem


async def test_a_rewritten_and_rehashed_history_is_caught_by_an_anchor(own_db: str) -> None:
    """An owner who recomputes every hash after their change leaves a chain that holds
    together; a head hash kept elsewhere from before (the anchor) shows the rewrite."""
    await write(own_db, 3)
    anchor = await check(own_db)
    await write(own_db, 3)
    later = await check(own_db, bytes.fromhex(anchor.head_hash))
    assert later.ok and later.anchor_event_id == anchor.head_event_id

    target = (await event_ids(own_db))[0]
    await as_owner(
        own_db,
        "ALTER TABLE event_seal DISABLE TRIGGER USER",
        "ALTER TABLE event_chain_head DISABLE TRIGGER USER",
        EVENT_TRIGGER_OFF,
        f"""UPDATE event SET after = '{{"forged": true}}' WHERE id = {target}""",
        "DELETE FROM event_seal",
        "INSERT INTO event_seal SELECT 1, array_agg(e.id ORDER BY e.id),"
        " event_chain(decode(repeat('00', 32), 'hex'),"
        " array_agg(sha256(convert_to(event_canonical(e), 'UTF8')) ORDER BY e.id)) FROM event e",
        "UPDATE event_chain_head SET seq = 1, events = (SELECT count(*) FROM event),"
        " hash = (SELECT hashes[cardinality(hashes)] FROM event_seal)",
    )
    assert (await check(own_db)).ok  # consistent in itself...
    caught = await check(own_db, bytes.fromhex(anchor.head_hash))
    assert not caught.ok and caught.first_break is not None  # ...but not the history we saw
    assert "anchor" in caught.first_break.problem


# --- the command -----------------------------------------------------------------------------


async def test_the_command_summarises_a_sound_chain_and_names_a_broken_one(own_db: str) -> None:
    await write(own_db, 4)
    code, out, err = await run_cli(own_db, "audit", "verify")
    assert code == 0, err
    [line] = out.strip().splitlines()
    head = (await check(own_db)).head_hash
    assert line.startswith("audit trail verified: 4 events checked, head ") and head in line
    assert " s" in line  # the time it took

    code, out, err = await run_cli(own_db, "audit", "verify", "--anchor", head)
    assert code == 0 and "anchor found" in out, err

    target = (await event_ids(own_db))[2]
    await as_owner(
        own_db,
        EVENT_TRIGGER_OFF,
        f"UPDATE event SET action = 'edited' WHERE id = {target}",
        EVENT_TRIGGER_ON,
    )
    code, out, err = await run_cli(own_db, "audit", "verify")
    assert code == 1
    assert f"broken at event {target}" in err and "Traceback" not in err

    code, out, err = await run_cli(own_db, "audit", "verify", "--anchor", "nothex")
    assert code == 2 and "64 hex digits" in err


async def test_events_are_refused_in_a_repeatable_read_transaction_at_once(own_db: str) -> None:
    """Its snapshot could not see the chain's latest head at commit; refusing at the first
    event makes that plain every time, rather than a failed commit now and then."""
    conn = await asyncpg.connect(own_db)
    try:
        with pytest.raises(asyncpg.FeatureNotSupportedError, match="READ COMMITTED"):
            async with conn.transaction(isolation="repeatable_read"):
                await audit.record(conn, ADMIN, "vehicle", 1, "too_isolated")
    finally:
        await conn.close()
    assert (await check(own_db)).events_checked == 0


async def test_an_event_written_in_replica_mode_is_still_chained(own_db: str) -> None:
    """``session_replication_role = replica`` (open to a superuser) turns ordinary triggers
    off; the chain's fire always."""
    await as_owner(
        own_db,
        "SET LOCAL session_replication_role = replica",
        "INSERT INTO event (actor_name, actor_role, entity, entity_id, action)"
        " VALUES ('replica', 'admin', 'vehicle', 1, 'replicated')",
    )
    report = await check(own_db)
    assert report.ok and report.events_checked == 1, report.summary()
