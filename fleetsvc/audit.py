"""The audit trail: every write records who, when, what, before and after.

Events are append-only (the database refuses UPDATE, DELETE and TRUNCATE on
them); this module is the one place that writes them.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
import msgspec

from fleetsvc.pagination import Page, PageRequest, make_page

if TYPE_CHECKING:
    from fleetsvc.auth import Actor


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"cannot record {type(value).__name__} in an event")


_encoder = msgspec.json.Encoder(enc_hook=_default)


def to_json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else _encoder.encode(value).decode()


EVENT_COLUMNS: Sequence[str] = (
    "id",
    "occurred_at",
    "actor_name",
    "actor_role",
    "request_id",
    "entity",
    "entity_id",
    "action",
    "before",
    "after",
)


async def record(
    conn: asyncpg.Connection,
    actor: Actor,
    entity: str,
    entity_id: int,
    action: str,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Record one change; call it inside the transaction that makes the change."""
    await conn.execute(
        "INSERT INTO event (actor_name, actor_role, request_id, entity, entity_id, action,"
        " before, after) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb)",
        actor.name,
        actor.role,
        actor.request_id,
        entity,
        entity_id,
        action,
        to_json(before),
        to_json(after),
    )


@dataclass(frozen=True, slots=True)
class EventRow:
    entity: str
    entity_id: int
    action: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None


async def record_many(conn: asyncpg.Connection, actor: Actor, events: Iterable[EventRow]) -> int:
    """Record many changes with one COPY (bulk imports and syncs)."""
    events = list(events)
    if not events:
        return 0
    # The transaction's time, as the column's default gives every other event.
    now = await conn.fetchval("SELECT now()")
    records = [
        (
            now,
            actor.name,
            actor.role,
            actor.request_id,
            e.entity,
            e.entity_id,
            e.action,
            to_json(e.before),
            to_json(e.after),
        )
        for e in events
    ]
    await conn.copy_records_to_table(
        "event",
        records=records,
        columns=list(EVENT_COLUMNS[1:]),  # all but the id
    )
    return len(records)


async def record_from_query(
    conn: asyncpg.Connection, actor: Actor, select_sql: str, *args: Any
) -> int:
    """Record one event per row of a query, set-based, with no round trip per row.

    ``select_sql`` must return columns ``entity, entity_id, action, before, after``
    (jsonb or NULL); the actor columns are added here.
    """
    n = len(args)
    result = await conn.execute(
        "INSERT INTO event (actor_name, actor_role, request_id, entity, entity_id, action,"
        f" before, after) SELECT ${n + 1}, ${n + 2}, ${n + 3}, q.entity, q.entity_id, q.action,"
        f" q.before, q.after FROM ({select_sql}) AS q",
        *args,
        actor.name,
        actor.role,
        actor.request_id,
    )
    return int(result.split()[-1])


class Event(msgspec.Struct):
    """One recorded change, as the audit trail and an asset's history show it."""

    id: int
    occurred_at: dt.datetime
    actor_name: str
    actor_role: str
    request_id: str | None
    entity: str
    entity_id: int
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def event_of(row: asyncpg.Record) -> Event:
    """A row of ``EVENT_COLUMNS`` as an ``Event`` (``before`` and ``after`` are jsonb text)."""
    return Event(
        id=row["id"],
        occurred_at=row["occurred_at"],
        actor_name=row["actor_name"],
        actor_role=row["actor_role"],
        request_id=row["request_id"],
        entity=row["entity"],
        entity_id=row["entity_id"],
        action=row["action"],
        before=None if row["before"] is None else msgspec.json.decode(row["before"]),
        after=None if row["after"] is None else msgspec.json.decode(row["after"]),
    )


@dataclass(frozen=True, slots=True)
class EventFilter:
    entity: str | None = None
    entity_id: int | None = None
    actor_name: str | None = None
    action: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


async def list_events(conn: asyncpg.Connection, flt: EventFilter, page: PageRequest) -> Page[Event]:
    """Events oldest first, filtered, keyset-paginated by id."""
    where: list[str] = []
    args: list[Any] = []

    def add(sql: str, value: Any) -> None:
        args.append(value)
        where.append(sql.format(f"${len(args)}"))

    if flt.entity is not None:
        add("entity = {}", flt.entity)
    if flt.entity_id is not None:
        add("entity_id = {}", flt.entity_id)
    if flt.actor_name is not None:
        add("actor_name = {}", flt.actor_name)
    if flt.action is not None:
        add("action = {}", flt.action)
    if flt.since is not None:
        add("occurred_at >= {}", flt.since)
    if flt.until is not None:
        add("occurred_at < {}", flt.until)
    if page.after_id is not None:
        add("id > {}", page.after_id)
    args.append(page.limit + 1)
    sql = (
        f"SELECT {', '.join(EVENT_COLUMNS)} FROM event"
        f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id LIMIT ${len(args)}"
    )
    rows = await conn.fetch(sql, *args)
    return make_page([event_of(r) for r in rows], page, key=lambda e: e.id)
