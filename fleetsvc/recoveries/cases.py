"""Opening recovery cases for new leavers and settling the lines of devices that moved,
set-based, in the caller's transaction, each change an event.

``open_cases`` takes any number of people (one from a PATCH, thousands from a feed): those
who are leavers and hold a device no open line lists get a case (or their open case gains
the line). ``settle`` takes the devices a move took out of ``deployed``: a device back in
stock, in repair or awaiting rebuild is ``recovered``; one marked lost or stolen is
``written_off``; a case whose last line closed closes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import asyncpg

from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.settings import get_settings

CASE: Final = "recovery_case"
LINE: Final = "recovery_line"

# $1 people, $2 due days, $3 who opened. Leavers holding a device with no open line get a
# case (one with an open case keeps it: the unique index makes the conflict a no-op).
_OPEN_CASES: Final = """
INSERT INTO recovery_case (person_id, business_unit_id, left_on, due_on, opened_by)
SELECT p.id, p.business_unit_id, COALESCE(p.left_on, current_date),
       greatest(COALESCE(p.left_on, current_date), current_date) + $2::int, $3
FROM person p
WHERE p.id = ANY($1::int[]) AND NOT p.active
  AND EXISTS (SELECT 1 FROM asset a WHERE a.person_id = p.id AND a.status = 'deployed'
              AND NOT EXISTS (SELECT 1 FROM recovery_line l
                              WHERE l.asset_id = a.id AND l.status = 'open'))
ORDER BY p.id
ON CONFLICT (person_id) WHERE status = 'open' DO NOTHING
RETURNING id
"""

# Every device the leavers hold that no open line lists, on their open case, with the
# licence seats on it as they are now.
_ADD_LINES: Final = """
INSERT INTO recovery_line (case_id, asset_id, licence_seats)
SELECT c.id, a.id,
       COALESCE((SELECT jsonb_agg(jsonb_build_object('seat_id', s.id, 'pool_id', s.pool_id,
                                                     'product', lp.product) ORDER BY s.id)
                 FROM licence_seat s JOIN licence_pool lp ON lp.id = s.pool_id
                 WHERE s.asset_id = a.id), '[]'::jsonb)
FROM recovery_case c JOIN asset a ON a.person_id = c.person_id AND a.status = 'deployed'
WHERE c.person_id = ANY($1::int[]) AND c.status = 'open'
  AND NOT EXISTS (SELECT 1 FROM recovery_line l WHERE l.asset_id = a.id AND l.status = 'open')
ORDER BY c.id, a.id
RETURNING id, case_id, asset_id, jsonb_array_length(licence_seats) AS seats
"""

# $1 the devices that moved, $2 who. A line closes only once its device has left the
# leaver (the constraint trigger checks the same at commit).
_SETTLE: Final = """
UPDATE recovery_line l
SET status = CASE WHEN a.status IN ('lost', 'stolen') THEN 'written_off' ELSE 'recovered' END,
    reason = CASE WHEN a.status IN ('lost', 'stolen')
                  THEN format('the device was marked %s', a.status) END,
    closed_to = a.status, closed_at = now(), closed_by = $2
FROM asset a, recovery_case c
WHERE l.asset_id = ANY($1::int[]) AND l.status = 'open' AND a.id = l.asset_id
  AND c.id = l.case_id AND NOT (a.status = 'deployed' AND a.person_id = c.person_id)
RETURNING l.id, l.case_id, l.asset_id, l.status, l.reason, l.closed_to
"""

# The cases among $1 with no open line left.
_CLOSE_CASES: Final = """
UPDATE recovery_case c SET status = 'closed', closed_at = now(), version = c.version + 1,
       updated_at = now()
WHERE c.id = ANY($1::int[]) AND c.status = 'open'
  AND NOT EXISTS (SELECT 1 FROM recovery_line l WHERE l.case_id = c.id AND l.status = 'open')
RETURNING c.id, c.person_id
"""


async def open_cases(conn: asyncpg.Connection, actor: Actor, person_ids: Sequence[int]) -> int:
    """Open a case for each of these people who is a leaver holding devices that no open
    line lists (or add them to their open case); returns the cases opened."""
    if not person_ids:
        return 0
    people = sorted(set(person_ids))
    opened = {
        r["id"]
        for r in await conn.fetch(_OPEN_CASES, people, get_settings().recovery_due_days, actor.name)
    }
    lines = await conn.fetch(_ADD_LINES, people)
    if not lines:
        return len(opened)
    by_case: dict[int, list[asyncpg.Record]] = {}
    for line in lines:
        by_case.setdefault(line["case_id"], []).append(line)
    cases = await conn.fetch(
        "SELECT id, person_id, left_on, due_on FROM recovery_case WHERE id = ANY($1::int[])"
        " ORDER BY id",
        sorted(by_case),
    )
    events = []
    for case in cases:
        added = by_case[case["id"]]
        after = {
            "person_id": case["person_id"],
            "left_on": case["left_on"],
            "due_on": case["due_on"],
            "asset_ids": [line["asset_id"] for line in added],
            "licence_seats": sum(line["seats"] for line in added),
        }
        action = "opened" if case["id"] in opened else "lines_added"
        events.append(audit.EventRow(CASE, case["id"], action, None, after))
    await audit.record_many(conn, actor, events)
    return len(opened)


async def settle(conn: asyncpg.Connection, actor: Actor, asset_ids: Sequence[int]) -> int:
    """Close the open lines of these devices that have left their leaver, and the cases
    whose last line that was; returns the lines closed. One statement when none is open."""
    if not asset_ids:
        return 0
    closed = await conn.fetch(_SETTLE, list(asset_ids), actor.name)
    if not closed:
        return 0
    events = [
        audit.EventRow(
            LINE,
            line["id"],
            line["status"],
            {"status": "open"},
            {
                "status": line["status"],
                "case_id": line["case_id"],
                "asset_id": line["asset_id"],
                "asset_status": line["closed_to"],
                "reason": line["reason"],
            },
        )
        for line in closed
    ]
    done = await conn.fetch(_CLOSE_CASES, sorted({line["case_id"] for line in closed}))
    events += [
        audit.EventRow(
            CASE, c["id"], "closed", {"status": "open"}, {"status": "closed", **_person(c)}
        )
        for c in done
    ]
    await audit.record_many(conn, actor, events)
    return len(closed)


def _person(case: asyncpg.Record) -> dict[str, int]:
    return {"person_id": case["person_id"]}


async def close_if_done(conn: asyncpg.Connection, actor: Actor, case_id: int) -> bool:
    """Close the case if no line is open (after a write-off); whether it closed."""
    done = await conn.fetch(_CLOSE_CASES, [case_id])
    for c in done:
        after = {"status": "closed", **_person(c)}
        before = {"status": "open"}
        await audit.record(conn, actor, CASE, c["id"], "closed", before=before, after=after)
    return bool(done)
