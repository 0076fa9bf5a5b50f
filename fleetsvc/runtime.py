"""Getting a database ready: the embedded server when no DATABASE_URL is set,
then migrations as the owner role. Every command and the server go through here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg

from db import embedded, privileges
from db.migrate import migrate
from fleetsvc.logs import get_logger
from fleetsvc.settings import Settings, SettingsError

log = get_logger("fleetsvc.runtime")

EMBEDDED_DATABASE = "fleetsvc"
CONNECT_TIMEOUT_SECONDS = 10


class DatabaseUnreachable(Exception):
    """The database cannot be reached or refuses us; the message is one line, no password."""


@dataclass(frozen=True, slots=True)
class DatabaseUrls:
    service: str  # what the running service connects as
    owner: str  # what migrations run as; the same URL when only DATABASE_URL is set

    @property
    def one_role(self) -> bool:
        return self.service == self.owner


async def resolve_database_urls(settings: Settings) -> DatabaseUrls:
    """The URLs to use, starting the embedded server if there is no DATABASE_URL.

    The service's URL is put in the environment because Piccolo reads its engine
    configuration from ``db.piccolo_conf`` when that is first imported. Each database
    is connected to once first, so that a wrong host, user, password or database name
    is one clear line here, not a traceback from deep in a library.
    """
    if settings.database_url is not None:
        urls = DatabaseUrls(
            settings.database_url, settings.migration_database_url or settings.database_url
        )
    else:
        try:
            owner, service = await embedded.prepare_embedded(settings.data_dir, EMBEDDED_DATABASE)
        except embedded.EmbeddedUnavailable as exc:
            raise SettingsError(str(exc)) from None
        urls = DatabaseUrls(service, owner)
        log.info("embedded_database", data_dir=str(settings.data_dir / "pg"))
    await check_reachable(urls.service)
    if urls.one_role:
        _warn_one_role("DATABASE_URL is used for migrations too")
    else:
        await check_reachable(urls.owner, "FLEETSVC_MIGRATION_DATABASE_URL: ")
    os.environ["DATABASE_URL"] = urls.service
    return urls


async def check_reachable(url: str, prefix: str = "") -> None:
    try:
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_SECONDS)
    except (
        OSError,  # refused, unknown host, timed out, no socket file
        ValueError,  # a URL asyncpg cannot read (a bad port, an unknown sslmode)
        OverflowError,  # a port beyond 65535
        asyncpg.PostgresError,  # no such database or user, wrong password, starting up
        asyncpg.InterfaceError,
    ) as exc:
        raise DatabaseUnreachable(prefix + _describe(exc, url)) from None
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
    """Reach (or start) the database, apply pending migrations as the owner and the
    privilege policy for the service's role; return the ids applied."""
    urls = await resolve_database_urls(settings)
    applied = await migrate(None if urls.one_role else urls.owner)
    if applied:
        log.info("migrations_applied", count=len(applied), latest=applied[-1])
    if not urls.one_role:
        await _warn_of_excess_rights(urls)
    return applied


async def _warn_of_excess_rights(urls: DatabaseUrls) -> None:
    """Say at start if the service's role can do more than the policy allows (a role set
    up by hand on a managed server), or lacks something it needs."""
    conn = await asyncpg.connect(urls.owner, timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        owner = await conn.fetchval("SELECT current_user")
        service = await _role_of(urls.service)
        if service == owner:
            _warn_one_role(f"both URLs log in as {owner}")
            return
        for problem in await privileges.review(conn, service, owner):
            log.warning("database_privileges", problem=problem)
    finally:
        await conn.close()


def _warn_one_role(why: str) -> None:
    log.warning(
        "one_database_role",
        message=f"{why}, so the service connects as the tables' owner and could rewrite the "
        "audit trail; set FLEETSVC_MIGRATION_DATABASE_URL to an owner role and DATABASE_URL "
        "to a service role (README, Database roles)",
    )


async def _role_of(url: str) -> str:
    conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        return str(await conn.fetchval("SELECT current_user"))
    finally:
        await conn.close()
