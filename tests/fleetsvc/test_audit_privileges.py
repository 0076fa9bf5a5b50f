"""The chain and the personal values as the service's own database role will see them: a role
that owns nothing, with SELECT and INSERT on events. It writes events (and they are sealed),
checks the chain, and forgets people through the one function for it; it cannot write the
chain or change a personal value, not even after a careless broad GRANT, and a temporary table
of its own cannot stand in for one of the chain's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from fleetsvc import audit
from fleetsvc.audit_chain import verify_chain
from fleetsvc.auth import Actor

ACTOR = Actor("service", "admin")

# What the service needs for the audit trail (the least-privilege migration grants these).
SERVICE_GRANTS = (
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT, INSERT ON event TO {role}",
    "GRANT USAGE ON SEQUENCE event_id_seq TO {role}",
    "GRANT SELECT, INSERT ON created_record TO {role}",
    "GRANT SELECT, INSERT ON created_item TO {role}",
    "GRANT SELECT ON event_history TO {role}",
    "GRANT SELECT, INSERT ON personal_value TO {role}",
    "GRANT USAGE ON SEQUENCE personal_value_id_seq TO {role}",
    "GRANT SELECT, INSERT ON person TO {role}",
    "GRANT USAGE ON SEQUENCE person_id_seq TO {role}",
)


@dataclass
class Service:
    conn: asyncpg.Connection
    owner: asyncpg.Connection
    role: str


@pytest.fixture
async def service(own_db: str) -> AsyncIterator[Service]:
    role = f"fleetsvc_t_{uuid.uuid4().hex[:8]}"
    owner = await asyncpg.connect(own_db)
    await owner.execute(f"CREATE ROLE {role} LOGIN")
    try:
        for grant in SERVICE_GRANTS:
            await owner.execute(grant.format(role=role))
        conn = await asyncpg.connect(own_db, user=role)
        try:
            yield Service(conn, owner, role)
        finally:
            await conn.close()
    finally:
        await owner.execute(f"DROP OWNED BY {role}")
        await owner.execute(f"DROP ROLE {role}")
        await owner.close()


async def _refused(conn: asyncpg.Connection, sql: str) -> str:
    with pytest.raises(asyncpg.InsufficientPrivilegeError) as exc:
        await conn.execute(sql)
    return str(exc.value)


async def test_the_service_role_writes_sealed_events_and_checks_the_chain(
    service: Service,
) -> None:
    async with service.conn.transaction():
        person = await service.conn.fetchval(
            "INSERT INTO person (employee_number, upn, display_name, kind)"
            " VALUES ('E1', 'a.b@force.example', 'A B', 'officer') RETURNING id"
        )
        await audit.record(
            service.conn, ACTOR, "person", person, "created", after={"display_name": "A B"}
        )
        await audit.record_many(
            service.conn,
            ACTOR,
            [audit.EventRow("asset", 1, "x", None, {"mdm_user_upn": "a.b@force.example"})],
        )
    report = await verify_chain(service.conn)
    assert report.ok and report.events_checked == 2, report.summary()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE event_chain_head SET seq = 0",
        "INSERT INTO event_seal VALUES (99, '{1}', ARRAY['\\x00'::bytea])",
        "DELETE FROM event_seal",
        "TRUNCATE event_seal",
        "INSERT INTO event_pending VALUES (pg_current_xact_id(), '{1}', ARRAY['\\x00'::bytea])",
        "UPDATE personal_value SET value = 'someone else'",
        "DELETE FROM personal_value",
        "TRUNCATE personal_value",
        "SELECT audit_forget_person(1, 'P-1', 'x', 'admin', NULL)",
        "SELECT audit_forget_free_text('{1}', '{P-1}')",
    ],
)
async def test_the_service_role_may_not_write_the_chain_or_personal_values(
    service: Service, sql: str
) -> None:
    await _refused(service.conn, sql)


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("UPDATE event_chain_head SET seq = 0", "only by the audit trail's own functions"),
        (
            "INSERT INTO event_seal VALUES (99, '{1}', ARRAY['\\x00'::bytea])",
            "only by the audit trail",
        ),
        ("UPDATE event_seal SET seq = seq", "append-only"),
        ("DELETE FROM event_seal", "append-only"),
        ("TRUNCATE event_seal", "append-only"),
        ("DELETE FROM event_chain_head", "append-only"),
        (
            "INSERT INTO event_pending VALUES (pg_current_xact_id(), '{1}', ARRAY['\\x00'::bytea])",
            "only by",
        ),
        ("UPDATE personal_value SET value = 'someone else'", "can only be erased"),
        ("UPDATE personal_value SET value = NULL, forgotten_at = now()", "can only be erased"),
        ("DELETE FROM personal_value", "append-only"),
        ("TRUNCATE personal_value", "append-only"),
    ],
)
async def test_a_broad_grant_still_does_not_open_them(
    service: Service, sql: str, says: str
) -> None:
    async with service.conn.transaction():
        await audit.record_many(
            service.conn,
            ACTOR,
            [audit.EventRow("asset", 1, "x", None, {"mdm_user_upn": "u@x.example"})],
        )
    await service.owner.execute(
        "GRANT ALL ON event_seal, event_chain_head, event_pending, personal_value"
        f" TO {service.role}"
    )
    assert says in await _refused(service.conn, sql)
    assert (await verify_chain(service.conn)).ok


async def test_forgetting_goes_through_its_function_only(service: Service) -> None:
    async with service.conn.transaction():
        person = await service.conn.fetchval(
            "INSERT INTO person (employee_number, upn, display_name, kind)"
            " VALUES ('E2', 'c.d@force.example', 'C D', 'staff') RETURNING id"
        )
        await audit.record(
            service.conn, ACTOR, "person", person, "created", after={"upn": "c.d@force.example"}
        )
    await service.owner.execute(
        "GRANT EXECUTE ON FUNCTION audit_forget_person(integer, text, text, text, text),"
        f" audit_forget_free_text(integer[], text[]) TO {service.role}"
    )
    async with service.conn.transaction():
        assert await audit.forget_personal_data(service.conn, ACTOR, person, "P-0002") == 1
    left = await service.conn.fetch("SELECT value, pseudonym FROM personal_value")
    assert [(r["value"], r["pseudonym"]) for r in left] == [(None, "P-0002")]
    assert (await verify_chain(service.conn)).ok


async def test_a_temporary_table_cannot_stand_in_for_the_chains_own(service: Service) -> None:
    """SECURITY DEFINER functions look in pg_temp last: a caller's temporary event_pending
    or event_chain_head is never the one they write."""
    await service.conn.execute(
        "CREATE TEMP TABLE event_pending (txid xid8, event_ids bigint[], digests bytea[]);"
        "CREATE TEMP TABLE event_chain_head (singleton boolean, seq bigint, events bigint,"
        " hash bytea)"
    )
    async with service.conn.transaction():
        await audit.record(service.conn, ACTOR, "vehicle", 1, "while_hijacking")
    assert await service.conn.fetchval("SELECT count(*) FROM pg_temp.event_pending") == 0
    report = await verify_chain(service.conn)
    assert report.ok and report.events_checked == 1, report.summary()


async def test_a_temporary_table_cannot_stand_in_for_forgettings_own(service: Service) -> None:
    """``audit_forget_free_text`` keeps its lists in temporary tables: one the caller made
    first under the same name (a trigger on it would run as the function's owner) is
    refused, not used."""
    await service.owner.execute(
        f"GRANT EXECUTE ON FUNCTION audit_forget_free_text(integer[], text[]) TO {service.role}"
    )
    assert await service.conn.fetchval("SELECT audit_forget_free_text('{1}', '{P-1}')") == 0
    owner = await service.owner.fetchval("SELECT current_user")
    await service.conn.execute(
        "CREATE TEMP TABLE forget_target (person_id integer, pseudonym text);"
        "CREATE TEMP TABLE forget_known (person_id integer, pseudonym text, v text);"
        "CREATE TEMP TABLE forget_words (v text, word text);"
        "CREATE TEMP TABLE forget_tokens (id bigint, word text);"
        "GRANT ALL ON pg_temp.forget_target, pg_temp.forget_known, pg_temp.forget_words,"
        f" pg_temp.forget_tokens TO {owner}"
    )
    says = await _refused(service.conn, "SELECT audit_forget_free_text('{1}', '{P-1}')")
    assert "not its own" in says
