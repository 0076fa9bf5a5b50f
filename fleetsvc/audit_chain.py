"""Checking the audit trail's hash chain: every event, in chain order, against its hash.

PostgreSQL seals each committed transaction's events into ``event_seal`` (see the
``2026-12-03T09:00:00`` migration). An event's hash is
``sha256(previous hash || sha256(canonical text))``, starting from 32 zero bytes;
the canonical text is ``CANONICAL_SQL``, rebuilt here from the stored row and hashed
in Python, so a check depends on no function stored in the database. The walk streams
one snapshot with a cursor and stops at the first event that does not match.

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
        return (
            f"audit trail verified: {self.events_checked:,} events checked, head {self.head_hash}"
            f" (event {self.head_event_id}) {took}{anchor}"
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
    if anchor is not None and w.anchor_event is None:
        return ChainBreak(
            None,
            f"the chain does not pass through the anchor {anchor.hex()}: history up to it was"
            " rewritten, or the anchor is from another database",
        )
    return None


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
    return ChainReport(
        events_checked=w.checked,
        head_hash=w.head.hex(),
        head_event_id=w.last_event,
        seconds=time.perf_counter() - started,
        first_break=w.problem,
        anchor_event_id=w.anchor_event,
    )
