"""Getting a database ready: the embedded server when no DATABASE_URL is set,
then migrations. Every command and the server go through here."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import asyncpg

from db import embedded
from db.migrate import migrate
from fleetsvc.logs import get_logger
from fleetsvc.settings import Settings, SettingsError

log = get_logger("fleetsvc.runtime")

EMBEDDED_DATABASE = "fleetsvc"
CONNECT_TIMEOUT_SECONDS = 10


class DatabaseUnreachable(Exception):
    """The database cannot be reached or refuses us; the message is one line, no password."""


async def resolve_database_url(settings: Settings) -> str:
    """The URL to use, starting the embedded server if there is no DATABASE_URL.

    The result is put in the environment because Piccolo reads its engine
    configuration from ``db.piccolo_conf`` when that is first imported. The
    database is connected to once first, so that a wrong host, user, password or
    database name is one clear line here, not a traceback from deep in a library.
    """
    if settings.database_url is not None:
        url = settings.database_url
    else:
        try:
            admin = embedded.start_server(settings.data_dir)
        except embedded.EmbeddedUnavailable as exc:
            raise SettingsError(str(exc)) from None
        await embedded.ensure_database(admin, EMBEDDED_DATABASE)
        url = embedded.with_database(admin, EMBEDDED_DATABASE)
        log.info("embedded_database", data_dir=str(settings.data_dir / "pg"))
    await check_reachable(url)
    os.environ["DATABASE_URL"] = url
    return url


async def check_reachable(url: str) -> None:
    try:
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_SECONDS)
    except (
        OSError,  # refused, unknown host, timed out, no socket file
        ValueError,  # a URL asyncpg cannot read (a bad port, an unknown sslmode)
        OverflowError,  # a port beyond 65535
        asyncpg.PostgresError,  # no such database or user, wrong password, starting up
        asyncpg.InterfaceError,
    ) as exc:
        raise DatabaseUnreachable(_describe(exc, url)) from None
    await conn.close()


def _describe(exc: BaseException, url: str) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        text = text.replace(password, "***")
    return text


async def prepare_database(settings: Settings) -> list[str]:
    """Reach (or start) the database and apply pending migrations; return the ids applied."""
    await resolve_database_url(settings)
    applied = await migrate()
    if applied:
        log.info("migrations_applied", count=len(applied), latest=applied[-1])
    return applied
