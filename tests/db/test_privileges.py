"""Least privilege: the service's role owns nothing, is no superuser, and is refused every
way of rewriting the audit trail; new tables get its rights with no line of their own; a
database an earlier version made as the superuser is handed to the owner role."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from db.embedded import drop_database, ensure_database, with_database
from db.migrate import MigrationError, migrate
from db.privileges import prepare_roles, review
from fleetsvc import audit
from fleetsvc.auth import Actor
from tests.conftest import TEST_OWNER, TEST_SERVICE, Databases

pytestmark = pytest.mark.usefixtures("databases")


@pytest.fixture
def least_privilege(databases: Databases) -> Databases:
    if not databases.least_privilege:
        pytest.skip("the test server's URL is not a superuser's: the suite runs on one role")
    return databases


@pytest.fixture
async def as_service(least_privilege: Databases) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(least_privilege.service)
    try:
        yield conn
    finally:
        await conn.close()


REFUSED = [
    "SET session_replication_role = replica",
    "ALTER TABLE event DISABLE TRIGGER USER",
    "UPDATE event SET action = 'rewritten'",
    "DELETE FROM event",
    "TRUNCATE event",
    "ALTER TABLE created_record DISABLE TRIGGER USER",
    "UPDATE created_record SET imei = NULL",
    "DELETE FROM created_record",
    "TRUNCATE created_record",
    # No longer written (created_item is): a record added now would only stand beside a seal.
    "INSERT INTO created_record (event_id, actor_name, actor_role, entity, entity_id,"
    " delivery_import_id, model_id, serial_number) VALUES (1, 'x', 'admin', 'asset', 1, 1, 1, 'x')",
    "ALTER TABLE created_item DISABLE TRIGGER USER",
    "UPDATE created_item SET imei = NULL",
    "DELETE FROM created_item",
    "TRUNCATE created_item",
    # Its partitions: nothing of their own, not even SELECT (read through created_item).
    "SELECT id FROM created_item_sim",
    "INSERT INTO created_item_bare (event_id, actor_name, actor_role, delivery_import_id,"
    " asset_id, model_id, serial_number) VALUES (1, 'x', 'admin', 1, 1, 1, 'x')",
    "UPDATE created_item_sim SET msisdn = NULL",
    "DELETE FROM created_item_bare",
    "TRUNCATE created_item_sim",
    "DROP TABLE event",
    "DROP TABLE asset",
    "CREATE TABLE service_made (id integer)",
    "CREATE FUNCTION service_made() RETURNS integer LANGUAGE sql AS 'SELECT 1'",
    "TRUNCATE asset",
]


@pytest.mark.parametrize("sql", REFUSED)
async def test_the_service_role_is_refused(as_service: asyncpg.Connection, sql: str) -> None:
    """Each is refused for want of a privilege (42501), before any trigger is reached; in a
    transaction rolled back whatever happens, so a failure here changes nothing."""
    tx = as_service.transaction()
    await tx.start()
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError) as refused:
            await as_service.execute(sql)
        assert "append-only" not in str(refused.value)
    finally:
        await tx.rollback()


async def test_the_service_role_owns_nothing_and_is_no_superuser(
    as_service: asyncpg.Connection, least_privilege: Databases
) -> None:
    role = await as_service.fetchrow(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles"
        " WHERE rolname = current_user"
    )
    assert role is not None and not any(role.values())
    owned = await as_service.fetchval(
        "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner"
        " WHERE r.rolname = current_user AND c.relpersistence <> 't'"
    )
    assert owned == 0
    assert await review(as_service, TEST_SERVICE, TEST_OWNER) == []


async def test_the_owner_owns_every_object_of_ours(least_privilege: Databases) -> None:
    conn = await asyncpg.connect(least_privilege.owner)
    try:
        owners = await conn.fetch(
            "SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class"
            " WHERE relnamespace = 'public'::regnamespace"
        )
    finally:
        await conn.close()
    assert [r["owner"] for r in owners] == [TEST_OWNER]


async def test_a_table_a_new_migration_adds_gets_the_service_rights(
    least_privilege: Databases, as_service: asyncpg.Connection
) -> None:
    """Made by the owner and then the policy, as a migration run does: nobody has to
    remember a GRANT (``db.privileges``)."""
    table = f"added_{uuid.uuid4().hex[:8]}"
    owner = await asyncpg.connect(least_privilege.owner)
    try:
        await owner.execute(f"CREATE TABLE {table} (id serial PRIMARY KEY, note text)")
        try:
            assert await migrate(least_privilege.owner) == []  # nothing pending; the policy
            await as_service.execute(f"INSERT INTO {table} (note) VALUES ('a')")
            await as_service.execute(f"UPDATE {table} SET note = 'b'")
            await as_service.execute(f"DELETE FROM {table}")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await as_service.execute(f"TRUNCATE {table}")
            assert await review(as_service, TEST_SERVICE, TEST_OWNER) == []
        finally:
            await owner.execute(f"DROP TABLE {table}")
    finally:
        await owner.close()


async def test_a_database_made_by_an_earlier_version_is_handed_to_the_owner(
    least_privilege: Databases,
) -> None:
    """Everything made as the superuser (as every version before the two roles did) goes
    to the owner role, and the service then works as its own role."""
    name = f"fleetsvc_old_{uuid.uuid4().hex[:8]}"
    await ensure_database(least_privilege.admin, name)
    superuser = with_database(least_privilege.admin, name)
    try:
        await migrate(superuser, superuser)  # the old way: one superuser for everything
        conn = await asyncpg.connect(superuser)
        try:
            await prepare_roles(conn, TEST_OWNER, TEST_SERVICE)
            stray = await conn.fetch(
                "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace"
                " AND pg_get_userbyid(c.relowner) <> $1"
                " UNION ALL SELECT p.proname FROM pg_proc p"
                " WHERE p.pronamespace = 'public'::regnamespace"
                " AND pg_get_userbyid(p.proowner) <> $1",
                TEST_OWNER,
            )
        finally:
            await conn.close()
        assert stray == []
        db = least_privilege
        service = db.url(name, TEST_SERVICE)
        assert await migrate(db.url(name, TEST_OWNER), service) == []
        conn = await asyncpg.connect(service)
        try:
            assert await review(conn, TEST_SERVICE, TEST_OWNER) == []
            async with conn.transaction():
                await audit.record(conn, Actor("tests", "admin"), "vehicle", 1, "created")
        finally:
            await conn.close()
    finally:
        await drop_database(least_privilege.admin, name)


async def test_the_two_urls_must_name_one_database(least_privilege: Databases) -> None:
    elsewhere = least_privilege.url("postgres", TEST_OWNER)
    with pytest.raises(MigrationError, match="must name the same database"):
        await migrate(elsewhere, least_privilege.service)


def test_one_url_for_both_roles_is_one_warning_at_start(least_privilege: Databases) -> None:
    exe = Path(sys.executable).parent / "fleetsvc"
    env = {k: v for k, v in os.environ.items() if k != "FLEETSVC_MIGRATION_DATABASE_URL"}
    env |= {"DATABASE_URL": least_privilege.service, "FLEETSVC_LOG_FORMAT": "console"}
    result = subprocess.run(
        [str(exe), "db", "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warn" in line.lower()]
    assert len(warnings) == 1, result.stderr
    assert "FLEETSVC_MIGRATION_DATABASE_URL" in warnings[0]
