"""One real PostgreSQL per test run (the embedded server, or DATABASE_URL's),
a fresh database built by the real migrations, and the real app over ASGI.

Tests never share rows: each makes its own (unique serials, names, codes) and
asserts on those, so they can run in any order against one database.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_DB = f"fleetsvc_test_{os.getpid()}"


def _admin_url() -> str:
    base = os.environ.get("FLEETSVC_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if base:
        return base
    from db.embedded import start_server

    return start_server(ROOT / "var" / "test")


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    from db.embedded import drop_database, ensure_database, with_database

    admin = _admin_url()
    await drop_database(admin, TEST_DB)
    await ensure_database(admin, TEST_DB)
    url = with_database(admin, TEST_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("FLEETSVC_LOG_FORMAT", "json")
    os.environ.setdefault("FLEETSVC_LOG_LEVEL", "warning")
    # The app under test runs no job workers: job tests start their own (in process, or
    # as `fleetsvc worker` processes), so none of them competes for another test's jobs.
    os.environ.setdefault("FLEETSVC_WORKERS", "0")
    # No schedules in the workers tests start: a test queues the jobs it runs.
    for schedule in ("FLEETSVC_NOTICE_CRON", "FLEETSVC_PREVIEW_CLEANUP_CRON"):
        os.environ.setdefault(schedule, "off")
    from db.migrate import migrate

    await migrate()
    yield url
    from db.engine import close_pool

    await close_pool()
    await drop_database(admin, TEST_DB)


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
