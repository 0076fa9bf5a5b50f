"""Opening recovery cases for new leavers and settling the lines of devices that moved,
set-based, in the caller's transaction, each change an event.

``open_cases`` takes any number of people (one from a PATCH, thousands from a feed): those
who are leavers and hold a device no open line lists get a case (or their open case gains
the line). ``settle`` takes the devices a move took out of ``deployed``: a device back in
stock, in repair or awaiting rebuild is ``recovered``; one marked lost or stolen is
``written_off``; a case whose last line closed closes. ``cancel_cases`` takes people who
came back (the feed cleared their leaving date, or ``active`` set true again): their open
case and its open lines are ``cancelled`` (reason ``returned``), so nothing of theirs
counts as overdue, and leaving again opens a new case.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import asyncpg

from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.settings import get_settings
from fleetsvc.vocabulary import RecoveryCancelReason, RecoveryLineStatus, RecoveryStatus

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

# The open cases among $1 whose lines changed: a new version (their ETag), and closed when
# no line is left open. Returns those that closed.
_CLOSE_CASES: Final = """
WITH touched AS (
    UPDATE recovery_case c
    SET status = CASE WHEN open.n = 0 THEN 'closed' ELSE c.status END,
        closed_at = CASE WHEN open.n = 0 THEN now() END,
        version = c.version + 1, updated_at = now()
    FROM (SELECT c2.id, (SELECT count(*) FROM recovery_line l
                         WHERE l.case_id = c2.id AND l.status = 'open') AS n
          FROM recovery_case c2 WHERE c2.id = ANY($1::int[]) AND c2.status = 'open') open
    WHERE c.id = open.id
    RETURNING c.id, c.person_id, c.status
)
SELECT id, person_id FROM touched WHERE status = 'closed' ORDER BY id
"""


# $1 people, $2 who. The open cases of those among them who are in post again, and the
# open lines of those cases (the device stays with them): cancelled.
_CANCEL: Final = """
WITH cancelled AS (
    UPDATE recovery_case c
    SET status = 'cancelled', reason = 'returned', closed_at = now(),
        version = c.version + 1, updated_at = now()
    FROM person p
    WHERE c.person_id = ANY($1::int[]) AND c.status = 'open' AND p.id = c.person_id
      AND p.active
    RETURNING c.id, c.person_id
), lines AS (
    UPDATE recovery_line l
    SET status = 'cancelled', reason = 'returned', closed_to = a.status, closed_at = now(),
        closed_by = $2
    FROM cancelled c, asset a
    WHERE l.case_id = c.id AND l.status = 'open' AND a.id = l.asset_id
    RETURNING l.id, l.case_id, l.asset_id, l.closed_to
)
SELECT c.id AS case_id, c.person_id, l.id AS line_id, l.asset_id, l.closed_to
FROM cancelled c LEFT JOIN lines l ON l.case_id = c.id
ORDER BY c.id, l.id
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
    added_to = [c["id"] for c in cases if c["id"] not in opened]
    if added_to:
        await conn.execute(
            "UPDATE recovery_case SET version = version + 1, updated_at = now()"
            " WHERE id = ANY($1::int[])",
            added_to,
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
    await audit.record_many(conn, actor, [*events, *_closed(done)])
    return len(closed)


async def cancel_cases(conn: asyncpg.Connection, actor: Actor, person_ids: Sequence[int]) -> int:
    """Cancel the open cases of these people who are in post again (reason ``returned``),
    with their open lines, each an event; returns the cases cancelled."""
    if not person_ids:
        return 0
    rows = await conn.fetch(_CANCEL, sorted(set(person_ids)), actor.name)
    events: list[audit.EventRow] = []
    cases: dict[int, tuple[int, list[int]]] = {}
    for r in rows:
        case = cases.setdefault(r["case_id"], (r["person_id"], []))
        if r["line_id"] is None:
            continue
        case[1].append(r["asset_id"])
        events.append(
            audit.EventRow(
                LINE,
                r["line_id"],
                RecoveryLineStatus.CANCELLED,
                {"status": "open"},
                {
                    "status": RecoveryLineStatus.CANCELLED,
                    "case_id": r["case_id"],
                    "asset_id": r["asset_id"],
                    "asset_status": r["closed_to"],
                    "reason": RecoveryCancelReason.RETURNED,
                },
            )
        )
    for case_id, (person_id, assets) in cases.items():
        after = {
            "status": RecoveryStatus.CANCELLED,
            "reason": RecoveryCancelReason.RETURNED,
            "person_id": person_id,
            "asset_ids": assets,
        }
        events.append(
            audit.EventRow(CASE, case_id, RecoveryStatus.CANCELLED, {"status": "open"}, after)
        )
    await audit.record_many(conn, actor, events)
    return len(cases)


def _closed(cases: Sequence[asyncpg.Record]) -> list[audit.EventRow]:
    """The ``closed`` events of cases whose last line closed."""
    return [
        audit.EventRow(
            CASE,
            c["id"],
            "closed",
            {"status": "open"},
            {"status": "closed", "person_id": c["person_id"]},
        )
        for c in cases
    ]


async def close_if_done(conn: asyncpg.Connection, actor: Actor, case_id: int) -> bool:
    """After a line of the case changed (a write-off): a new version, and closed if no line
    is open; whether it closed."""
    done = await conn.fetch(_CLOSE_CASES, [case_id])
    await audit.record_many(conn, actor, _closed(done))
    return bool(done)
