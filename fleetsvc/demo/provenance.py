"""What the demo has done and what it made: the steps of its story it has finished, and the
records it created (``demo_step``, ``demo_record``).

A step is done in one transaction with its marker, under the demo's lock, so a second run
(or two at once) does each step once. The demo only ever moves, fits or licenses records it
finds here: a register's own people, vehicles and assets are never touched, even when they
sit on the demo's business units or models. What a delivery import of the demo's created
(assets, SIMs, installs, a licence pool) is the demo's through its ``delivery_import_id``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import asyncpg

# One demo step at a time, whoever runs it.
DEMO_LOCK: Final = 0x64656D6F6C6F6164  # "demoload"

DEMO_IMPORTS: Final = "(SELECT entity_id FROM demo_record WHERE entity = 'delivery_import')"


def mine(entity: str) -> str:
    """A subquery of the ids of ``entity`` (code's own names only) the demo created."""
    return f"(SELECT entity_id FROM demo_record WHERE entity = '{entity}')"


async def steps_done(conn: asyncpg.Connection) -> set[str]:
    return {r["step"] for r in await conn.fetch("SELECT step FROM demo_step")}


async def begin_step(conn: asyncpg.Connection, step: str) -> bool:
    """Take the demo's lock for this transaction; True when ``step`` is still to be done."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", DEMO_LOCK)
    done = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM demo_step WHERE step = $1)", step)
    return not done


async def finish_step(conn: asyncpg.Connection, step: str) -> None:
    await conn.execute("INSERT INTO demo_step (step) VALUES ($1)", step)


async def remember(conn: asyncpg.Connection, entity: str, ids: Iterable[int]) -> None:
    """Record that the demo created these records (in the transaction that created them)."""
    await conn.execute(
        "INSERT INTO demo_record (entity, entity_id) SELECT $1, unnest($2::bigint[])",
        entity,
        list(ids),
    )


async def created(conn: asyncpg.Connection, entity: str) -> set[int]:
    rows = await conn.fetch("SELECT entity_id FROM demo_record WHERE entity = $1", entity)
    return {int(r["entity_id"]) for r in rows}
