"""One real PostgreSQL per test run (the embedded server, or DATABASE_URL's),
a fresh database built by the real migrations, and the real app over ASGI.

As in production, the migrations run as an owner role and the app connects as a
service role that owns nothing (``db.privileges``): a missing grant fails tests.

Tests never share rows: each makes its own (unique serials, names, codes) and
asserts on those, so they can run in any order against one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_DB = f"fleetsvc_test_{os.getpid()}"
# Roles of this run's own (dropped at the end): runs sharing one server never meet.
TEST_OWNER = f"fleetsvc_test_owner_{os.getpid()}"
TEST_SERVICE = f"fleetsvc_test_service_{os.getpid()}"
_PASSWORD = secrets.token_urlsafe(18)  # an external server may ask for one


def _admin_url() -> str:
    base = os.environ.get("FLEETSVC_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if base:
        return base
    from db.embedded import start_server

    return start_server(ROOT / "var" / "test")


@dataclass(frozen=True)
class Databases:
    """The test server's URLs: ``admin`` its maintenance database, as the URL given (a
    superuser unless ``least_privilege`` is False); ``owner`` and ``service`` the test
    database as the owner role (migrations) and as the service role (the app)."""

    admin: str
    owner: str
    service: str
    least_privilege: bool

    def url(self, database: str, role: str) -> str:
        """Another database of this server as one of this run's roles."""
        from db.embedded import with_database, with_user

        url = with_database(self.admin, database)
        return with_user(url, role, _PASSWORD) if self.least_privilege else url


async def new_database(databases: Databases, name: str, *, migrated: bool = True) -> Databases:
    """A database of its own on the test server, set up as the suite's is (drop it with
    ``drop_database(databases.admin, name)``). Migrated, it is a copy of a database the
    real migrations built once for the run (the same rows and grants, without running
    every migration again)."""
    if migrated:
        return await clone_database(databases, await _migrated_template(databases), name)
    from db.embedded import drop_database

    await drop_database(databases.admin, name)
    return await _prepared(databases, name)


# This run's database built by the real migrations, made on first use and dropped with the
# run's: no one connects to it but to copy it.
_TEMPLATE = f"fleetsvc_test_template_{os.getpid()}"
_templates: list[str] = []  # [_TEMPLATE] once it is made
_making_template = asyncio.Lock()


async def _migrated_template(databases: Databases) -> str:
    from db.embedded import drop_database
    from db.migrate import migrate

    async with _making_template:
        if not _templates:
            await drop_database(databases.admin, _TEMPLATE)
            template = await _prepared(databases, _TEMPLATE)
            await migrate(template.owner, template.service)
            _templates.append(_TEMPLATE)
    return _TEMPLATE


async def clone_database(databases: Databases, template: str, name: str) -> Databases:
    """A copy of ``template`` (``CREATE DATABASE … TEMPLATE``: no one may be connected to
    it), handed to this run's roles as ``new_database`` hands its own."""
    from db.embedded import drop_database

    await drop_database(databases.admin, name)
    conn = await asyncpg.connect(databases.admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return await _prepared(databases, name)


async def _prepared(databases: Databases, name: str) -> Databases:
    """The database ``name`` (made if missing) with this run's roles given it."""
    from db.embedded import ensure_database, with_database, with_user

    await ensure_database(databases.admin, name)
    superuser = with_database(databases.admin, name)
    owner = service = superuser
    if databases.least_privilege:
        from db.privileges import prepare_roles

        conn = await asyncpg.connect(superuser)
        try:
            await prepare_roles(conn, TEST_OWNER, TEST_SERVICE, _PASSWORD)
        finally:
            await conn.close()
        owner = with_user(superuser, TEST_OWNER, _PASSWORD)
        service = with_user(superuser, TEST_SERVICE, _PASSWORD)
    return Databases(databases.admin, owner, service, databases.least_privilege)


@pytest.fixture(scope="session")
async def databases() -> AsyncIterator[Databases]:
    from db.embedded import drop_database

    admin = _admin_url()
    conn = await asyncpg.connect(admin)
    try:
        superuser = bool(
            await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        )
    finally:
        await conn.close()
    # Not a superuser: the suite runs on that one role, and the least-privilege tests skip.
    found = await new_database(Databases(admin, admin, admin, superuser), TEST_DB, migrated=False)
    os.environ["DATABASE_URL"] = found.service
    if superuser:
        os.environ["FLEETSVC_MIGRATION_DATABASE_URL"] = found.owner
    os.environ.setdefault("FLEETSVC_LOG_FORMAT", "json")
    os.environ.setdefault("FLEETSVC_LOG_LEVEL", "warning")
    # The app under test runs no job workers: job tests start their own (in process, or
    # as `fleetsvc worker` processes), so none of them competes for another test's jobs.
    os.environ.setdefault("FLEETSVC_WORKERS", "0")
    # A commit answers 201/200 when it ends within this wait, else 202: the default 20 s made
    # the answer a machine's speed (a loaded CI machine saw 202s); the tests of the 202 set
    # their own wait.
    os.environ.setdefault("FLEETSVC_IMPORT_WAIT_SECONDS", "600")
    # No schedules in the workers tests start: a test queues the jobs it runs.
    for schedule in (
        "FLEETSVC_NOTICE_CRON",
        "FLEETSVC_PREVIEW_CLEANUP_CRON",
        "FLEETSVC_PSEUDONYMISE_CRON",
    ):
        os.environ.setdefault(schedule, "off")
    from db.migrate import migrate

    await migrate(found.owner)
    yield found
    from db.engine import close_pool

    await close_pool()
    await drop_database(admin, TEST_DB)
    for template in _templates:
        await drop_database(admin, template)
    if superuser:
        conn = await asyncpg.connect(admin)
        try:
            for role in (TEST_SERVICE, TEST_OWNER):
                # A database a failed test left behind still names the role: leave it then.
                with contextlib.suppress(asyncpg.DependentObjectsStillExistError):
                    await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await conn.close()


@pytest.fixture(scope="session")
async def database_url(databases: Databases) -> str:
    """The test database as the service's role: what the app connects as."""
    return databases.service


@pytest.fixture(scope="session")
async def app(database_url: str) -> AsyncIterator[object]:
    from api.app import create_app
    from fleetsvc.settings import get_settings

    get_settings.cache_clear()
    application = create_app()
    async with lifespan(application):
        yield application


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Drive the app's ASGI lifespan from a task of its own.

    pytest-asyncio sets up and tears down a session fixture in different tasks,
    and Litestar's lifespan holds an anyio cancel scope that must be left in the
    task that entered it.
    """
    to_app: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive() -> dict[str, str]:
        return await to_app.get()

    async def send(message: dict[str, Any]) -> None:
        await from_app.put(message)

    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    )
    await to_app.put({"type": "lifespan.startup"})
    started = await from_app.get()
    assert started["type"] == "lifespan.startup.complete", started
    try:
        yield
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await from_app.get()
        await task


@pytest.fixture(scope="session")
async def anon(app: object) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no token."""
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://fleetsvc.test") as c:
        yield c


TokenFactory = Callable[[str], Awaitable[str]]


@pytest.fixture(scope="session")
async def make_token(app: object) -> TokenFactory:
    """Create a real token with the given role; returns the token value."""
    from db.engine import transaction
    from fleetsvc.auth import Actor, create_token

    async def make(role: str) -> str:
        async with transaction() as conn:
            new = await create_token(
                conn, Actor("tests", "admin"), f"t-{role}-{uuid.uuid4().hex[:8]}", role
            )
        return new.token

    return make


ClientFactory = Callable[[str], Awaitable[httpx.AsyncClient]]


@pytest.fixture(scope="session")
async def client_for(app: object, make_token: TokenFactory) -> AsyncIterator[ClientFactory]:
    """``await client_for("engineer")``: a client authenticated with that role."""
    clients: dict[str, httpx.AsyncClient] = {}
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]

    async def get(role: str) -> httpx.AsyncClient:
        if role not in clients:
            token = await make_token(role)
            clients[role] = httpx.AsyncClient(
                transport=transport,
                base_url="http://fleetsvc.test",
                headers={"Authorization": f"Bearer {token}"},
            )
        return clients[role]

    yield get
    for c in clients.values():
        await c.aclose()


@pytest.fixture
async def admin(client_for: ClientFactory) -> httpx.AsyncClient:
    return await client_for("admin")


def unique(prefix: str = "") -> str:
    """A short unique string for rows a test makes."""
    return f"{prefix}{uuid.uuid4().hex[:10].upper()}"
