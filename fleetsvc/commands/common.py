"""What every command shares: settings, the database, the CLI's actor, failing cleanly."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import click

from fleetsvc.auth import Actor
from fleetsvc.errors import FleetError
from fleetsvc.settings import Settings, SettingsError, get_settings
from fleetsvc.vocabulary import Role

T = TypeVar("T")


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"fleetsvc: {message}", err=True)
    sys.exit(code)


def load() -> Settings:
    try:
        settings = get_settings()
    except SettingsError as exc:
        fail(f"configuration error: {exc}")
    from fleetsvc.logs import configure_logging

    configure_logging(settings)
    return settings


def check_jobs(settings: Settings) -> None:
    """Load the job kinds (FLEETSVC_JOB_PLUGINS too) and check what the schedules need, or
    stop with one line naming the variable."""
    from fleetsvc.jobs import kinds, tasks

    try:
        kinds.load_kinds(settings.jobs.plugins)
        tasks.check_settings(settings)
    except (kinds.PluginError, SettingsError) as exc:
        fail(f"configuration error: {exc}")


async def ready_database(settings: Settings) -> list[str]:
    """Reach the database and migrate it, or stop with one line saying why (no traceback).

    Returns the ids of the migrations applied.
    """
    from db.migrate import MigrationError
    from fleetsvc.runtime import DatabaseUnreachable, prepare_database

    try:
        return await prepare_database(settings)
    except SettingsError as exc:
        fail(f"configuration error: {exc}")
    except (OSError, DatabaseUnreachable) as exc:
        fail(f"cannot reach the database: {exc}")
    except MigrationError as exc:
        fail(str(exc))


def run_with_database(settings: Settings, job: Callable[[], Awaitable[T]]) -> T:
    """Prepare the database, open the pool, run ``job``, close the pool."""

    async def main() -> T:
        await ready_database(settings)
        from db.engine import close_pool, open_pool

        await open_pool(min(settings.db_pool_size, 4), settings.db_pool_timeout_seconds)
        try:
            return await job()
        finally:
            await close_pool()

    from db.engine import is_outage

    try:
        return asyncio.run(main())
    except FleetError as exc:
        fail(exc.message, code=1)
    except Exception as exc:
        if not is_outage(exc):
            raise
        # The work in hand was rolled back; what earlier transactions committed stays.
        fail(f"the database went away: {type(exc).__name__}: {' '.join(str(exc).split())}")


def cli_actor() -> Actor:
    """Who a command acts as in the audit trail: the operating-system user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(name=f"cli:{user}", role=Role.ADMIN)
