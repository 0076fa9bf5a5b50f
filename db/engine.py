"""The engine's connection pool, and the one way to open a transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

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


async def open_pool(size: int) -> None:
    engine = get_engine()
    if engine.pool is None:
        await engine.start_connection_pool(
            min_size=min(2, size), max_size=size, reset=_no_session_reset
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
    async with _turn(), engine.transaction() as tx:
        conn: asyncpg.Connection = tx.connection
        yield conn


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
