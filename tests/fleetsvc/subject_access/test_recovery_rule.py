"""The closed-case rule of retention, and recovery cases in subject access, against the
recovery tables' shape (``recovery_case``, ``recovery_line``: branch hr-people). On a
database of the test's own, where a stand-in of those tables is made if they do not exist
yet; once they do, this runs against the real ones."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from fleetsvc.auth import Actor
from fleetsvc.errors import Conflict
from fleetsvc.subject_access import report, retention

ADMIN = Actor("tests", "admin")
STAND_IN = """
CREATE TABLE IF NOT EXISTS recovery_case (
    id serial PRIMARY KEY, person_id integer NOT NULL REFERENCES person (id),
    status text NOT NULL, left_on date NOT NULL, due_on date NOT NULL, opened_by text NOT NULL,
    closed_at timestamptz);
CREATE TABLE IF NOT EXISTS recovery_line (
    id serial PRIMARY KEY, case_id integer NOT NULL REFERENCES recovery_case (id),
    asset_id integer NOT NULL REFERENCES asset (id), status text NOT NULL);
"""
_CASE = (
    "INSERT INTO recovery_case (person_id, status, left_on, due_on, opened_by, closed_at)"
    " VALUES ($1, $2::text, '2015-01-31', '2015-02-14', 'tests',"
    " CASE WHEN $2::text = 'closed' THEN now() END) RETURNING id"
)


async def _leaver(conn: asyncpg.Connection, n: int) -> int:
    pid: int = await conn.fetchval(
        "INSERT INTO person (employee_number, upn, display_name, active, left_on)"
        " VALUES ($1, $2, $3, false, $4) RETURNING id",
        f"RC{n}",
        f"rc{n}@force.example",
        f"Recovery Case {n}",
        dt.date(2015, 1, 31),
    )
    return pid


async def test_an_open_case_holds_back_pseudonymisation_a_closed_one_does_not(
    own_db: str,
) -> None:
    conn = await asyncpg.connect(own_db)
    try:
        await conn.execute(STAND_IN)
        open_case, closed_case, no_case = [await _leaver(conn, n) for n in (1, 2, 3)]
        case = await conn.fetchval(_CASE, open_case, "open")
        model = await conn.fetchval(
            "INSERT INTO device_model (manufacturer, model_name, category, lifecycle_months,"
            " replacement_cost) VALUES ('Samsung', 'A32', 'smartphone', 36, 300) RETURNING id"
        )
        asset = await conn.fetchval(
            "INSERT INTO asset (model_id, manufacturer, serial_number, status)"
            " VALUES ($1, 'samsung', 'RC-1', 'lost') RETURNING id",
            model,
        )
        await conn.execute(
            "INSERT INTO recovery_line (case_id, asset_id, status) VALUES ($1, $2, 'open')",
            case,
            asset,
        )
        await conn.fetchval(_CASE, closed_case, "closed")
        assert await retention.due_people(conn, 2190) == [closed_case, no_case]
        async with conn.transaction():
            with pytest.raises(Conflict, match="open recovery case"):
                await retention.check_may_pseudonymise(conn, open_case)
            await retention.check_may_pseudonymise(conn, closed_case)

        line = await conn.fetchval("SELECT id FROM recovery_line WHERE case_id = $1", case)
        await conn.execute(
            "INSERT INTO event (actor_name, actor_role, entity, entity_id, action)"
            " VALUES ('tests', 'admin', 'recovery_case', $1, 'opened'),"
            " ('tests', 'admin', 'recovery_line', $2, 'written_off')",
            case,
            line,
        )
        async with conn.transaction():
            found = await report.subject_access(conn, ADMIN, open_case, "json")
        assert found.recovery_cases is not None
        [held] = found.recovery_cases
        assert (held.id, held.status, held.record["person_id"]) == (case, "open", open_case)
        assert [line["status"] for line in held.lines] == ["open"]
        about = {(e.entity, e.entity_id, e.action) for e in found.events_about}
        assert {("recovery_case", case, "opened"), ("recovery_line", line, "written_off")} <= about
    finally:
        await conn.close()
