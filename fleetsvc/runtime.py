"""Getting a database ready: the embedded server when no DATABASE_URL is set,
then migrations. Every command and the server go through here."""

from __future__ import annotations

import os

from db import embedded
from db.migrate import migrate
from fleetsvc.logs import get_logger
from fleetsvc.settings import Settings, SettingsError

log = get_logger("fleetsvc.runtime")

EMBEDDED_DATABASE = "fleetsvc"


async def resolve_database_url(settings: Settings) -> str:
    """The URL to use, starting the embedded server if there is no DATABASE_URL.

    The result is put in the environment because Piccolo reads its engine
    configuration from ``db.piccolo_conf`` when that is first imported.
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
    os.environ["DATABASE_URL"] = url
    return url


async def prepare_database(settings: Settings) -> str:
    url = await resolve_database_url(settings)
    applied = await migrate()
    if applied:
        log.info("migrations_applied", count=len(applied), latest=applied[-1])
    return url
