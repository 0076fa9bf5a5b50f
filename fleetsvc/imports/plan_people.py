"""How a people feed's row (hr-people) is classified: new, unchanged, duplicate or rejected.

The rules, in order: a row identical to an earlier one is a duplicate (counted once); rows
sharing an employee number, or a UPN, with other details are all rejected (the file does
not say which is right); a business unit code no unit has is rejected, naming the unit the
file called it; a UPN another person holds is rejected, naming their employee number. A
person whose record already says what the row says is unchanged; what is left is new (a
person to create, or one to update: ``person_id`` tells). A blank UPN keeps the one the
register holds; a leaving date makes the person a leaver on that date, a blank one keeps
them (or brings them back) in post.

Active people the register holds that the file does not list are counted and listed by id
(``not_in_file``): a full export that no longer lists someone deletes nobody.

An employee number is unique among the people the register holds. A pseudonymised leaver
holds ``PERSON-<id>`` instead of theirs, which the register no longer knows: a row with
that old number is someone new (a re-hire is a new record; nothing links them to their
pseudonymised past). A row that would create someone who left longer ago than the
retention period (``FLEETSVC_LEAVER_RETENTION_DAYS``) is rejected (``past_retention``):
an HR export that still lists old leavers would otherwise name again people retention
pseudonymised.
"""

from __future__ import annotations

from typing import Final

import asyncpg

from fleetsvc.imports.plan import Plan, guarded, repeats, same_key_rejects
from fleetsvc.imports.summary import PeopleCounts

# How many of the people not in the file the summary lists (all are counted).
NOT_IN_FILE_SHOWN: Final = 1000

PEOPLE_PLAN: Final = """
CREATE TEMP TABLE import_plan ON COMMIT DROP AS
SELECT s.row_number, s.parse_ok, 'person'::text AS kind, s.employee_number,
       btrim(concat_ws(' ', s.forenames, s.surname)) AS display_name, s.upn,
       s.business_unit_code, s.business_unit_name, s.person_kind, s.left_on,
       CASE WHEN s.parse_ok THEN NULL ELSE 'rejected' END AS outcome,
       NULL::text AS issue_field, NULL::text AS message,
       p.id AS person_id, p.active AS was_active, p.pseudonymised_at IS NOT NULL AS pseudonymised,
       b.id AS business_unit_id,
       h.employee_number AS upn_holder,
       -- The register already says what the row says (read here, in the one join).
       COALESCE(p.display_name = btrim(concat_ws(' ', s.forenames, s.surname))
                AND p.upn IS NOT DISTINCT FROM COALESCE(s.upn, p.upn)
                AND p.business_unit_id = b.id AND p.kind = s.person_kind
                AND p.active = (s.left_on IS NULL)
                AND p.left_on IS NOT DISTINCT FROM s.left_on, false) AS same
FROM import_staged_row s
LEFT JOIN person p ON p.employee_number = s.employee_number
LEFT JOIN business_unit b ON b.code = s.business_unit_code
LEFT JOIN person h ON h.upn = s.upn AND h.employee_number <> s.employee_number
WHERE s.import_id = $1
"""

_DUPLICATES: Final = guarded(
    """
UPDATE import_plan p SET outcome = 'duplicate',
    message = format('the same person as row %s: counted once', d.first_row)
FROM (
    SELECT row_number, first_value(row_number) OVER (
        PARTITION BY employee_number, display_name, upn, business_unit_code, person_kind,
                     left_on
        ORDER BY row_number) AS first_row
    FROM import_plan WHERE outcome IS NULL
) d
WHERE p.row_number = d.row_number AND d.first_row <> d.row_number
""",
    # Identical rows share an employee number: with none repeated, there are none to find.
    repeats("employee_number"),
)

PEOPLE_RULES: Final = (
    _DUPLICATES,
    same_key_rejects(("employee_number",), "employee number", "employee_number"),
    same_key_rejects(("upn",), "UPN", "upn"),
    # A pseudonymised person's record holds only their pseudonym; a row naming them by it
    # (PERSON-<id>) may not give them a name again.
    """
UPDATE import_plan SET outcome = 'rejected', issue_field = 'employee_number',
    message = format('employee number %s is a pseudonymised former member of staff, whose '
                     'record can no longer change; remove the row', employee_number)
WHERE outcome IS NULL AND pseudonymised
""",
    """
UPDATE import_plan SET outcome = 'rejected', issue_field = 'business_unit_code',
    message = format('no business unit has the code %s%s; add the unit first or correct the row',
                     business_unit_code,
                     CASE WHEN business_unit_name IS NULL THEN ''
                          ELSE format(' (%s in the file)', business_unit_name) END)
WHERE outcome IS NULL AND business_unit_id IS NULL
""",
    """
UPDATE import_plan SET outcome = 'rejected', issue_field = 'upn',
    message = format('UPN %s is already held by employee %s', upn, upn_holder)
WHERE outcome IS NULL AND upn_holder IS NOT NULL
""",
    "UPDATE import_plan SET outcome = 'unchanged' WHERE outcome IS NULL AND same",
    "UPDATE import_plan SET outcome = 'new' WHERE outcome IS NULL",
)

# What the rules group and the apply joins by; not the names and messages (half the
# ANALYZE of a 45,000-row plan).
PLAN: Final = Plan(
    PEOPLE_PLAN,
    PEOPLE_RULES,
    analyze=("row_number", "employee_number", "upn", "person_id", "outcome"),
)

# Per outcome: rows, then what a commit does (people created, updated, leaving).
PEOPLE_OUTCOMES: Final = """
SELECT outcome, count(*) AS n,
       count(*) FILTER (WHERE person_id IS NULL) AS created,
       count(*) FILTER (WHERE left_on IS NOT NULL AND was_active IS DISTINCT FROM false)
           AS leavers
FROM import_plan GROUP BY outcome
"""

# Active people the file does not name (a row rejected still names its person).
NOT_IN_FILE: Final = """
SELECT p.id, count(*) OVER () AS total FROM person p
WHERE p.active AND NOT EXISTS (
    SELECT 1 FROM import_plan x WHERE x.employee_number = p.employee_number)
ORDER BY p.id
LIMIT $1
"""


# $1 the retention period in days. After the rules: of the rows that would create someone,
# those who left before it began.
PAST_RETENTION: Final = """
UPDATE import_plan SET outcome = 'rejected', issue_field = 'left_on',
    message = format('left on %s, longer ago than the retention period (%s days): the register '
                     'keeps no one who left that long ago, and may have pseudonymised them; '
                     'remove the row', left_on, $1::int)
WHERE outcome = 'new' AND person_id IS NULL AND left_on < current_date - $1::int
"""


async def past_retention(conn: asyncpg.Connection, retention_days: int) -> int:
    """Reject the rows that would create someone who left before the retention period;
    returns how many."""
    status = await conn.execute(PAST_RETENTION, retention_days)
    return int(status.rsplit(" ", 1)[1])


async def count(conn: asyncpg.Connection, staged_rows: int) -> PeopleCounts:
    """The plan's rows by outcome, what the new ones do, and who is not in the file."""
    counts = PeopleCounts(rows=staged_rows)
    for r in await conn.fetch(PEOPLE_OUTCOMES):
        counts.add(r["outcome"], r["n"])
        if r["outcome"] == "new":
            counts.created += r["created"]
            counts.updated += r["n"] - r["created"]
            counts.leavers += r["leavers"]
    return counts


async def not_in_file(conn: asyncpg.Connection) -> tuple[int, list[int]]:
    """How many active people the file does not list, and the first ``NOT_IN_FILE_SHOWN``."""
    rows = await conn.fetch(NOT_IN_FILE, NOT_IN_FILE_SHOWN)
    return (rows[0]["total"] if rows else 0), [r["id"] for r in rows]
