"""The engine's connection pool, and the one way to open a transaction."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, Protocol, cast

import asyncpg
from piccolo.engine.postgres import PostgresEngine


def get_engine() -> PostgresEngine:
    from db.piccolo_conf import DB

    return DB


async def _no_session_reset(conn: asyncpg.Connection) -> None:
    """Return a connection to the pool without asyncpg's RESET ALL round trip.

    asyncpg still rolls back any open transaction and drops listeners before
    calling this. The service never changes session state on pooled
    connections (no session SET, LISTEN or advisory locks: migrations take
    their lock on a connection of their own), so the default reset query would
    only cost one round trip per request.
    """


# Callers wait for a connection in arrival order. asyncpg's pool hands a released
# connection to whichever coroutine asks next, so under load a waiting request can be
# passed over again and again (a long latency tail); this gate, as wide as the pool,
# queues them first come, first served.
_gate: dict[str, asyncio.Semaphore] = {}


# How often a backend running a statement checks that its client is still there. A client
# that died (SIGKILL, a crashed process) leaves its statement running to the end otherwise,
# holding its locks; with the check the statement is cancelled within this time.
CLIENT_CHECK_INTERVAL = "5s"


async def prepare_connection(conn: asyncpg.Connection) -> None:
    """Session settings every connection of the service gets, once, when it is opened."""
    # PostgreSQL before 14, or a platform without the check (it needs POLLRDHUP), refuses
    # it: orphaned statements are then left to statement timeouts and to jobs' takeover.
    with contextlib.suppress(asyncpg.PostgresError):
        await conn.execute(f"SET client_connection_check_interval = '{CLIENT_CHECK_INTERVAL}'")


async def open_pool(size: int) -> None:
    engine = get_engine()
    if engine.pool is None:
        await engine.start_connection_pool(
            min_size=min(2, size),
            max_size=size,
            reset=_no_session_reset,
            init=prepare_connection,
        )
        _gate["pool"] = asyncio.Semaphore(size)


async def close_pool() -> None:
    engine = get_engine()
    if engine.pool is not None:
        await engine.close_connection_pool()
    _gate.pop("pool", None)


@asynccontextmanager
async def _turn() -> AsyncIterator[None]:
    gate = _gate.get("pool")
    if gate is None:
        yield
        return
    async with gate:
        yield


def pool() -> asyncpg.Pool:
    engine = get_engine()
    if engine.pool is None:
        raise RuntimeError("the connection pool is not open")
    p: asyncpg.Pool = engine.pool
    return p


class TransactionHooks(Protocol):
    """Called around every outermost transaction a task opens (see ``hooks_for_task``).

    A job's worker uses them to note which database session its work runs on and to check,
    inside the work's own transaction, that it still holds the job's lease.
    """

    async def begin(self, conn: asyncpg.Connection) -> None: ...

    async def before_commit(self, conn: asyncpg.Connection) -> None: ...


_hooks: ContextVar[TransactionHooks | None] = ContextVar("transaction_hooks", default=None)


@contextlib.contextmanager
def hooks_for_task(hooks: TransactionHooks) -> Iterator[None]:
    """Run ``hooks`` around the transactions opened in this task (and tasks it starts)."""
    token = _hooks.set(hooks)
    try:
        yield
    finally:
        _hooks.reset(token)


@asynccontextmanager
async def transaction() -> AsyncIterator[asyncpg.Connection]:
    """One transaction; Piccolo queries inside it join it too.

    Nested calls join the outer transaction, so a service that opens one can be
    called from a command that already holds one.
    """
    engine = get_engine()
    if engine.current_transaction.get() is not None:
        async with engine.transaction() as tx:
            yield tx.connection
        return
    hooks = _hooks.get()
    async with _turn(), engine.transaction() as tx:
        conn: asyncpg.Connection = tx.connection
        if hooks is not None:
            await hooks.begin(conn)
        yield conn
        if hooks is not None:
            await hooks.before_commit(conn)


@asynccontextmanager
async def connection() -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection for reads (no transaction)."""
    engine = get_engine()
    tx: Any = engine.current_transaction.get()
    if tx is not None:
        yield tx.connection
        return
    async with _turn(), pool().acquire() as conn:
        # A pool proxy: the same interface as a connection.
        yield cast(asyncpg.Connection, conn)
