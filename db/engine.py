"""The engine's connection pool, the one way to open a transaction, and what an outage
looks like from here."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, cast

import asyncpg
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction


def get_engine() -> PostgresEngine:
    from db.piccolo_conf import DB

    return DB


class DatabaseUnavailable(Exception):
    """The database cannot serve this request now; trying again later may work."""


class PoolTimeout(DatabaseUnavailable):
    """No connection became free (or could be made) within the pool timeout."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no database connection within {seconds:g} s")
        self.seconds = seconds


class CommitUncertain(DatabaseUnavailable):
    """The connection was lost while COMMIT was under way: the change may have been saved."""


# SQLSTATEs of a database that is going away, coming back, or full: class 08 (connection
# exceptions), the operator's shutdown, a crash restart, start-up, too many connections.
_OUTAGE_STATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is unreachable rather than that a query is wrong.

    A connection cut under a query surfaces as ``ConnectionDoesNotExistError`` or, on the
    next use of that connection, as ``InterfaceError`` "connection is closed"; the other
    ``InterfaceError``s (a connection used after release) are our own bugs, not outages.
    An idle pooled connection that has read the server's "terminating connection" but not
    yet its end of stream fails its next use with ``InternalClientError`` ("cannot switch
    to state 15; another operation (2) is in progress", asyncpg issue #1069): the same
    lost connection, seen a moment early.
    """
    if isinstance(exc, DatabaseUnavailable | OSError):  # refused, reset, no socket, timed out
        return True
    if isinstance(exc, asyncpg.InternalClientError):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        state = exc.sqlstate or ""
        return state.startswith("08") or state in _OUTAGE_STATES
    if isinstance(exc, asyncpg.InterfaceError):
        return "connection is closed" in str(exc)
    return False


async def _no_session_reset(conn: asyncpg.Connection) -> None:
    """Return a connection to the pool without asyncpg's RESET ALL round trip.

    asyncpg still rolls back any open transaction and drops listeners before
    calling this. The service never changes session state on pooled
    connections (no session SET, LISTEN or advisory locks: migrations take
    their lock on a connection of their own), so the default reset query would
    only cost one round trip per request.
    """


@dataclass(slots=True)
class _Pool:
    pool: asyncpg.Pool
    # Callers wait for a connection in arrival order. asyncpg's pool hands a released
    # connection to whichever coroutine asks next, so under load a waiting request can be
    # passed over again and again (a long latency tail); this gate, as wide as the pool,
    # queues them first come, first served.
    gate: asyncio.Semaphore
    timeout: float


_open: dict[str, _Pool] = {}


# How often a backend running a statement checks that its client is still there. A client
# that died (SIGKILL, a crashed process) leaves its statement running to the end otherwise,
# holding its locks; with the check the statement is cancelled within this time.
CLIENT_CHECK_INTERVAL = "5s"


async def prepare_connection(conn: asyncpg.Connection) -> None:
    """Session settings every connection of the service gets, once, when it is opened."""
    # No JIT: a server built with LLVM (Debian's and most distributions' packages; the
    # embedded one has none) compiles the import and sync statements, whose estimates on
    # freshly filled temporary tables are large, and a 29,737-row commit measured 62 s with
    # it against 1 s without (same rows, PostgreSQL 15). The service's statements are short
    # or set-based scans that the JIT's compile time never pays back.
    await conn.execute("SET jit = off")
    # PostgreSQL before 14, or a platform without the check (it needs POLLRDHUP), refuses
    # it: orphaned statements are then left to statement timeouts and to jobs' takeover.
    with contextlib.suppress(asyncpg.PostgresError):
        await conn.execute(f"SET client_connection_check_interval = '{CLIENT_CHECK_INTERVAL}'")


async def open_pool(size: int, wait_seconds: float = 10.0) -> None:
    """Open the service's pool; a caller waits at most ``wait_seconds`` for a connection."""
    engine = get_engine()
    if "pool" not in _open:
        await engine.start_connection_pool(
            min_size=min(2, size),
            max_size=size,
            reset=_no_session_reset,
            init=prepare_connection,
        )
        assert engine.pool is not None
        _open["pool"] = _Pool(engine.pool, asyncio.Semaphore(size), wait_seconds)


async def close_pool() -> None:
    engine = get_engine()
    if _open.pop("pool", None) is not None and engine.pool is not None:
        await engine.close_connection_pool()


def _current() -> _Pool:
    state = _open.get("pool")
    if state is None:
        raise RuntimeError("the connection pool is not open")
    return state


def pool() -> asyncpg.Pool:
    return _current().pool


@asynccontextmanager
async def _acquire() -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection, in turn, within the pool timeout; always given back."""
    state = _current()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + state.timeout
    try:
        async with asyncio.timeout_at(deadline):
            await state.gate.acquire()
    except TimeoutError:
        raise PoolTimeout(state.timeout) from None
    try:
        try:
            conn = await state.pool.acquire(timeout=max(deadline - loop.time(), 0.001))
        except TimeoutError:
            raise PoolTimeout(state.timeout) from None
        try:
            # A pool proxy: the same interface as a connection.
            yield cast(asyncpg.Connection, conn)
        except BaseException as exc:
            if is_outage(exc) and not isinstance(exc, PoolTimeout):
                # Lost, or about to be found lost: never hand it out again (a connection
                # left in a confused protocol state would fail request after request). One
                # already closed has given itself back to the pool: nothing to end then.
                with contextlib.suppress(asyncpg.InterfaceError):
                    conn.terminate()
            raise
        finally:
            # A closed connection is replaced on its holder's next acquire.
            await state.pool.release(conn)
    finally:
        state.gate.release()


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
    called from a command that already holds one. Whatever happens, even the
    database going away under it, the connection goes back to the pool and the
    next transaction in this task starts afresh (Piccolo's own context manager
    would keep both when its ROLLBACK fails on a dead connection).
    """
    engine = get_engine()
    current = engine.current_transaction.get()
    if current is not None:
        yield current.connection
        return
    hooks = _hooks.get()
    async with _acquire() as conn:
        tx = PostgresTransaction(engine)
        tx.connection = conn
        tx.transaction = conn.transaction()
        await tx.transaction.start()
        joined = engine.current_transaction.set(tx)
        try:
            if hooks is not None:
                await hooks.begin(conn)
            yield conn
            if hooks is not None:
                await hooks.before_commit(conn)
        except BaseException:
            engine.current_transaction.reset(joined)
            # On a dead connection ROLLBACK fails too: the server has already rolled back,
            # and the error worth reporting is the one that got us here.
            with contextlib.suppress(Exception):
                await tx.transaction.rollback()
            raise
        engine.current_transaction.reset(joined)
        try:
            await tx.transaction.commit()
        except Exception as exc:
            if is_outage(exc):
                raise CommitUncertain("the connection was lost during COMMIT") from exc
            raise


@asynccontextmanager
async def connection() -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection for reads (no transaction)."""
    engine = get_engine()
    tx = engine.current_transaction.get()
    if tx is not None:
        yield tx.connection
        return
    async with _acquire() as conn:
        yield conn
