"""Retention bench: pseudonymising 10,000 leavers in a register of 45,000 people, next to a
bare UPDATE of the same 10,000 person rows (the baseline, same run).

Every person is created as the service creates them (``create_people``: their created
events, their personal values); each leaver held a handset (an ended assignment, its
events), a quarter are the MDM's user of one (``mdm_device`` and the asset's copy), a tenth
have a page account with a session and a saved search, and an HR-feed preview stages a row
for every person (45,000 staged rows to search). Free text names the leavers: why each
handset came back (in its event), its notes, half the assignments' end reasons, and a
committed feed's rows rejected for an unknown business unit (1,000 of leavers, 1,000 of
people who stay, which must be left as they are). Then ``pseudonymise_due`` (what the daily
job and ``fleetsvc people pseudonymise --due`` run, 5,000 people to a transaction), a
check that none of their values is left in the tables it touches, and ``verify_chain``.

    .venv/bin/python -m bench.pseudonymise [--people 45000] [--leavers 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time

import asyncpg
import msgspec

from bench.common import STEADY_STATE, bench_database, print_table

LEFT_ON = dt.date(2018, 3, 31)


def upn(i: int) -> str:
    return f"officer{i:06d}@force.example"


async def seed(url: str, people: int, leavers: int) -> list[int]:
    """The register; returns the leavers' ids."""
    from fleetsvc import audit
    from fleetsvc import people as people_service
    from fleetsvc.auth import Actor

    actor = Actor("bench", "admin")
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            ids = await people_service.create_people(
                conn,
                actor,
                [
                    people_service.PersonCreate(
                        employee_number=f"E{i:07d}", display_name=f"Officer {i}", upn=upn(i)
                    )
                    for i in range(people)
                ],
            )
        leaver_ids = ids[:leavers]
        await conn.execute(
            "UPDATE person SET active = false, left_on = $2 WHERE id = ANY($1::int[])",
            leaver_ids,
            LEFT_ON,
        )
        model = await conn.fetchval(
            "INSERT INTO device_model (manufacturer, model_name, category, lifecycle_months,"
            " replacement_cost) VALUES ('Samsung', 'Galaxy A32', 'smartphone', 36, 300)"
            " RETURNING id"
        )
        location = await conn.fetchval("SELECT id FROM location ORDER BY id LIMIT 1")
        await conn.execute(
            "INSERT INTO asset (model_id, manufacturer, serial_number, status, location_id)"
            " SELECT $1, 'samsung', 'R58R' || lpad(n::text, 7, '0'), 'in_stock', $3"
            " FROM generate_series(0, $2 - 1) n",
            model,
            leavers,
            location,
        )
        await conn.execute(
            "INSERT INTO assignment (asset_id, person_id, started_at, ended_at, end_reason)"
            " SELECT a.id, p.id, '2016-04-01', '2018-03-31', 'leaver'"
            " FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM asset) a"
            " JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM person"
            "       WHERE id = ANY($1::int[])) p USING (n)",
            leaver_ids,
        )
        # Free text that names them: why each handset came back (the events' copies, held
        # apart as personal values), its notes, and the assignment's end reason.
        await audit.record_from_query(
            conn,
            Actor("bench", "stores"),
            "SELECT 'asset' AS entity, g.asset_id AS entity_id, 'transition' AS action,"
            " jsonb_build_object('status', s.b) AS before,"
            " jsonb_build_object('status', s.a, 'person_id', g.person_id, 'reason',"
            "   CASE s.a WHEN 'deployed' THEN 'issued' ELSE 'handed in by ' || p.display_name"
            "   || ' (' || p.employee_number || '), screen cracked' END) AS after"
            " FROM assignment g JOIN person p ON p.id = g.person_id"
            " CROSS JOIN (VALUES (1, 'in_stock', 'deployed'), (2, 'deployed', 'in_stock'))"
            "   AS s(n, b, a) ORDER BY g.id, s.n",
        )
        await conn.execute(
            "UPDATE asset a SET notes = 'Issued to ' || upper(p.display_name) || '; ask '"
            " || p.upn || ' first' FROM assignment g JOIN person p ON p.id = g.person_id"
            " WHERE g.asset_id = a.id"
        )
        await conn.execute(
            "UPDATE assignment g SET end_reason = 'leaver: ' || p.display_name"
            " FROM person p WHERE p.id = g.person_id AND g.id % 2 = 0"
        )
        # One asset in four is an MDM device naming its (leaver) user.
        await conn.execute(
            "INSERT INTO mdm_device (mdm_device_id, serial_number, device_name, user_upn,"
            " asset_id, is_primary)"
            " SELECT 'mdm-' || n, a.serial_number, 'MPS-' || a.serial_number,"
            "  'officer' || lpad(n::text, 6, '0') || '@force.example', a.id, true"
            " FROM (SELECT id, serial_number, row_number() OVER (ORDER BY id) - 1 AS n"
            "       FROM asset) a WHERE n % 4 = 0"
        )
        await conn.execute(
            "INSERT INTO app_user (email, password_hash, role)"
            " SELECT p.upn, 'x', 'engineer' FROM person p"
            " WHERE p.id = ANY($1::int[]) AND p.id % 10 = 0",
            leaver_ids,
        )
        await conn.execute(
            "INSERT INTO user_session (token_hash, user_id, csrf_token)"
            " SELECT md5(u.id::text) || md5(u.email), u.id, 'csrf' FROM app_user u"
        )
        await conn.execute(
            "INSERT INTO saved_search (session_id, handle, kind, query)"
            " SELECT s.id, md5(s.id::text), 'people', jsonb_build_object('q', 'officer')"
            " FROM user_session s"
        )
        imp = await conn.fetchval(
            "INSERT INTO delivery_import (profile, file_name, sha256, status, created_by,"
            " created_role, counts) VALUES ('hr-people', 'people.csv', repeat('0', 64),"
            " 'previewed', 'bench', 'stores', jsonb_build_object('rows', $1::int)) RETURNING id",
            people,
        )
        await conn.copy_records_to_table(
            "import_staged_row",
            records=[
                (
                    imp,
                    i + 2,
                    True,
                    msgspec.json.encode(
                        [f"E{i:07d}", f"Officer {i}", upn(i), "BCU1", "officer", ""]
                    ).decode(),
                )
                for i in range(people)
            ],
            columns=["import_id", "row_number", "parse_ok", "cells"],
        )
        await _rejected_feed(conn, people, leavers)
        await conn.execute(STEADY_STATE)
        return leaver_ids
    finally:
        await conn.close()


# An HR feed committed with rows rejected for an unknown business unit: as many rows of
# leavers as of people who stay (whose rows must be left as they are), each with its issue.
REJECTED = 2000


async def _rejected_feed(conn: asyncpg.Connection, people: int, leavers: int) -> None:
    imp = await conn.fetchval(
        "INSERT INTO delivery_import (profile, file_name, sha256, status, created_by,"
        " created_role, counts) VALUES ('hr-people', 'feed.csv', repeat('1', 64),"
        " 'committed', 'bench', 'stores', jsonb_build_object('rejected', $1::int)) RETURNING id",
        REJECTED,
    )
    rows = [i for i in range(REJECTED // 2)] + [leavers + i for i in range(REJECTED // 2)]
    assert leavers + REJECTED // 2 <= people
    await conn.copy_records_to_table(
        "import_rejected_row",
        records=[
            (
                imp,
                n + 2,
                msgspec.json.encode(
                    {
                        "employee_number": f"E{i:07d}",
                        "forenames": "Officer",
                        "surname": str(i),
                        "upn": upn(i),
                        "business_unit": "NOPE",
                    }
                ).decode(),
            )
            for n, i in enumerate(rows)
        ],
        columns=["import_id", "row_number", "cells"],
    )
    await conn.execute(
        "INSERT INTO import_issue (import_id, row_number, severity, column_name, value, message,"
        " outcome) SELECT $1, row_number, 'error', 'business_unit', 'NOPE',"
        " 'unknown business unit NOPE', 'rejected' FROM import_rejected_row WHERE import_id = $1",
        imp,
    )


async def baseline(url: str, ids: list[int]) -> float:
    """A bare UPDATE of the same person rows, in a copy of the table with no triggers,
    constraints or indexes beyond its key."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE TABLE person_bare AS SELECT * FROM person;"
            " ALTER TABLE person_bare ADD PRIMARY KEY (id)"
        )
        await conn.execute("VACUUM ANALYZE person_bare")
        started = time.perf_counter()
        await conn.execute(
            "UPDATE person_bare SET display_name = 'person-' || id,"
            " employee_number = 'PERSON-' || id, upn = NULL WHERE id = ANY($1::int[])",
            ids,
        )
        return time.perf_counter() - started
    finally:
        await conn.close()


async def run(url: str, people: int, leavers: int) -> None:
    from db.engine import close_pool, connection, open_pool
    from fleetsvc.audit_chain import verify_chain
    from fleetsvc.auth import Actor
    from fleetsvc.subject_access import retention

    started = time.perf_counter()
    ids = await seed(url, people, leavers)
    seeded = time.perf_counter() - started
    bare = await baseline(url, ids)
    await open_pool(4)
    try:
        async with connection() as conn:
            t0 = time.perf_counter()
            due = await retention.due_people(conn, 2190, limit=10**6)
            due_s = time.perf_counter() - t0
        assert sorted(due) == sorted(ids), (len(due), len(ids))
        t0 = time.perf_counter()
        done = await retention.pseudonymise_due(Actor("bench", "admin"), 2190)
        pseudonymise_s = time.perf_counter() - t0
        async with connection() as conn:
            left = await conn.fetchval(
                "SELECT (SELECT count(*) FROM person WHERE id = ANY($1::int[])"
                "        AND pseudonymised_at IS NULL)"
                " + (SELECT count(*) FROM personal_value WHERE person_id = ANY($1::int[])"
                "    AND value IS NOT NULL)"
                " + (SELECT count(*) FROM mdm_device WHERE user_upn IS NOT NULL)"
                " + (SELECT count(*) FROM app_user WHERE email LIKE '%@force.example')"
                # Free text naming them: every handset's notes, half the end reasons, why
                # each came back, and the feed rows rejected for them.
                " + (SELECT count(*) FROM asset WHERE notes LIKE 'Issued to %')"
                " + (SELECT count(*) FROM assignment WHERE end_reason LIKE 'leaver: %')"
                " + (SELECT count(*) FROM personal_value WHERE value LIKE 'handed in by %')"
                " + (SELECT count(*) FROM import_rejected_row r JOIN person p"
                "    ON p.employee_number = r.cells ->> 'employee_number'"
                "    WHERE p.id = ANY($1::int[]))",
                ids,
            )
            kept = await conn.fetchval(
                "SELECT count(*) FROM import_rejected_row r JOIN person p"
                " ON p.employee_number = r.cells ->> 'employee_number'"
                " AND p.upn = r.cells ->> 'upn'"
                " WHERE p.pseudonymised_at IS NULL"
            )
            t0 = time.perf_counter()
            chain = await verify_chain(conn)
            verify_s = time.perf_counter() - t0
    finally:
        await close_pool()
    assert done.people == leavers and left == 0 and chain.ok, (done, left, chain.summary())
    assert kept == REJECTED // 2, kept  # the rows of people who stay are left as they were
    print(f"seeded {people:,} people ({leavers:,} leavers) in {seeded:.1f} s")
    print_table(
        "Pseudonymising leavers (same run)",
        [
            {"step": "baseline: bare UPDATE of the person rows", "rows": leavers, "s": bare},
            {"step": "due leavers found", "rows": len(due), "s": due_s},
            {
                "step": "pseudonymise_due (5,000 a transaction)",
                "rows": done.people,
                "s": pseudonymise_s,
            },
            {"step": "  personal values erased", "rows": done.values_erased, "s": None},
            {"step": "verify_chain afterwards", "rows": chain.events_checked, "s": verify_s},
        ],
    )
    print(
        f"\npseudonymise / baseline: {pseudonymise_s / bare:.1f}x; left in clear: {left};"
        f" rejected rows of people who stay left as they were: {kept}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=45_000)
    parser.add_argument("--leavers", type=int, default=10_000)
    args = parser.parse_args()
    with bench_database() as url:
        asyncio.run(run(url, args.people, args.leavers))


if __name__ == "__main__":
    main()
