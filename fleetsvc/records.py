"""Create, read, update and list for the register's records: the one set of write
helpers (insert, update with version, lock, event).

Every write goes through here or through a bulk path, so every change is
checked against the caller's version (ETag) and recorded as an event in the
same transaction. ``insert_record`` and ``update_record`` write the row and its
event (``insert_records`` many rows and their events at once, set-based); a record
written with child rows (part numbers, charges, order lines) uses ``insert_row`` /
``lock_current`` + ``write_version`` (and ``replace_children``) and records one event
naming everything it changed. Reads come back as the concept's Struct
(``struct_of``). Table and column names come from code, never from input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import asyncpg
import msgspec

from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.conflicts import ExplainClash, unique_conflicts
from fleetsvc.errors import NotFound, StaleVersion, ValidationFailed
from fleetsvc.pagination import FOREIGN_CURSOR, Page, PageRequest, make_page
from fleetsvc.vocabulary import documented


def changes_of(update: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually sets (``msgspec.UNSET`` means "leave as is")."""
    return {
        name: getattr(update, name)
        for name in update.__struct_fields__
        if getattr(update, name) is not msgspec.UNSET
    }


S = TypeVar("S", bound=msgspec.Struct)
T = TypeVar("T")


def value_or_none(value: T | msgspec.UnsetType) -> T | None:
    """A field a change may leave unset, as None when it does (for the checks that look
    up what it names)."""
    return None if isinstance(value, msgspec.UnsetType) else value


def struct_of(cls: type[S], row: asyncpg.Record) -> S:
    """A row as the concept's Struct, whose fields are named like the row's columns."""
    return cls(**{name: row[name] for name in cls.__struct_fields__})


# Record ids are PostgreSQL integers (Serial); the audit trail's are bigint.
MAX_ID = 2**31 - 1
# A record id in a request body: outside the database's range is a 422. Here, not in
# ``api.schemas``, because the domain's Structs are request bodies too.
RecordId = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
# A reference whose range the domain checks (``checks.existing_id``: "no person with id 0"),
# stated in the document only.
RecordRef = Annotated[int, documented(minimum=1, maximum=MAX_ID)]


def check_id(entity: str, record_id: int) -> int:
    """An id beyond the database's range cannot exist: not found, and never sent to the driver."""
    if not 1 <= record_id <= MAX_ID:
        raise NotFound(entity, record_id)
    return record_id


async def get_record(
    conn: asyncpg.Connection, table: str, entity: str, record_id: int, *, for_update: bool = False
) -> asyncpg.Record:
    check_id(entity, record_id)
    row = await conn.fetchrow(
        f"SELECT * FROM {table} WHERE id = $1{' FOR UPDATE' if for_update else ''}", record_id
    )
    if row is None:
        raise NotFound(entity, record_id)
    return row


async def insert_row(
    conn: asyncpg.Connection,
    table: str,
    values: Mapping[str, Any],
    *,
    explain: ExplainClash | None = None,
) -> asyncpg.Record:
    """INSERT one row (a unique clash is a Conflict naming the existing id, or the one
    ``explain`` gives); the caller records the event, so it can include the child rows
    written with it."""
    cols = list(values)
    marks = ", ".join(f"${i + 1}" for i in range(len(cols)))
    async with unique_conflicts(conn, explain):
        row = await conn.fetchrow(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks}) RETURNING *",
            *values.values(),
        )
    assert row is not None
    return row


async def insert_record(
    conn: asyncpg.Connection,
    actor: Actor,
    *,
    table: str,
    entity: str,
    values: Mapping[str, Any],
) -> asyncpg.Record:
    """INSERT one row and its ``created`` event."""
    row = await insert_row(conn, table, values)
    await audit.record(conn, actor, entity, row["id"], "created", after=dict(values))
    return row


async def insert_records(
    conn: asyncpg.Connection,
    actor: Actor,
    *,
    table: str,
    entity: str,
    types: Mapping[str, str],
    rows: Sequence[Mapping[str, Any]],
    key: str,
) -> list[int]:
    """``insert_record`` for many checked rows at once, set-based: one INSERT (an
    ``unnest`` of one array per column; ``types`` maps each column to its SQL type) and one
    COPY of their ``created`` events. ``key`` is a unique column that tells the new ids
    apart; they come back in the order of ``rows``. A clash is a Conflict, as for one row."""
    if not rows:
        return []
    columns = list(types)
    arrays = ", ".join(f"${i + 1}::{types[c]}[]" for i, c in enumerate(columns))
    async with unique_conflicts(conn):
        added = await conn.fetch(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
            f" RETURNING id, {key}",
            *([row[c] for row in rows] for c in columns),
        )
    by_key = {r[key]: r["id"] for r in added}
    ids = [int(by_key[row[key]]) for row in rows]
    await audit.record_many(
        conn,
        actor,
        (
            audit.EventRow(entity, i, "created", None, dict(row))
            for i, row in zip(ids, rows, strict=True)
        ),
    )
    return ids


async def lock_current(
    conn: asyncpg.Connection,
    table: str,
    entity: str,
    record_id: int,
    expected_version: int | None,
) -> asyncpg.Record:
    """The row as it is now, locked for this transaction, if the caller saw this version."""
    current = await get_record(conn, table, entity, record_id, for_update=True)
    if expected_version is not None and current["version"] != expected_version:
        raise StaleVersion(entity, record_id, current["version"])
    return current


async def write_version(
    conn: asyncpg.Connection,
    table: str,
    record_id: int,
    changed: Mapping[str, Any],
    *,
    explain: ExplainClash | None = None,
) -> asyncpg.Record:
    """Apply changed columns (possibly none, when only child lists changed) and bump the version."""
    sets = "".join(f"{col} = ${i + 2}, " for i, col in enumerate(changed))
    async with unique_conflicts(conn, explain):
        row = await conn.fetchrow(
            f"UPDATE {table} SET {sets}version = version + 1, updated_at = now()"
            " WHERE id = $1 RETURNING *",
            record_id,
            *changed.values(),
        )
    assert row is not None
    return row


async def replace_children(
    conn: asyncpg.Connection,
    table: str,
    parent_column: str,
    parent_id: int,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Replace a record's child rows (a contract's charges, an order's lines) with ``rows``,
    each holding ``columns`` in order; the caller's event names the list that changed."""
    await conn.execute(f"DELETE FROM {table} WHERE {parent_column} = $1", parent_id)
    if not rows:
        return
    marks = ", ".join(f"${i + 1}" for i in range(len(columns) + 1))
    await conn.executemany(
        f"INSERT INTO {table} ({parent_column}, {', '.join(columns)}) VALUES ({marks})",
        [(parent_id, *row) for row in rows],
    )


async def update_record(
    conn: asyncpg.Connection,
    actor: Actor,
    *,
    table: str,
    entity: str,
    record_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None,
    action: str = "updated",
) -> asyncpg.Record:
    """Apply ``changes`` if the caller saw the current version; record what changed.

    A change that changes nothing writes nothing: no new version, no event.
    """
    current = await lock_current(conn, table, entity, record_id, expected_version)
    changed = {k: v for k, v in changes.items() if current[k] != v}
    if not changed:
        return current
    row = await write_version(conn, table, record_id, changed)
    await audit.record(
        conn,
        actor,
        entity,
        record_id,
        action,
        before={k: current[k] for k in changed},
        after=dict(changed),
    )
    return row


@dataclass(slots=True)
class Filters:
    """WHERE clauses with numbered parameters, built up one filter at a time."""

    clauses: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def add(self, sql: str, *values: Any) -> None:
        """``sql`` uses ``{}`` for each value: ``f.add("status = {}", "deployed")``."""
        marks = []
        for v in values:
            self.args.append(v)
            marks.append(f"${len(self.args)}")
        self.clauses.append(sql.format(*marks))

    def where(self) -> str:
        return f" WHERE {' AND '.join(self.clauses)}" if self.clauses else ""


async def list_page(
    conn: asyncpg.Connection,
    select_sql: str,
    filters: Filters,
    page: PageRequest,
    *,
    id_column: str = "id",
) -> Page[asyncpg.Record]:
    """Keyset-paginate ``select_sql`` (no WHERE of its own) by ``id_column``."""
    f = Filters(list(filters.clauses), list(filters.args))
    if page.after_id is not None:
        f.add(f"{id_column} > {{}}", page.after_id)
    f.args.append(page.limit + 1)
    sql = f"{select_sql}{f.where()} ORDER BY {id_column} LIMIT ${len(f.args)}"
    try:
        rows: Sequence[asyncpg.Record] = await conn.fetch(sql, *f.args)
    except asyncpg.DataError:
        if page.after_id is not None and page.after_id > MAX_ID:
            # Beyond the table's integer ids: no page of this list ever ended there.
            raise ValidationFailed.one("cursor", FOREIGN_CURSOR) from None
        raise
    return make_page(rows, page, key=lambda r: int(r["id"]))
