"""Checking the audit trail's hash chain: every event, in chain order, against its hash.

PostgreSQL seals each committed transaction's events into ``event_seal`` (see the
``2026-12-03T09:00:00`` migration). An event's hash is
``sha256(previous hash || sha256(canonical text))``, starting from 32 zero bytes;
the canonical text is ``CANONICAL_SQL``, rebuilt here from the stored row and hashed
in Python, so a check depends on no function stored in the database. The walk streams
one snapshot with a cursor and stops at the first event that does not match.

A delivery's created items are not events of their own but rows of ``created_item`` (one
per item, its SIM on the same row; before, ``created_record``, one per handset and one per
SIM), sealed by one ``items_created`` event of the import whose ``after`` holds how many
history entries they are and ``records_sha256``, the SHA-256 of their canonical texts
(``ITEMS_DIGEST_SQL``; ``RECORDS_DIGEST_SQL`` for records) in id order; the walk covers
that event, and ``_records_problem`` recomputes every digest, each in the canonical form
its event names (``records_format``).

The chain shows that nothing was changed *within* it. Someone who can rewrite the event
table can also recompute every hash after their change; to catch that, keep the head
hash a check reports somewhere else (a ticket, the daily notice) and check against it
later (``anchor``): the chain must still pass through it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import asyncpg

GENESIS = bytes(32)

# The one definition of an event's canonical text; the migration's event_canonical()
# builds the same (a test holds them equal).
CANONICAL_SQL = (
    "jsonb_build_array(e.id, to_char(e.occurred_at AT TIME ZONE 'UTC',"
    ' \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\'), e.actor_name, e.actor_role, e.request_id,'
    " e.entity, e.entity_id, e.action, e.before, e.after)::text"
)

# A created record's canonical text: every column, in this order (a test holds it equal to
# the table's columns).
RECORD_COLUMNS = (
    "id",
    "event_id",
    "occurred_at",
    "actor_name",
    "actor_role",
    "request_id",
    "entity",
    "entity_id",
    "delivery_import_id",
    "model_id",
    "manufacturer",
    "serial_number",
    "imei",
    "status",
    "purchase_order_id",
    "contract_id",
    "supplier_order_ref",
    "delivery_ref",
    "unit_cost",
    "delivered_on",
    "refresh_due_on",
    "location_id",
    "iccid",
    "msisdn",
    "asset_id",
)
# The sealing event's own time, actor and request id, kept in each record so history reads
# need no join (and the actor's pages their index). Format 2 leaves them out of the digest:
# verify holds each record's equal to its sealing event's, which the chain covers.
SEALED_BY_EVENT = ("occurred_at", "actor_name", "actor_role", "request_id")
# Format 2 (``records_format`` 2 in the event): the other columns as one row value's text
# (PostgreSQL's record output: NULL empty, a value with a comma, quote, parenthesis,
# backslash or space quoted, so no two rows share a text), dates spelt out with to_char so
# that no session setting (DateStyle) changes them. Format 1 was a jsonb array of every
# column; for a 29,737-handset delivery's 59,474 records the digest takes 84 ms against
# 215 ms (the time spelt out per record alone was 27 ms). Seals written before it hold
# format 1, which verify still recomputes.
_SPELT = {
    "delivered_on": "to_char(r.delivered_on, 'YYYY-MM-DD')",
    "refresh_due_on": "to_char(r.refresh_due_on, 'YYYY-MM-DD')",
}
RECORD_CANONICAL_SQL = (
    "ROW("
    + ", ".join(_SPELT.get(c, "r." + c) for c in RECORD_COLUMNS if c not in SEALED_BY_EVENT)
    + ")::text"
)
# Format 1: a jsonb array of the columns (dates ISO, numbers as stored, whatever the session).
RECORD_CANONICAL_V1_SQL = f"jsonb_build_array({', '.join('r.' + c for c in RECORD_COLUMNS)})::text"

# A created item's canonical text (format 3): one ``created_item`` row, the item and its SIM
# (a test holds these equal to the table's columns). As format 2: the columns the sealing
# event holds left out (verify holds them equal to the event's), the rest as one row value's
# text, dates spelt out. Its event's ``records`` counts history entries, as before: an item
# and its SIM are two (``ITEM_ENTRIES_SQL``).
ITEM_COLUMNS = (
    "id",
    "event_id",
    "occurred_at",
    "actor_name",
    "actor_role",
    "request_id",
    "delivery_import_id",
    "asset_id",
    "model_id",
    "manufacturer",
    "serial_number",
    "imei",
    "status",
    "purchase_order_id",
    "contract_id",
    "supplier_order_ref",
    "delivery_ref",
    "unit_cost",
    "delivered_on",
    "refresh_due_on",
    "location_id",
    "sim_record_id",
    "sim_id",
    "iccid",
    "msisdn",
    "sim_contract_id",
)
ITEM_CANONICAL_SQL = (
    "ROW("
    + ", ".join(_SPELT.get(c, "r." + c) for c in ITEM_COLUMNS if c not in SEALED_BY_EVENT)
    + ")::text"
)
# How many history entries rows of created_item AS r stand for: the item's, and its SIM's.
ITEM_ENTRIES_SQL = "count(*) + count(r.sim_record_id)"
# The formats verify recomputes: 1 and 2 over created_record (no longer written), 3 over
# created_item. New seals are written in ITEMS_FORMAT.
RECORD_FORMATS = (1, 2)
ITEMS_FORMAT = 3


def _digest_sql(canonical: str) -> str:
    return (
        f"encode(sha256(convert_to(string_agg({canonical}, E'\\n' ORDER BY r.id), 'UTF8')), 'hex')"
    )


# The digest an items_created event holds: over its records' canonical texts in id order,
# one per line (neither text has a raw newline: record output quotes a value holding one).
# Aggregates rows of created_record AS r. The event says which format in records_format
# (absent: 1).
RECORDS_DIGEST_SQL = _digest_sql(RECORD_CANONICAL_SQL)
RECORDS_DIGEST_V1_SQL = _digest_sql(RECORD_CANONICAL_V1_SQL)
# Format 3, over rows of created_item AS r.
ITEMS_DIGEST_SQL = _digest_sql(ITEM_CANONICAL_SQL)
RECORDS_ACTION = "items_created"

# Each event that seals records or items against the rows that name it, each digest
# recomputed in its event's format (records no format-2 event names: format 1's branch;
# items: format 3's, whatever their event says, so that rows of the wrong table or format
# never match), and in formats 2 and 3 each row's time, actor and request id against the
# event's; the first that differ. An event whose rows are in both tables gets two rows here,
# and at least one of them differs.
_SAME_AS_SEAL = " AND ".join(f"r.{c} IS NOT DISTINCT FROM e.{c}" for c in SEALED_BY_EVENT)
_RECORDS_SQL = f"""
WITH e AS (
    SELECT id, after, COALESCE((after ->> 'records_format')::int, 1) AS format,
           {", ".join(SEALED_BY_EVENT)}
    FROM event WHERE action = '{RECORDS_ACTION}'
), r AS (
    SELECT r.event_id, 1 AS format, count(*) AS n, {RECORDS_DIGEST_V1_SQL} AS digest,
           true AS same
    FROM created_record r
    WHERE r.event_id NOT IN (SELECT id FROM e WHERE format = 2)
    GROUP BY r.event_id
    UNION ALL
    SELECT r.event_id, 2, count(*) AS n, {RECORDS_DIGEST_SQL} AS digest,
           bool_and({_SAME_AS_SEAL}) AS same
    FROM created_record r JOIN e ON e.id = r.event_id AND e.format = 2
    GROUP BY r.event_id
    UNION ALL
    SELECT r.event_id, {ITEMS_FORMAT}, {ITEM_ENTRIES_SQL} AS n, {ITEMS_DIGEST_SQL} AS digest,
           bool_and({_SAME_AS_SEAL}) AS same
    FROM created_item r LEFT JOIN e ON e.id = r.event_id
    GROUP BY r.event_id
)
SELECT COALESCE(e.id, r.event_id) AS event_id, e.id IS NOT NULL AS sealed,
       COALESCE(r.n, 0) AS n, (e.after ->> 'records')::bigint AS told,
       r.n IS NOT DISTINCT FROM (e.after ->> 'records')::bigint
           AND r.digest IS NOT DISTINCT FROM e.after ->> 'records_sha256'
           AND r.format IS NOT DISTINCT FROM e.format AS digested,
       r.same IS NOT false AS same
FROM r FULL JOIN e ON e.id = r.event_id
WHERE e.id IS NULL OR r.n IS DISTINCT FROM (e.after ->> 'records')::bigint
   OR r.digest IS DISTINCT FROM e.after ->> 'records_sha256' OR NOT r.same
   OR r.format IS DISTINCT FROM e.format
   OR e.format NOT IN ({", ".join(map(str, RECORD_FORMATS))}, {ITEMS_FORMAT})
ORDER BY 1 LIMIT 1
"""

# Chain order, one row per sealed event (a deleted event comes back with no text). The ORDER
# BY is the outermost clause: joined to events by hash (as PostgreSQL chooses for a long
# chain), an ordered subquery comes out in the event table's order instead.
_WALK_SQL = f"""
SELECT s.seq, u.event_id, u.hash, CASE WHEN e.id IS NOT NULL THEN {CANONICAL_SQL} END
FROM event_seal s
CROSS JOIN LATERAL unnest(s.event_ids, s.hashes) WITH ORDINALITY AS u(event_id, hash, n)
LEFT JOIN event e ON e.id = u.event_id
ORDER BY s.seq, u.n
"""

# Every stored event is in the chain exactly once (a deleted one was found by the walk).
_UNSEALED_SQL = """
SELECT id, count(*) FILTER (WHERE sealed) AS times
FROM (SELECT id, false AS sealed FROM event
      UNION ALL SELECT unnest(event_ids), true FROM event_seal) x
GROUP BY id
HAVING count(*) FILTER (WHERE sealed) <> 1 AND bool_or(NOT sealed)
ORDER BY id LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place the chain does not hold: the event named, and what is wrong."""

    event_id: int | None
    problem: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    events_checked: int
    head_hash: str  # hex; the chain hash after the last event checked
    head_event_id: int | None
    seconds: float
    first_break: ChainBreak | None
    anchor_event_id: int | None  # where the anchor asked for was found
    records_checked: int = 0  # created records, checked against their events' digests

    @property
    def ok(self) -> bool:
        return self.first_break is None

    def summary(self) -> str:
        took = f"in {self.seconds:.2f} s"
        if self.first_break is not None:
            where = (
                f"event {self.first_break.event_id}"
                if self.first_break.event_id is not None
                else "the chain"
            )
            return (
                f"audit trail broken at {where}: {self.first_break.problem}"
                f" ({self.events_checked:,} events before it verified {took})"
            )
        anchor = (
            f"; anchor found at event {self.anchor_event_id}"
            if self.anchor_event_id is not None
            else ""
        )
        records = f" and {self.records_checked:,} created records" if self.records_checked else ""
        return (
            f"audit trail verified: {self.events_checked:,} events{records} checked,"
            f" head {self.head_hash} (event {self.head_event_id}) {took}{anchor}"
        )


def parse_anchor(text: str) -> bytes | None:
    """A head hash as a check printed it (64 hex digits), or None if it is not one."""
    text = text.strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        return None
    return bytes.fromhex(text)


@dataclass(slots=True)
class _Walk:
    checked: int = 0
    seq: int = 0
    head: bytes = GENESIS
    last_event: int | None = None
    anchor_event: int | None = None
    problem: ChainBreak | None = None


async def _walk(conn: asyncpg.Connection, anchor: bytes | None) -> _Walk:
    w = _Walk()
    sha256 = hashlib.sha256
    async for seq, event_id, stored, canonical in conn.cursor(_WALK_SQL, prefetch=5000):
        if seq != w.seq and seq != w.seq + 1:
            w.problem = ChainBreak(
                event_id, f"the chain skips from seal {w.seq} to seal {seq}: seals were removed"
            )
            break
        w.seq = seq
        if canonical is None:
            w.problem = ChainBreak(
                event_id, "it is in the chain but not in the event table: it was deleted"
            )
            break
        h = sha256(w.head + sha256(canonical.encode()).digest()).digest()
        if h != stored:
            w.problem = ChainBreak(
                event_id,
                "it does not match its hash: it was changed (or the hash was)",
            )
            break
        w.head, w.last_event = h, event_id
        w.checked += 1
        if h == anchor:
            w.anchor_event = event_id
    return w


async def _rest_problem(
    conn: asyncpg.Connection, w: _Walk, anchor: bytes | None
) -> ChainBreak | None:
    """After a clean walk: the head agrees with the last seal, every event is sealed once,
    and the anchor (if any) was passed."""
    head = await conn.fetchrow("SELECT seq, events, hash FROM event_chain_head")
    if head is None or (head["seq"], head["events"], bytes(head["hash"])) != (
        w.seq,
        w.checked,
        w.head,
    ):
        return ChainBreak(
            w.last_event,
            "the chain's head does not match its last seal: seals were removed or the head"
            " was changed",
        )
    row = await conn.fetchrow(_UNSEALED_SQL)
    if row is not None:
        if row["times"] == 0:
            return ChainBreak(
                row["id"], "it is not in the chain: it was written with the chain's triggers off"
            )
        return ChainBreak(row["id"], f"it is in the chain {row['times']} times")
    records = await _records_problem(conn)
    if records is not None:
        return records
    if anchor is not None and w.anchor_event is None:
        return ChainBreak(
            None,
            f"the chain does not pass through the anchor {anchor.hex()}: history up to it was"
            " rewritten, or the anchor is from another database",
        )
    return None


async def _records_problem(conn: asyncpg.Connection) -> ChainBreak | None:
    """Every created record is sealed by an event, and each event's records still match
    the count and digest it holds."""
    row = await conn.fetchrow(_RECORDS_SQL)
    if row is None:
        return None
    if not row["sealed"]:
        return ChainBreak(
            row["event_id"],
            f"{row['n']:,} created records name it, but it is no {RECORDS_ACTION} event:"
            " they were added outside an import",
        )
    if row["digested"] and not row["same"]:
        return ChainBreak(
            row["event_id"],
            "a created record it seals holds another time, actor or request id than it does:"
            " the record was changed",
        )
    return ChainBreak(
        row["event_id"],
        f"its created records ({row['n']:,} found, {row['told'] or 0:,} sealed) do not match the"
        " digest it holds: one was changed, added or removed",
    )


async def verify_chain(conn: asyncpg.Connection, *, anchor: bytes | None = None) -> ChainReport:
    """Walk the whole chain in one snapshot (a read-only transaction of its own)."""
    started = time.perf_counter()
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        # The chain's own tables, never a temporary table of the same name.
        await conn.execute(
            "SELECT set_config('search_path', quote_ident(current_schema()) || ', pg_temp', true)"
        )
        w = await _walk(conn, anchor)
        if w.problem is None:
            w.problem = await _rest_problem(conn, w, anchor)
        records = await conn.fetchval(
            "SELECT (SELECT count(*) FROM created_record)"
            f" + (SELECT {ITEM_ENTRIES_SQL} FROM created_item r)"
        )
    return ChainReport(
        events_checked=w.checked,
        head_hash=w.head.hex(),
        head_event_id=w.last_event,
        seconds=time.perf_counter() - started,
        first_break=w.problem,
        anchor_event_id=w.anchor_event,
        records_checked=records if w.problem is None else 0,
    )
