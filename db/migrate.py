"""Applying migrations: serialised by an advisory lock so that N replicas (or a
CLI and a server) starting together apply each migration exactly once."""

from __future__ import annotations

import contextlib
import io

import asyncpg
from piccolo.apps.migrations.commands.base import BaseMigrationManager
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.conf.apps import Finder

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


async def migrate() -> list[str]:
    """Apply every pending migration to the engine's database; return the IDs applied."""
    from db.engine import get_engine

    lock_conn = await asyncpg.connect(get_engine().config["dsn"])
    try:
        await lock_conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        try:
            pending = await pending_migrations(lock_conn)
            if not pending:
                return []
            out = io.StringIO()
            # Piccolo prints progress with emoji; our caller logs a summary instead.
            with contextlib.redirect_stdout(out):
                result = await run_forwards(app_name="db", migration_id="all")
            if not result.success:
                raise MigrationError(f"migration failed: {result.message or out.getvalue()[-500:]}")
            return pending
        finally:
            await lock_conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    finally:
        await lock_conn.close()
