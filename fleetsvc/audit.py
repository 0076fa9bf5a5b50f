"""The audit trail: every write records who, when, what, before and after.

This module is the one place that writes and reads events. Three promises:

- **Append-only.** The database refuses UPDATE, DELETE and TRUNCATE on events.
- **Tamper-evident.** Each event carries a hash over its content and the previous
  event's hash, computed by PostgreSQL when the transaction that wrote it commits
  (migration ``2026-12-03T09:00:00``): the chain's order is commit order, the lock that
  orders it is taken only at commit (it never waits behind a row lock, so it cannot
  deadlock), and writers stay set-based. ``fleetsvc.audit_chain.verify_chain`` walks it.
- **No personal data in clear.** A person's name, UPN and employee number, an MDM
  user's UPN and a page user's e-mail (``PERSONAL_FIELDS``) are stored in
  ``personal_value`` and the event holds ``{"$personal": id}`` in their place; reads put
  the value back. Forgetting a person (``forget_personal_data``) erases their values,
  so the chain, which hashed only the references, still verifies, and their history
  still lists every event and device. Chosen over encrypting values with a per-person
  key (crypto-shredding): a reference is written by plain SQL (the set-based writers
  build events in ``INSERT … SELECT``, where no key is at hand), needs no cipher in the
  database (the embedded server has no pgcrypto) and leaves no ciphertext behind to
  argue about; both leave the erased value in backups until they age out.

Events by a page user name them as ``user_actor_name(user_id)`` (``user:17``), never by
e-mail.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

import asyncpg
import msgspec

from fleetsvc import audit_chain
from fleetsvc.errors import NotFound, ValidationFailed
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


# What history reads select from: the events, and each created record as the ``created``
# event it stands for (migration ``2026-12-04T05:00:00``).
HISTORY: Final = "event_history"


def user_actor_name(user_id: int) -> str:
    """How events name a page user: a stable id, not their e-mail address."""
    return f"user:{user_id}"


# --- personal data ---------------------------------------------------------------------------

# Whose a personal field is: the event's own entity (a person), or the person whose UPN it is.
SELF: Final = "self"
BY_UPN: Final = "upn"
# Free text people type (a move's reason, an asset's notes, a write-off's reason): it may
# name anyone, so it is kept apart too (owned by nobody) unless empty, and erased when it
# holds a value of a person being forgotten (``audit_forget_free_text``).
FREE: Final = "free"
# Every field of an event's before/after that holds a person's data, by entity. A new
# personal field must be listed here, or it is stored in clear and never forgotten.
PERSONAL_FIELDS: Final[Mapping[str, Mapping[str, str]]] = {
    "person": {"display_name": SELF, "upn": SELF, "employee_number": SELF},
    "asset": {"mdm_user_upn": BY_UPN, "reason": FREE, "notes": FREE},
    "recovery_line": {"reason": FREE},
    "user": {"email": BY_UPN},
}
REF: Final = "$personal"
ERASED: Final = "[pseudonymised]"

_FIELDS_SQL = ", ".join(
    f"('{entity}', '{name}', '{owner}')"
    for entity, fields in PERSONAL_FIELDS.items()
    for name, owner in fields.items()
)
_PERSON_BY_UPN = "(SELECT p.id FROM person p WHERE lower(p.upn) = lower({}) ORDER BY p.id LIMIT 1)"

# Values get their ids first (nextval), so the caller knows which id is which value.
_STORE_SQL = f"""
WITH v AS MATERIALIZED (
    SELECT nextval('personal_value_id_seq') AS id, u.n,
           COALESCE(u.owner, CASE WHEN u.by_upn THEN {_PERSON_BY_UPN.format("u.value")} END)
               AS person_id,
           u.field, u.value
    FROM unnest($1::int[], $2::text[], $3::text[], $4::bool[])
        WITH ORDINALITY AS u(owner, field, value, by_upn, n)
), stored AS (
    INSERT INTO personal_value (id, person_id, field, value)
    SELECT id, person_id, field, value FROM v
)
SELECT id FROM v ORDER BY n
"""


@dataclass(frozen=True, slots=True)
class EventRow:
    entity: str
    entity_id: int
    action: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class _Personal:
    event: int  # index in the batch
    side: str  # "before" or "after"
    field: str
    value: str
    owner: int | None  # the person, when the event is about them
    by_upn: bool


def _personal_in(n: int, event: EventRow) -> list[_Personal]:
    fields = PERSONAL_FIELDS.get(event.entity, {})
    found = []
    for side, doc in (("before", event.before), ("after", event.after)):
        for name, owner in fields.items():
            value = doc.get(name) if doc is not None else None
            if isinstance(value, str) and (value or owner != FREE):
                self_owner = event.entity_id if owner == SELF else None
                found.append(_Personal(n, side, name, value, self_owner, owner == BY_UPN))
    return found


async def _without_personal_data(
    conn: asyncpg.Connection, events: Sequence[EventRow]
) -> list[EventRow]:
    """The events with each personal value stored apart and replaced by its reference."""
    found = [p for n, e in enumerate(events) for p in _personal_in(n, e)]
    if not found:
        return list(events)
    ids = await conn.fetch(
        _STORE_SQL,
        [p.owner for p in found],
        [p.field for p in found],
        [p.value for p in found],
        [p.by_upn for p in found],
    )
    refs: dict[tuple[int, str], dict[str, Any]] = {}
    for p, row in zip(found, ids, strict=True):
        refs.setdefault((p.event, p.side), {})[p.field] = {REF: row["id"]}
    out = list(events)
    for (n, side), fields in refs.items():
        e = out[n]
        if side == "before":
            out[n] = replace(e, before={**(e.before or {}), **fields})
        else:
            out[n] = replace(e, after={**(e.after or {}), **fields})
    return out


# --- writing ---------------------------------------------------------------------------------


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
    [e] = await _without_personal_data(conn, [EventRow(entity, entity_id, action, before, after)])
    await conn.execute(
        "INSERT INTO event (actor_name, actor_role, request_id, entity, entity_id, action,"
        " before, after) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb)",
        actor.name,
        actor.role,
        actor.request_id,
        entity,
        entity_id,
        action,
        to_json(e.before),
        to_json(e.after),
    )


async def record_many(conn: asyncpg.Connection, actor: Actor, events: Iterable[EventRow]) -> int:
    """Record many changes with one COPY (bulk imports and syncs)."""
    rows = await _without_personal_data(conn, list(events))
    if not rows:
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
        for e in rows
    ]
    await conn.copy_records_to_table(
        "event",
        records=records,
        columns=list(EVENT_COLUMNS[1:]),  # all but the id
    )
    return len(records)


# The query's rows, numbered in its order; their personal values stored apart; the events
# written with references in their place, all in one statement.
_FROM_QUERY_SQL = f"""
WITH q AS MATERIALIZED (
    SELECT row_number() OVER () AS n, s.entity, s.entity_id, s.action, s.before, s.after
    FROM ({{select_sql}}) AS s
), found AS MATERIALIZED (
    SELECT nextval('personal_value_id_seq') AS pv_id, q.n, d.side, f.field,
           d.doc ->> f.field AS value,
           CASE f.owner WHEN '{BY_UPN}' THEN {_PERSON_BY_UPN.format("d.doc ->> f.field")}
                WHEN '{SELF}' THEN q.entity_id::integer END AS person_id
    FROM q
    JOIN (VALUES {_FIELDS_SQL}) AS f(entity, field, owner) ON f.entity = q.entity
    CROSS JOIN LATERAL (VALUES ('before', q.before), ('after', q.after)) AS d(side, doc)
    WHERE jsonb_typeof(d.doc -> f.field) = 'string'
      AND (f.owner <> '{FREE}' OR d.doc ->> f.field <> '')
), stored AS (
    INSERT INTO personal_value (id, person_id, field, value)
    SELECT pv_id, person_id, field, value FROM found
), refs AS (
    SELECT n,
           jsonb_object_agg(field, jsonb_build_object('{REF}', pv_id))
               FILTER (WHERE side = 'before') AS b,
           jsonb_object_agg(field, jsonb_build_object('{REF}', pv_id))
               FILTER (WHERE side = 'after') AS a
    FROM found GROUP BY n
)
INSERT INTO event (actor_name, actor_role, request_id, entity, entity_id, action, before, after)
SELECT {{actor}}, q.entity, q.entity_id, q.action,
       CASE WHEN r.b IS NULL THEN q.before ELSE q.before || r.b END,
       CASE WHEN r.a IS NULL THEN q.after ELSE q.after || r.a END
FROM q LEFT JOIN refs r ON r.n = q.n
ORDER BY q.n
"""


async def record_from_query(
    conn: asyncpg.Connection, actor: Actor, select_sql: str, *args: Any
) -> int:
    """Record one event per row of a query, set-based, with no round trip per row.

    ``select_sql`` must return columns ``entity, entity_id, action, before, after``
    (jsonb or NULL), in the order the events should be written; the actor columns are
    added here.
    """
    n = len(args)
    sql = _FROM_QUERY_SQL.format(select_sql=select_sql, actor=f"${n + 1}, ${n + 2}, ${n + 3}")
    result = await conn.execute(sql, *args, actor.name, actor.role, actor.request_id)
    return int(result.split()[-1])


# Sealing created items: the caller's INSERT of them and the event that holds how many
# history entries they are (an item and its SIM: two) and their digest, in one statement (the
# event's id drawn first, so they can name it). The digest is taken over the rows the INSERT
# returns, as stored (defaults and all): the items are neither read back nor looked for in
# the table, which has no index by event (a scan of every import's items, growing with
# history, as a second statement needed).
_SEAL_RECORDS_SQL = f"""
WITH r AS ({{insert_sql}} RETURNING *)
INSERT INTO event (id, actor_name, actor_role, request_id, entity, entity_id, action, after)
SELECT $1::bigint, $2, $3, $4, ${{entity}}, ${{entity_id}}::bigint, '{audit_chain.RECORDS_ACTION}',
       jsonb_build_object('records', {audit_chain.ITEM_ENTRIES_SQL},
                          'records_format', {audit_chain.ITEMS_FORMAT},
                          'records_sha256', {audit_chain.ITEMS_DIGEST_SQL})
FROM r
RETURNING (after ->> 'records')::bigint
"""


async def record_created(
    conn: asyncpg.Connection,
    actor: Actor,
    entity: str,
    entity_id: int,
    insert_sql: str,
    *args: Any,
) -> int:
    """Record a bulk creation as ``created_item`` rows sealed by one event, set-based.

    ``insert_sql`` inserts the items (an ``INSERT … SELECT`` into ``created_item`` with no
    RETURNING of its own): ``$1`` is the sealing event's id, ``$2``-``$4`` the actor's name,
    role and request id, the caller's arguments follow. Each item, and its SIM, shows in
    history reads (``event_history``) as the ``created`` event it stands for. The sealing
    event is ``items_created`` on ``entity``/``entity_id``, with the entries' count and
    SHA-256 (``audit_chain.ITEMS_DIGEST_SQL``, format ``audit_chain.ITEMS_FORMAT``), written
    by the same statement. Items hold no personal field (their columns are fixed:
    ``audit_chain.ITEM_COLUMNS``), so nothing is stored apart. Returns how many history
    entries (an item and its SIM are two).
    """
    event_id = await conn.fetchval("SELECT nextval(pg_get_serial_sequence('event', 'id'))")
    n = len(args) + 4
    sql = _SEAL_RECORDS_SQL.format(insert_sql=insert_sql, entity=n + 1, entity_id=n + 2)
    records: int = await conn.fetchval(
        sql, event_id, actor.name, actor.role, actor.request_id, *args, entity, entity_id
    )
    return records


# --- forgetting ------------------------------------------------------------------------------


async def forget_personal_data(
    conn: asyncpg.Connection, actor: Actor, person_id: int, pseudonym: str
) -> int:
    """Erase every personal value the audit trail holds for a person; returns how many.

    Erased: the values their events recorded (name, UPN, employee number), values
    that named nobody when they were written (an MDM user's UPN recorded before the
    person was in the register) equal to one of theirs, and free text (a move's reason,
    notes) that contains one of theirs, or a word of their name no one else's has. Reads show
    ``[pseudonymised <pseudonym>]`` in their place from then on; the events themselves,
    and so the chain, are unchanged. The erasure is itself an event
    (``personal_data_forgotten``). Safe to repeat (the second time erases nothing).
    """
    pseudonym = pseudonym.strip()
    if not 1 <= len(pseudonym) <= 64 or not pseudonym.isprintable() or "@" in pseudonym:
        raise ValidationFailed.one(
            "pseudonym", "a pseudonym is 1 to 64 printable characters and no e-mail address"
        )
    if not 1 <= person_id <= 2**31 - 1:
        raise NotFound("person", person_id)
    # Free text in events that names them, first, while their values are there to match.
    free = await conn.fetchval(
        "SELECT audit_forget_free_text($1::int[], $2::text[])", [person_id], [pseudonym]
    )
    erased = await conn.fetchval(
        "SELECT audit_forget_person($1, $2, $3, $4, $5)",
        person_id,
        pseudonym,
        actor.name,
        actor.role,
        actor.request_id,
    )
    if erased is None:
        raise NotFound("person", person_id)
    return int(free) + int(erased)


# --- reading ---------------------------------------------------------------------------------


def _is_ref(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(REF), int)


def _shown(row: asyncpg.Record | None) -> str:
    if row is None:
        return ERASED
    if row["value"] is not None:
        return str(row["value"])
    return f"[pseudonymised {row['pseudonym']}]" if row["pseudonym"] else ERASED


async def decode_events(
    conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]
) -> list[dict[str, Any]]:
    """Event rows as dicts, before/after decoded and personal values put back (or, for a
    forgotten person, the pseudonymised marker)."""
    items = []
    wanted: set[int] = set()
    for row in rows:
        item = dict(row)
        for key in ("before", "after"):
            if item[key] is not None:
                item[key] = doc = msgspec.json.decode(item[key])
                wanted.update(v[REF] for v in doc.values() if _is_ref(v))
        items.append(item)
    if not wanted:
        return items
    values = {
        r["id"]: r
        for r in await conn.fetch(
            "SELECT id, value, pseudonym FROM personal_value WHERE id = ANY($1::bigint[])",
            sorted(wanted),
        )
    }
    for item in items:
        for key in ("before", "after"):
            doc = item[key]
            for name, v in (doc or {}).items():
                if _is_ref(v):
                    doc[name] = _shown(values.get(v[REF]))
    return items


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


async def events_of(conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]) -> list[Event]:
    """Rows of ``EVENT_COLUMNS`` as ``Event``s, personal values put back (``decode_events``)."""
    return [
        Event(**{name: item[name] for name in Event.__struct_fields__})
        for item in await decode_events(conn, rows)
    ]


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
        f"SELECT {', '.join(EVENT_COLUMNS)} FROM {HISTORY}"
        f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id LIMIT ${len(args)}"
    )
    return make_page(await events_of(conn, await conn.fetch(sql, *args)), page, key=lambda e: e.id)
