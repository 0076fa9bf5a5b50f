"""The audit trail's fast path for creating many records: one ``created`` event per new
row, written in the same statement as the rows (``record_rows``), each personal value
stored in ``personal_value`` straight from its row and referred to by id, which is what
``audit.record_from_query`` would write, without its scan of every event's JSON (the HR
feed's first full export: 45,000 people, 135,000 values).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import asyncpg

from fleetsvc.audit import _PERSON_BY_UPN, BY_UPN, FREE, PERSONAL_FIELDS, REF, SELF

if TYPE_CHECKING:
    from fleetsvc.auth import Actor


def _ref_sql(id_sql: str) -> str:
    return f"jsonb_build_object('{REF}', {id_sql})"


def _rows_sql(entity: str, action: str, source_sql: str, columns: Sequence[str], actor: str) -> str:
    """``record_rows``'s one statement: each personal column's value gets its id from
    nextval as the rows are read (in id order), is stored from there, and the event holds
    ``jsonb_build_object('$personal', id)`` in its place; no scan of the events' JSON.
    The ids are taken in the order the source returns its rows (an INSERT's RETURNING: the
    order it inserted them), not sorted again."""
    personal = PERSONAL_FIELDS.get(entity, {})
    mine = [c for c in columns if c in personal]

    # Free text is kept apart unless empty, as record_from_query does.
    def kept(c: str) -> str:
        return f"s.{c} IS NOT NULL" + (f" AND s.{c}::text <> ''" if personal[c] == FREE else "")

    ids = ", ".join(
        f"CASE WHEN {kept(c)} THEN nextval('personal_value_id_seq') END AS pv_{c}" for c in mine
    )
    owner_sql = {BY_UPN: _PERSON_BY_UPN.format("r.{}"), SELF: "r.id", FREE: "NULL::integer"}
    owner = {c: owner_sql[personal[c]].format(c) for c in mine}
    values = ", ".join(f"(r.pv_{c}, {owner[c]}, '{c}', r.{c}::text)" for c in mine)
    after = ", ".join(
        f"'{c}', CASE WHEN r.pv_{c} IS NULL THEN to_jsonb(r.{c}) ELSE {_ref_sql(f'r.pv_{c}')} END"
        if c in personal
        else f"'{c}', r.{c}"
        for c in columns
    )
    stored = (
        f""", stored AS (
    INSERT INTO personal_value (id, person_id, field, value)
    SELECT v.id, v.person_id, v.field, v.value
    FROM r CROSS JOIN LATERAL (VALUES {values}) AS v(id, person_id, field, value)
    WHERE v.id IS NOT NULL
)"""
        if mine
        else ""
    )
    return f"""
WITH s AS ({source_sql}), r AS MATERIALIZED (
    SELECT s.*{", " + ids if ids else ""} FROM s
){stored}
INSERT INTO event (actor_name, actor_role, request_id, entity, entity_id, action, before, after)
SELECT {actor}, '{entity}', r.id, '{action}', NULL, jsonb_build_object({after})
FROM r ORDER BY r.id
"""


async def record_rows(
    conn: asyncpg.Connection,
    actor: Actor,
    entity: str,
    action: str,
    source_sql: str,
    columns: Sequence[str],
    *args: Any,
) -> int:
    """One ``action`` event per row of ``source_sql`` (an ``INSERT … RETURNING`` of new
    records, or a SELECT), its ``after`` the row's ``columns``, in id order, in one
    statement with the rows' own write; returns how many.

    The fast path for creating many records (the HR feed's 45,000 people): each personal
    column of the entity (``PERSONAL_FIELDS``) is stored in ``personal_value`` straight
    from the row and referenced by id, which is what ``record_from_query`` would write,
    without its scan of every event's JSON. ``source_sql`` returns ``id`` and ``columns``;
    ``entity``, ``action`` and ``columns`` are the caller's identifiers, never input.
    """
    for name in (entity, action, *columns):
        if not name.isidentifier():
            raise ValueError(f"not an identifier: {name!r}")
    n = len(args)
    sql = _rows_sql(entity, action, source_sql, columns, f"${n + 1}, ${n + 2}, ${n + 3}")
    result = await conn.execute(sql, *args, actor.name, actor.role, actor.request_id)
    return int(result.split()[-1])
