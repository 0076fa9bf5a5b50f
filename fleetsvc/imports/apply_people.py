"""Applying a people feed's new rows, set-based: the people to create in one INSERT with
their events (``audit_rows.record_rows``, which stores their names, UPNs and employee numbers
apart straight from the rows: the first full feed's 45,000 people), the people to change in
one UPDATE with theirs (``audit.record_from_query``; both hold personal values by
reference), a recovery case for each person who became a leaver holding devices
(``fleetsvc.recoveries.cases.open_cases``), and the open case of each leaver the file
brings back (a blank leaving date) cancelled (``cancel_cases``).
"""

from __future__ import annotations

from typing import Final

import asyncpg

from fleetsvc import audit, audit_rows
from fleetsvc.auth import Actor
from fleetsvc.imports.summary import PeopleCounts
from fleetsvc.people import RECORD_FIELDS
from fleetsvc.recoveries.cases import cancel_cases, open_cases

_CHANGED_TABLE: Final = """
CREATE TEMP TABLE person_changed (
    person_id integer, action text, before jsonb, after jsonb, became_leaver boolean,
    returned boolean
) ON COMMIT DROP
"""

# The people to create, in file order; their ``created`` events come with them
# (``audit_rows.record_rows``: names, UPNs and employee numbers stored apart, by reference).
INSERT_PEOPLE: Final = """
INSERT INTO person (employee_number, display_name, upn, business_unit_id, kind, active, left_on)
SELECT employee_number, display_name, upn, business_unit_id, person_kind, left_on IS NULL,
       left_on
FROM import_plan WHERE outcome = 'new' AND person_id IS NULL
ORDER BY row_number
RETURNING id, employee_number, display_name, upn, business_unit_id, kind, active, left_on
"""

# Each changed field as (name, old, new); the event holds only those that changed.
_FIELDS: Final = (
    ("display_name", "o.display_name", "p.display_name"),
    ("upn", "o.upn", "p.upn"),
    ("business_unit_id", "o.business_unit_id", "p.business_unit_id"),
    ("kind", "o.kind", "p.kind"),
    ("active", "o.active", "p.active"),
    ("left_on", "o.left_on", "p.left_on"),
)


def _changed_json(which: int) -> str:
    pairs = ", ".join(f"'{f[0]}', {f[which]}" for f in _FIELDS)
    same = ", ".join(
        f"CASE WHEN {old} IS NOT DISTINCT FROM {new} THEN '{n}' END" for n, old, new in _FIELDS
    )
    return f"jsonb_build_object({pairs}) - ARRAY[{same}]::text[]"


# The self-join ``o`` reads the rows as they were before this statement.
UPDATE_PEOPLE: Final = f"""
WITH changed AS (
    UPDATE person p
    SET display_name = x.display_name, upn = COALESCE(x.upn, o.upn),
        business_unit_id = x.business_unit_id, kind = x.person_kind,
        active = x.left_on IS NULL, left_on = x.left_on,
        version = p.version + 1, updated_at = now()
    FROM import_plan x JOIN person o ON o.id = x.person_id
    WHERE x.outcome = 'new' AND p.id = x.person_id
    RETURNING p.id, {_changed_json(1)} AS before, {_changed_json(2)} AS after,
              o.active AND NOT p.active AS became_leaver, p.active AND NOT o.active AS returned
)
INSERT INTO person_changed
SELECT id, 'updated', before, after, became_leaver, returned FROM changed
"""

_EVENTS: Final = """
SELECT 'person' AS entity, person_id AS entity_id, action, before, after
FROM person_changed ORDER BY person_id
"""


async def apply(conn: asyncpg.Connection, actor: Actor, counts: PeopleCounts) -> None:
    """Create and update the plan's new people, record their events, and open the recovery
    cases of those who became leavers."""
    await conn.execute(_CHANGED_TABLE)
    await conn.execute("SET LOCAL enable_nestloop = off")  # see plan.build
    await audit_rows.record_rows(conn, actor, "person", "created", INSERT_PEOPLE, RECORD_FIELDS)
    await conn.execute(UPDATE_PEOPLE)
    await conn.execute("RESET enable_nestloop")
    await audit.record_from_query(conn, actor, _EVENTS)
    leavers = await conn.fetch("SELECT person_id FROM person_changed WHERE became_leaver")
    counts.cases_opened = await open_cases(conn, actor, [r["person_id"] for r in leavers])
    back = await conn.fetch("SELECT person_id FROM person_changed WHERE returned")
    counts.cases_cancelled = await cancel_cases(conn, actor, [r["person_id"] for r in back])
