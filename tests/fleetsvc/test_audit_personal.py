"""Events hold no personal data in clear: a person's name, UPN and employee number, and an MDM
user's UPN, are kept apart and referred to; reads show them while they exist; forgetting a
person erases them everywhere the audit trail held them, while the chain still verifies and
the person's history still lists every event and device."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from db.engine import connection, transaction
from fleetsvc import audit, audit_rows
from fleetsvc.audit_chain import verify_chain
from fleetsvc.auth import Actor
from fleetsvc.errors import NotFound, ValidationFailed
from tests import factories
from tests.api.test_mdm import graph_record, push
from tests.conftest import ClientFactory, Databases, unique
from tests.fleetsvc.audit_db import run_cli

ADMIN = Actor("tests", "admin")
SIDE_TABLES = ("personal_value", "event_seal", "event_chain_head", "event_pending")


async def held_in_clear(value: str) -> dict[str, int]:
    """How many rows of the event table and of the audit trail's side tables hold ``value``
    anywhere in their text (any case)."""
    async with connection() as conn:
        return {
            table: await conn.fetchval(
                f"SELECT count(*) FROM {table} t WHERE strpos(lower(t::text), lower($1)) > 0",
                value,
            )
            for table in ("event", *SIDE_TABLES)
        }


async def events(client: httpx.AsyncClient, query: str) -> list[dict[str, Any]]:
    r = await client.get(f"/api/v1/events?{query}&limit=1000")
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_a_forgotten_person_is_in_no_event_in_clear_and_their_history_remains(
    client_for: ClientFactory,
) -> None:
    eng, mdm, auditor = [await client_for(r) for r in ("engineer", "mdm", "auditor")]
    n = unique()
    old_upn, new_upn = f"lee.vere{n}@force.police.uk".lower(), f"l.vere{n}@force.police.uk".lower()
    name, new_name, number = f"Lee Vere {n}", f"Lee Vere-Smith {n}", f"LV{n}"
    run = unique("run-")
    # The MDM names the new UPN before the register knows it: a value that names nobody yet.
    early = await factories.asset()
    r = await push(mdm, run, 1, [graph_record(serial=early["serial_number"], upn=new_upn.upper())])
    assert r.status_code == 200, r.text

    unit = await factories.business_unit()
    r = await eng.post(
        "/api/v1/people",
        json={
            "employee_number": number,
            "upn": old_upn,
            "display_name": name,
            "business_unit_id": unit["id"],
            "kind": "officer",
        },
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = await eng.patch(
        f"/api/v1/people/{pid}",
        json={"display_name": new_name, "upn": new_upn},
        headers={"If-Match": r.headers["etag"]},
    )
    assert r.status_code == 200, r.text
    handset = await factories.asset()
    r = await eng.post(
        f"/api/v1/assets/{handset['id']}/transitions",
        json={"to": "deployed", "reason": "issued", "person_id": pid},
    )
    assert r.status_code == 200, r.text
    r = await push(mdm, run, 2, [graph_record(serial=handset["serial_number"], upn=new_upn)])
    assert r.status_code == 200, r.text

    # While they are remembered, every read shows the values as they were written...
    created, updated = await events(auditor, f"entity=person&entity_id={pid}")
    assert created["after"]["display_name"] == name and created["after"]["upn"] == old_upn
    assert created["after"]["employee_number"] == number
    assert updated["before"] == {"display_name": name, "upn": old_upn}
    assert updated["after"] == {"display_name": new_name, "upn": new_upn}
    history = (await auditor.get(f"/api/v1/assets/{handset['id']}/events")).json()["items"]
    [synced] = [e for e in history if e["action"] == "mdm_synced"]
    assert synced["after"]["mdm_user_upn"] == new_upn
    # ...though no event row ever held them: only the side table does.
    for value in (name, new_name, number, old_upn, new_upn):
        held = await held_in_clear(value)
        assert held["event"] == 0 and held["personal_value"] >= 1, (value, held)

    async with transaction() as conn:
        erased = await audit.forget_personal_data(conn, ADMIN, pid, "P-7F3A")
    # name, UPN and number at creation; old and new name and UPN in the change; the MDM's UPN
    # on the handset, and the one it reported before the person was registered.
    assert erased == 3 + 4 + 1 + 1

    for value in (name, new_name, number, old_upn, new_upn):
        assert set((await held_in_clear(value)).values()) == {0}, value
    async with connection() as conn:
        report = await verify_chain(conn)
    assert report.ok, report.summary()

    shown = "[pseudonymised P-7F3A]"
    created, updated, forgotten = await events(auditor, f"entity=person&entity_id={pid}")
    assert created["after"]["display_name"] == shown and created["after"]["kind"] == "officer"
    assert updated["after"] == {"display_name": shown, "upn": shown}
    assert forgotten["action"] == "personal_data_forgotten"
    assert forgotten["after"] == {"values_erased": erased, "pseudonym": "P-7F3A"}
    history = (await auditor.get(f"/api/v1/assets/{handset['id']}/events")).json()["items"]
    issued = [e for e in history if e["action"] == "transition"]
    assert [e["after"]["person_id"] for e in issued] == [pid]  # still counts as their device
    [synced] = [e for e in history if e["action"] == "mdm_synced"]
    assert synced["after"]["mdm_user_upn"] == shown
    early_history = (await auditor.get(f"/api/v1/assets/{early['id']}/events")).json()["items"]
    assert [e["after"]["mdm_user_upn"] for e in early_history] == [shown]

    async with transaction() as conn:  # again: nothing left to erase
        assert await audit.forget_personal_data(conn, ADMIN, pid, "P-7F3A") == 0


async def test_every_writer_keeps_personal_values_out_of_the_event_row() -> None:
    person = await factories.person()
    n = unique()
    values = {"display_name": f"Writer {n}", "employee_number": f"W{n}", "upn": f"w{n}@x.example"}
    actor = Actor(unique("writer-"), "admin")
    async with transaction() as conn:
        await audit.record(conn, actor, "person", person["id"], "one", after=values)
        await audit.record_many(
            conn, actor, [audit.EventRow("person", person["id"], "many", values, None)]
        )
        await audit.record_from_query(
            conn,
            actor,
            "SELECT 'person' AS entity, $1::bigint AS entity_id, 'query' AS action,"
            " $2::jsonb AS before, $2::jsonb AS after",
            person["id"],
            audit.to_json(values),
        )
        await audit.record(
            conn, actor, "asset", 1, "not_a_person", after={"display_name": "a device's name"}
        )
    async with connection() as conn:
        rows = await conn.fetch("SELECT * FROM event WHERE actor_name = $1 ORDER BY id", actor.name)
        read = await audit.decode_events(conn, rows)
    raw = [str(r["before"]) + str(r["after"]) for r in rows[:3]]
    assert all(v not in text for v in values.values() for text in raw)
    assert [(e["action"], e["before"], e["after"]) for e in read[:3]] == [
        ("one", None, values),
        ("many", values, None),
        ("query", values, values),
    ]
    # Only the fields PERSONAL_FIELDS lists for the entity are kept apart.
    assert "a device's name" in rows[3]["after"]


async def test_record_rows_writes_what_record_from_query_would() -> None:
    """The HR feed's fast path: events for new rows, their personal values stored straight
    from the rows; read back the same as the generic writer's, a NULL left as it is."""
    people = [await factories.person(), await factories.person()]
    n = unique()
    rows = [
        (people[0]["id"], f"Rows {n}", f"R{n}", f"r{n}@x.example", 3),
        (people[1]["id"], f"Rows Two {n}", f"RT{n}", None, None),
    ]
    source = (
        "SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::int[])"
        " AS u(id, display_name, employee_number, upn, business_unit_id)"
    )
    columns = ("display_name", "employee_number", "upn", "business_unit_id")
    args = [list(c) for c in zip(*rows, strict=True)]
    actor = Actor(unique("rows-"), "admin")
    async with transaction() as conn:
        written = await audit_rows.record_rows(
            conn, actor, "person", "created", source, columns, *args
        )
        await audit.record_from_query(
            conn,
            actor,
            f"SELECT 'person' AS entity, u.id AS entity_id, 'created' AS action, NULL::jsonb"
            f" AS before, to_jsonb(u) - 'id' AS after FROM ({source}) u ORDER BY u.id",
            *args,
        )
    assert written == 2
    async with connection() as conn:
        found = await conn.fetch(
            "SELECT * FROM event WHERE actor_name = $1 ORDER BY id", actor.name
        )
        stored = await conn.fetch(
            "SELECT v.person_id, v.field FROM personal_value v WHERE v.id IN (SELECT"
            " (e.after -> f ->> '$personal')::bigint FROM event e, unnest($2::text[]) f"
            " WHERE e.actor_name = $1 AND e.after -> f ? '$personal') ORDER BY v.id",
            actor.name,
            ["display_name", "employee_number", "upn"],
        )
        read = await audit.decode_events(conn, found)
    fast, generic = read[:2], read[2:]
    assert [(e["entity_id"], e["after"]) for e in fast] == [
        (e["entity_id"], e["after"]) for e in generic
    ]
    assert fast[0]["after"] == dict(zip(columns, rows[0][1:], strict=True))
    assert fast[1]["after"]["upn"] is None
    assert all(str(v) not in str(r["after"]) for r in found for v in rows[0][1:4])
    # Each value is its person's (5 a writer: 3 for the first, 2 for the second).
    assert sorted((r["person_id"], r["field"]) for r in stored[:5]) == sorted(
        [(people[0]["id"], f) for f in ("display_name", "employee_number", "upn")]
        + [(people[1]["id"], f) for f in ("display_name", "employee_number")]
    )
    with pytest.raises(ValueError, match="identifier"):
        await audit_rows.record_rows(conn, actor, "person", "x'; --", source, columns)


async def test_forgetting_names_what_it_cannot_do() -> None:
    async with transaction() as conn:
        with pytest.raises(NotFound):
            await audit.forget_personal_data(conn, ADMIN, 2_000_000_000, "P-1")
        with pytest.raises(ValidationFailed, match="pseudonym"):
            await audit.forget_personal_data(conn, ADMIN, 1, "someone@force.example")


async def test_events_written_before_the_migration_are_converted_before_being_sealed(
    databases: Databases,
) -> None:
    """A database with events in clear from before: migrating moves their personal values out,
    then seals them; reads show the same before and after."""
    from db.embedded import drop_database, ensure_database, with_database

    name = f"fleetsvc_legacy_{unique().lower()}"
    await ensure_database(databases.admin, name)
    url = with_database(databases.admin, name)
    try:
        code, out, err = await run_cli(url, "db", "migrate")  # everything, then undo ours
        assert code == 0, out + err
        conn = await asyncpg.connect(url)
        try:
            await _as_before_the_audit_chain(conn)
            person = await conn.fetchval(
                "INSERT INTO person (employee_number, upn, display_name, kind)"
                " VALUES ('OLD1', 'old.timer@force.example', 'Old Timer', 'staff') RETURNING id"
            )
            await conn.execute(
                "INSERT INTO event (actor_name, actor_role, entity, entity_id, action, before,"
                " after)"
                " VALUES ('legacy', 'admin', 'person', $1, 'created', NULL,"
                ' \'{"display_name": "Old Timer", "upn": "old.timer@force.example",'
                ' "employee_number": "OLD1", "kind": "staff"}\'),'
                " ('legacy', 'admin', 'asset', 5, 'mdm_synced', '{\"mdm_user_upn\": null}',"
                ' \'{"mdm_user_upn": "Old.Timer@force.example", "mdm_os_version": "13"}\')',
                person,
            )
        finally:
            await conn.close()
        code, out, err = await run_cli(url, "db", "migrate")
        assert code == 0, out + err
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT * FROM event ORDER BY id")
            assert all("Old" not in str(r["after"]) and "OLD1" not in str(r["after"]) for r in rows)
            read = await audit.decode_events(conn, rows)
            assert read[0]["after"]["upn"] == "old.timer@force.example"
            assert read[1]["after"] == {
                "mdm_user_upn": "Old.Timer@force.example",
                "mdm_os_version": "13",
            }
            report = await verify_chain(conn)
            assert report.ok and report.events_checked == 2, report.summary()
            owners = await conn.fetch("SELECT DISTINCT person_id FROM personal_value")
            assert [r["person_id"] for r in owners] == [person]  # the MDM's UPN found its person
            async with conn.transaction():
                assert await audit.forget_personal_data(conn, ADMIN, person, "P-OLD") == 4
        finally:
            await conn.close()
    finally:
        await drop_database(databases.admin, name)


async def _as_before_the_audit_chain(conn: asyncpg.Connection) -> None:
    """Take this branch's migration back out (it has no backwards step): its tables,
    functions and record, so the next ``db migrate`` applies it to events already there;
    and the created records' and created items' migrations, which use its functions. CASCADE: later
    migrations' guards use its functions too; this database is thrown away after."""
    await conn.execute(
        """
        DROP TRIGGER event_collect ON event;
        DROP VIEW event_history;
        DROP TABLE created_record, created_item;
        DROP TABLE event_pending, event_seal, event_chain_head, personal_value;
        DROP FUNCTION event_collect, event_seal_pending, audit_forget_person, audit_refuse,
            audit_owner_only, personal_value_erase_only, event_chain, event_canonical CASCADE;
        DELETE FROM migration
        WHERE name IN ('2026-12-03T09:00:00:000000', '2026-12-04T05:00:00:000000',
                       '2026-12-04T17:00:00:000000');
        """
    )
