"""Applying migrations: as the owner role, then the privilege policy for the service's
role, serialised by an advisory lock so that N replicas (or a CLI and a server) starting
together apply each migration exactly once."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import asyncpg
from piccolo.apps.migrations.commands.base import BaseMigrationManager
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.conf.apps import Finder
from piccolo.engine.postgres import PostgresEngine

from db.privileges import apply_policy

# Any fixed 64-bit number; it names the lock in pg_locks.
MIGRATION_LOCK_KEY = 0x666C656574737663  # "fleetsvc"


class MigrationError(Exception):
    """A migration failed; the message says which and why."""


def known_migration_ids() -> set[str]:
    app_config = Finder().get_app_config("db")
    modules = BaseMigrationManager().get_migration_modules(str(app_config.migrations_folder_path))
    return set(modules)


async def applied_migration_ids(conn: asyncpg.Connection) -> set[str]:
    exists = await conn.fetchval("SELECT to_regclass('public.migration') IS NOT NULL")
    if not exists:
        return set()
    rows = await conn.fetch("SELECT name FROM migration WHERE app_name = 'db'")
    return {r["name"] for r in rows}


async def pending_migrations(conn: asyncpg.Connection) -> list[str]:
    return sorted(known_migration_ids() - await applied_migration_ids(conn))


async def migrate(owner_url: str | None = None, service_url: str | None = None) -> list[str]:
    """Apply every pending migration as the role of ``owner_url``, then the privilege
    policy for the service's role if that is another; return the IDs applied.

    ``service_url`` defaults to the engine's (DATABASE_URL), ``owner_url`` to the service's:
    one role for both, and no policy to apply.
    """
    from db.engine import get_engine

    engine = get_engine()
    service_url = service_url or engine.config["dsn"]
    assert service_url is not None
    lock_conn = await asyncpg.connect(owner_url or service_url)
    try:
        service_role = await _service_role(lock_conn, service_url, owner_url)
        await lock_conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        try:
            pending = await pending_migrations(lock_conn)
            if pending:
                await _run_pending(engine, owner_url or service_url)
            if service_role is not None:
                async with lock_conn.transaction():
                    await apply_policy(lock_conn, service_role)
            return pending
        finally:
            await lock_conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    finally:
        await lock_conn.close()


async def _service_role(
    owner: asyncpg.Connection, service_url: str, owner_url: str | None
) -> str | None:
    """The service's role, when it is not the owner's; the two URLs must name one database."""
    if owner_url is None or owner_url == service_url:
        return None
    who = "SELECT current_user::text, current_database()::text"
    service = await asyncpg.connect(service_url)
    try:
        role, database = tuple(await service.fetchrow(who) or ())
    finally:
        await service.close()
    owner_role, owner_database = tuple(await owner.fetchrow(who) or ())
    if database != owner_database:
        raise MigrationError(
            f"FLEETSVC_MIGRATION_DATABASE_URL names database {owner_database!r} and "
            f"DATABASE_URL names {database!r}: they must name the same database"
        )
    return None if role == owner_role else str(role)


async def _run_pending(engine: PostgresEngine, owner_url: str) -> None:
    out = io.StringIO()
    # Piccolo prints progress with emoji; our caller logs a summary instead.
    with contextlib.redirect_stdout(out), _connecting_as(engine, owner_url):
        result = await run_forwards(app_name="db", migration_id="all")
    if not result.success:
        raise MigrationError(f"migration failed: {result.message or out.getvalue()[-500:]}")


@contextlib.contextmanager
def _connecting_as(engine: PostgresEngine, url: str) -> Iterator[None]:
    """Piccolo's runner takes the engine of ``piccolo_conf``, which is the service's: for
    the run, that engine connects to ``url`` with connections of its own, never through
    the service's pool (the service keeps its pool meanwhile, in ``db.engine``)."""
    dsn, service_pool = engine.config.get("dsn"), engine.pool
    engine.config["dsn"], engine.pool = url, None
    try:
        yield
    finally:
        engine.config["dsn"], engine.pool = dsn, service_pool
