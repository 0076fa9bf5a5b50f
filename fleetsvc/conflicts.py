"""Turning the database's unique-constraint refusals into a clear 409.

Uniqueness is enforced by the database (never by a read-then-write check that
two requests can race past); this module names the clashing field and the
existing record's id so the caller can act on it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final

import asyncpg

from fleetsvc.errors import Conflict

_KEY = re.compile(r"Key \((?P<cols>[^)]*)\)=\((?P<vals>.*)\) already exists", re.S)
_PLAIN_COLUMN = re.compile(r"^[a-z_][a-z0-9_]*$")
# A key names its last column as the clashing field, except a key led by the column that
# tells the records apart: an asset's serial index is (serial_number, manufacturer), so that
# lookups by serial alone read it too, and the field is the serial.
_FIELD_OF_KEY: Final = {"asset_serial_uq": "serial_number"}


async def conflict_from(conn: asyncpg.Connection, exc: asyncpg.UniqueViolationError) -> Conflict:
    """Build the Conflict for a unique violation (the transaction must be usable)."""
    table = exc.table_name or "record"
    match = _KEY.search(exc.detail or "")
    if match is None:
        return Conflict(f"this {table} clashes with an existing one")
    cols = [c.strip() for c in match["cols"].split(",")]
    vals = [v.strip() for v in match["vals"].split(", ")] if len(cols) > 1 else [match["vals"]]
    field = _FIELD_OF_KEY.get(exc.constraint_name or "", cols[-1])
    existing_id = None
    if len(vals) == len(cols) and all(_PLAIN_COLUMN.match(c) for c in cols):
        where = " AND ".join(f"{c}::text = ${i + 1}" for i, c in enumerate(cols))
        existing_id = await conn.fetchval(f"SELECT id FROM {table} WHERE {where} LIMIT 1", *vals)
    label = field.replace("_", " ")
    shown = ", ".join(vals)
    noun = table.replace("_", " ")
    article = "an" if noun[:1] in "aeiou" else "a"
    message = f"{article} {noun} with {label} {shown} already exists"
    if existing_id is not None:
        message += f" (id {existing_id})"
    return Conflict(message, existing_id=existing_id, field=field)


# A concept's own account of a clash the generic one cannot name (a unique index on an
# expression, such as a device model's name in any case); None leaves it to ``conflict_from``.
ExplainClash = Callable[
    [asyncpg.Connection, asyncpg.UniqueViolationError], Awaitable[Conflict | None]
]


@asynccontextmanager
async def unique_conflicts(
    conn: asyncpg.Connection, explain: ExplainClash | None = None
) -> AsyncIterator[None]:
    """Run a write in a savepoint; a unique violation becomes a ``Conflict``.

    The savepoint keeps the surrounding transaction usable, so the conflict can
    name the existing record.
    """
    try:
        async with conn.transaction():
            yield
    except asyncpg.UniqueViolationError as exc:
        explained = await explain(conn, exc) if explain is not None else None
        raise explained or await conflict_from(conn, exc) from None
