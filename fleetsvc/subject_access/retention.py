"""Retention: a leaver is pseudonymised FLEETSVC_LEAVER_RETENTION_DAYS (six years) after
leaving, once their devices are recovered.

Their name, UPN and employee number give way to a stable pseudonym (``person-<id>``,
``PERSON-<id>``), everywhere the service holds them: the person row, the audit trail's
personal values (erased, so the hash chain, which covers only the references, still
verifies), the MDM's records and the asset fields copied from them, their page account
(disabled, its sessions ended, its saved searches gone), import previews that still stage
a row of theirs (cleared: the preview must be uploaded again), rejected import rows and
row issues that quote them, and free text anywhere that names them (``free_text``: notes,
reasons, comments, messages, names given to files and devices, and the events' copies of
them), by a whole value or by a word of their name no one else's has. Their devices, assignments
and events stay, by id, so history still counts them. Set-based: the statements are the
same for one person or 10,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from db.engine import transaction
from fleetsvc import audit
from fleetsvc.auth import Actor
from fleetsvc.errors import Conflict, NotFound
from fleetsvc.logs import get_logger
from fleetsvc.records import check_id
from fleetsvc.subject_access import free_text

PERSON_PREFIX = "person-"
# How many people one transaction pseudonymises; the run loops until none are due.
BATCH = 5000
ERASED_CELL = "[pseudonymised]"

log = get_logger("fleetsvc.retention")


def pseudonym(person_id: int) -> str:
    """A person's stable pseudonym: their display name once pseudonymised."""
    return f"{PERSON_PREFIX}{person_id}"


def pseudonymised_email(person_id: int, user_id: int) -> str:
    """A pseudonymised page account's address: stable, so subject access still finds it
    (``person-0`` when the account matched an old address of theirs, not their UPN)."""
    return f"{pseudonym(person_id)}.user-{user_id}@pseudonymised.invalid"


async def recovery_done_sql(conn: asyncpg.Connection, person: str = "p") -> str:
    """The one rule that a leaver's devices are dealt with: no open recovery case.

    Recovery cases (``recovery_case``) come with the people feed (issue 16, item 2); until
    that table exists nobody has an open case, so every leaver passes.
    """
    if await conn.fetchval("SELECT to_regclass('recovery_case') IS NOT NULL"):
        return (
            "NOT EXISTS (SELECT 1 FROM recovery_case c"
            f" WHERE c.person_id = {person}.id AND c.status = 'open')"
        )
    return "true"


async def due_people(
    conn: asyncpg.Connection, retention_days: int, limit: int = BATCH
) -> list[int]:
    """Leavers who left more than ``retention_days`` ago, with no open recovery case, not
    yet pseudonymised: the first ``limit`` by id."""
    done = await recovery_done_sql(conn)
    rows = await conn.fetch(
        "SELECT p.id FROM person p WHERE NOT p.active AND p.pseudonymised_at IS NULL"
        f" AND p.left_on < current_date - $1::int AND {done} ORDER BY p.id LIMIT $2",
        retention_days,
        limit,
    )
    return [r["id"] for r in rows]


async def check_may_pseudonymise(conn: asyncpg.Connection, person_id: int) -> None:
    """One person, asked for by an admin: a leaver whose devices are dealt with (the
    retention period does not apply: an erasure request can come earlier)."""
    check_id("person", person_id)
    row = await conn.fetchrow(
        "SELECT active, pseudonymised_at FROM person WHERE id = $1 FOR UPDATE", person_id
    )
    if row is None:
        raise NotFound("person", person_id)
    if row["pseudonymised_at"] is not None:
        return
    if row["active"]:
        raise Conflict(f"person {person_id} is not a leaver: mark them as one (active false) first")
    done = await recovery_done_sql(conn)
    if not await conn.fetchval(f"SELECT {done} FROM person p WHERE p.id = $1", person_id):
        raise Conflict(
            f"person {person_id} has an open recovery case: close it (recover or write off"
            " their devices) first"
        )


@dataclass(frozen=True, slots=True)
class Pseudonymised:
    people: int
    values_erased: int


# Every value of theirs, lower case, as cells and fields might quote it: the person row's,
# and every value their events recorded (a name they had before a change too).
_KNOWN_SQL = """
SELECT DISTINCT v FROM (
    SELECT lower(unnest(ARRAY[p.employee_number, p.upn, p.display_name])) AS v
    FROM person p WHERE p.id = ANY($1::int[])
    UNION ALL
    SELECT lower(value) FROM personal_value
    WHERE person_id = ANY($1::int[]) AND value IS NOT NULL
) x WHERE v IS NOT NULL AND v <> ''
"""
# The known values, as a table the planner knows the size of (an unnest() of an array
# parameter is guessed at 10 rows, and a nested loop over 30,000 values per row follows).
_KNOWN_TABLE = "pseudonymise_known"
_K = _KNOWN_TABLE
_KNOWN_SETUP_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS {_KNOWN_TABLE} (v text PRIMARY KEY) ON COMMIT DROP;
TRUNCATE {_KNOWN_TABLE};
"""
# A part of a name alone ("Sgt Pryce", "ask Rhian"): a word of a name of theirs that no one
# else's name in the register has is known too, so free text naming them by it goes. A word
# others share ("Jones", or "Rhian" when another Rhian stays) names no one in particular and
# is left: erasing every "Jones" would take other people's records with it. The rule is the
# database's ``own_name_words`` (migration 2026-12-04T13:00:00), which
# ``audit_forget_free_text`` calls too.
_NAME_WORDS_SQL = f"""
INSERT INTO {_KNOWN_TABLE} (v)
SELECT DISTINCT w.word FROM own_name_words($1::int[]) w
ON CONFLICT (v) DO NOTHING
"""

# An asset's MDM user is its primary MDM record's (erased with the records, below).
_ASSET_EVENTS_SQL = f"""
SELECT 'asset' AS entity, d.asset_id AS entity_id, 'pseudonymised' AS action,
       jsonb_build_object('mdm_user_upn', d.user_upn) AS before,
       jsonb_build_object('mdm_user_upn', NULL) AS after
FROM mdm_device d JOIN {_K} k ON k.v = lower(d.user_upn)
WHERE d.is_primary AND d.user_upn IS NOT NULL ORDER BY d.asset_id
"""
_ASSETS_SQL = f"""
UPDATE asset a SET version = version + 1, updated_at = now()
FROM mdm_device d JOIN {_K} k ON k.v = lower(d.user_upn)
WHERE d.is_primary AND d.user_upn IS NOT NULL AND a.id = d.asset_id
"""
_MDM_SQL = f"""
UPDATE mdm_device m SET user_upn = NULL,
    device_name = CASE WHEN lower(m.device_name) IN (SELECT v FROM {_K}) THEN ''
                       ELSE m.device_name END,
    facts_hash = NULL, updated_at = now()
WHERE lower(m.user_upn) IN (SELECT v FROM {_K}) OR lower(m.device_name) IN (SELECT v FROM {_K})
"""
_USERS_SQL = f"""
SELECT u.id, p.id AS person_id
FROM app_user u JOIN {_K} k ON k.v = lower(u.email)
LEFT JOIN person p ON lower(p.upn) = lower(u.email) AND p.id = ANY($1::int[])
"""
# The import rows that are theirs: a staged or rejected row with a cell that names them
# (``free_text.find_rows``), or a row with an issue quoting one of their values. A whole
# row goes with it: an HR feed row names them by employee number and UPN, and by forename
# and surname in cells of their own.
_ROWS_TABLE = "pseudonymise_rows"
_ROWS_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS {_ROWS_TABLE} (import_id integer, row_number integer)
    ON COMMIT DROP;
TRUNCATE {_ROWS_TABLE};
INSERT INTO {_ROWS_TABLE}
SELECT i.import_id, i.row_number FROM import_issue i
JOIN {_K} k ON k.v = lower(btrim(i.value))
WHERE i.row_number IS NOT NULL;
"""
# Previews still staging a row of theirs: every staged row of such an import goes
# (committing it then says the rows are no longer staged), as when a preview expires.
_STAGED_SQL = f"""
DELETE FROM import_staged_row s
WHERE s.import_id IN (SELECT import_id FROM {_ROWS_TABLE})
"""
_REJECTED_SQL = f"""
UPDATE import_rejected_row r
SET cells = (SELECT jsonb_object_agg(e.key, to_jsonb($1::text)) FROM jsonb_each(r.cells) e)
FROM (SELECT DISTINCT import_id, row_number FROM {_ROWS_TABLE}) t
WHERE r.import_id = t.import_id AND r.row_number = t.row_number
  AND jsonb_typeof(r.cells) = 'object'
"""
# An issue on a row of theirs, or quoting one of their values on no row.
_ISSUES_SQL = f"""
UPDATE import_issue i SET value = $1
WHERE i.value IS NOT NULL AND i.value <> $1 AND (
    EXISTS (SELECT 1 FROM {_ROWS_TABLE} t
            WHERE t.import_id = i.import_id AND t.row_number = i.row_number)
    OR lower(btrim(i.value)) IN (SELECT v FROM {_K}))
"""


async def pseudonymise(
    conn: asyncpg.Connection, actor: Actor, person_ids: Sequence[int]
) -> Pseudonymised:
    """Pseudonymise these people (those not yet so), set-based, in the caller's transaction.

    The order matters: the events about their assets' MDM user are written while the
    person still has their UPN (so the values are theirs), their personal values are
    erased after every event that records one, and the person row changes last.
    """
    rows = await conn.fetch(
        "SELECT id FROM person WHERE id = ANY($1::int[]) AND pseudonymised_at IS NULL"
        " ORDER BY id FOR UPDATE",
        list(person_ids),
    )
    ids = [r["id"] for r in rows]
    if not ids:
        return Pseudonymised(0, 0)
    await conn.execute(_KNOWN_SETUP_SQL)
    await conn.execute(f"INSERT INTO {_KNOWN_TABLE} (v) {_KNOWN_SQL}", ids)
    await conn.execute(_NAME_WORDS_SQL, ids)
    await conn.execute(f"ANALYZE {_KNOWN_TABLE}")
    await audit.record_from_query(conn, actor, _ASSET_EVENTS_SQL)
    await conn.execute(_ASSETS_SQL)
    await conn.execute(_MDM_SQL)
    await _pseudonymise_accounts(conn, actor, ids)
    await free_text.prepare(conn, _KNOWN_TABLE)
    await conn.execute(_ROWS_SQL)
    await free_text.find_rows(conn, _ROWS_TABLE)
    await conn.execute(f"ANALYZE {_ROWS_TABLE}")
    await conn.execute(_STAGED_SQL)
    await conn.execute(_REJECTED_SQL, ERASED_CELL)
    await conn.execute(_ISSUES_SQL, ERASED_CELL)
    await free_text.erase(conn, actor)
    erased = await _forget(conn, actor, ids)
    await _pseudonymise_people(conn, actor, ids)
    return Pseudonymised(len(ids), erased)


async def _forget(conn: asyncpg.Connection, actor: Actor, ids: list[int]) -> int:
    """Their personal values erased (``audit_forget_people``), and the free text in events
    that names them (``audit_forget_free_text``, first, while their values are there); how
    many."""
    free = await conn.fetchval(
        "SELECT audit_forget_free_text($1::int[], $2::text[])", ids, [pseudonym(i) for i in ids]
    )
    await conn.fetchval(
        "SELECT audit_forget_people($1::int[], $2::text[], $3, $4, $5)",
        ids,
        [pseudonym(i) for i in ids],
        actor.name,
        actor.role,
        actor.request_id,
    )
    erased = await conn.fetchval(
        "SELECT sum((after ->> 'values_erased')::int) FROM event WHERE entity = 'person'"
        " AND entity_id = ANY($1::int[]) AND action = 'personal_data_forgotten'"
        " AND occurred_at = now()",
        ids,
    )
    return int(free or 0) + int(erased or 0)


async def _pseudonymise_people(conn: asyncpg.Connection, actor: Actor, ids: list[int]) -> None:
    await conn.execute(
        "UPDATE person SET display_name = 'person-' || id, employee_number = 'PERSON-' || id,"
        " upn = NULL, pseudonymised_at = now(), version = version + 1, updated_at = now()"
        " WHERE id = ANY($1::int[])",
        ids,
    )
    await audit.record_from_query(
        conn,
        actor,
        "SELECT 'person' AS entity, p.id AS entity_id, 'pseudonymised' AS action,"
        " NULL::jsonb AS before, jsonb_build_object('pseudonym', p.display_name) AS after"
        " FROM person p WHERE p.id = ANY($1::int[]) ORDER BY p.id",
        ids,
    )


async def _pseudonymise_accounts(conn: asyncpg.Connection, actor: Actor, ids: list[int]) -> None:
    """Their page accounts: disabled, addressed by pseudonym, signed out everywhere, their
    own API tokens revoked and their saved searches gone."""
    users = await conn.fetch(_USERS_SQL, ids)
    if not users:
        return
    user_ids = [u["id"] for u in users]
    emails = [pseudonymised_email(u["person_id"] or 0, u["id"]) for u in users]
    await audit.record_from_query(
        conn,
        actor,
        "SELECT 'user' AS entity, u.id AS entity_id, 'pseudonymised' AS action,"
        " jsonb_build_object('active', u.active) AS before,"
        " jsonb_build_object('active', false) AS after"
        " FROM app_user u WHERE u.id = ANY($1::int[]) ORDER BY u.id",
        user_ids,
    )
    await conn.execute(
        "UPDATE app_user u SET email = x.email, active = false,"
        " disabled_at = COALESCE(u.disabled_at, now())"
        " FROM unnest($1::int[], $2::text[]) AS x(id, email) WHERE u.id = x.id",
        user_ids,
        emails,
    )
    await conn.execute(
        "DELETE FROM saved_search WHERE session_id IN"
        " (SELECT id FROM user_session WHERE user_id = ANY($1::int[]))",
        user_ids,
    )
    await conn.execute(
        "UPDATE user_session SET ended_at = COALESCE(ended_at, now()), flash = NULL"
        " WHERE user_id = ANY($1::int[])",
        user_ids,
    )
    await conn.execute(
        "UPDATE api_token SET revoked_at = COALESCE(revoked_at, now())"
        " WHERE owner_user_id = ANY($1::int[])",
        user_ids,
    )


async def pseudonymise_due(actor: Actor, retention_days: int) -> Pseudonymised:
    """Every leaver due, ``BATCH`` people to a transaction (each all or nothing), until
    none is left: what the daily job and ``fleetsvc people pseudonymise --due`` run."""
    people = erased = 0
    while True:
        async with transaction() as conn:
            ids = await due_people(conn, retention_days)
            if not ids:
                # Counts only: never who.
                log.info("people_pseudonymised", people=people, values_erased=erased)
                return Pseudonymised(people, erased)
            done = await pseudonymise(conn, actor, ids)
        people += done.people
        erased += done.values_erased


async def pseudonymise_person(actor: Actor, person_id: int) -> Pseudonymised:
    """One person, now, whatever their leaving date (an admin's erasure request)."""
    async with transaction() as conn:
        await check_may_pseudonymise(conn, person_id)
        return await pseudonymise(conn, actor, [person_id])
