"""Running SQL scripts inside whatever transaction Piccolo has open."""

from __future__ import annotations

from typing import cast

from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine


async def execute_script(sql: str) -> None:
    """Run a multi-statement script on the current transaction's connection.

    asyncpg's ``execute`` without arguments uses the simple query protocol, so a
    whole script goes in one round trip; Piccolo's ``raw`` would prepare it.
    """
    engine = cast(PostgresEngine, engine_finder())
    tx = engine.current_transaction.get()
    if tx is not None:
        await tx.connection.execute(sql)
        return
    conn = await engine.get_new_connection()
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
