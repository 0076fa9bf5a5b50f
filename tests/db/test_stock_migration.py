"""The migration that brought locations: on a register that had none, it makes the default
location (the one FLEETSVC_DEFAULT_LOCATION names), gives it every device kept in stock,
in repair or awaiting rebuild (each with an event) and every delivery not yet committed,
and leaves every other device kept nowhere."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from piccolo.apps.migrations.commands.forwards import run_forwards

from db.embedded import drop_database
from db.engine import get_engine
from db.migrate import _connecting_as, known_migration_ids, migrate
from tests.conftest import Databases, new_database

LOCATIONS = "2026-12-03T19:00:00:000000"


async def test_existing_devices_are_given_the_default_location(
    databases: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"fleetsvc_loc_{uuid.uuid4().hex[:8]}"
    db = await new_database(databases, name, migrated=False)
    try:
        before = max(i for i in known_migration_ids() if i < LOCATIONS)
        with _connecting_as(get_engine(), db.owner):
            assert (await run_forwards(app_name="db", migration_id=before)).success
        conn = await asyncpg.connect(db.owner)
        try:
            model = await conn.fetchval(
                "INSERT INTO device_model (manufacturer, model_name, category)"
                " VALUES ('Samsung', 'A32', 'smartphone') RETURNING id"
            )
            person = await conn.fetchval(
                "INSERT INTO person (employee_number, display_name) VALUES ('E1', 'P') RETURNING id"
            )
            for n, (status, holder) in enumerate(
                [
                    ("in_stock", None),
                    ("in_repair", None),
                    ("rebuild", None),
                    ("deployed", person),
                    ("lost", None),
                    ("staging", None),
                ]
            ):
                await conn.execute(
                    "INSERT INTO asset (model_id, manufacturer, serial_number, status, person_id)"
                    " VALUES ($1, 'samsung', $2, $3, $4)",
                    model,
                    f"S{n}",
                    status,
                    holder,
                )
            await conn.execute(
                "INSERT INTO delivery_import (profile, file_name, sha256, status, created_by,"
                " created_role) VALUES"
                " ('vodafone-despatch', 'a.csv', 'x', 'previewed', 't', 'admin'),"
                " ('vodafone-despatch', 'b.csv', 'y', 'committed', 't', 'admin')"
            )
        finally:
            await conn.close()

        monkeypatch.setenv("FLEETSVC_DEFAULT_LOCATION", " hq-stores ")
        await migrate(db.owner, db.service)

        conn = await asyncpg.connect(db.owner)
        try:
            hq = await conn.fetchrow("SELECT id, name FROM location WHERE code = 'HQ-STORES'")
            assert hq is not None and hq["name"] == "Central stores"
            kept = await conn.fetch(
                "SELECT status, location_id, version FROM asset ORDER BY serial_number"
            )
            assert [(r["status"], r["location_id"]) for r in kept] == [
                ("in_stock", hq["id"]),
                ("in_repair", hq["id"]),
                ("rebuild", hq["id"]),
                ("deployed", None),
                ("lost", None),
                ("staging", None),
            ]
            assert [r["version"] for r in kept] == [2, 2, 2, 1, 1, 1]
            events = await conn.fetch(
                "SELECT action, before, after FROM event WHERE entity = 'asset' ORDER BY id"
            )
            assert [e["action"] for e in events] == ["located"] * 3
            imports = await conn.fetch(
                "SELECT status, location_id FROM delivery_import ORDER BY file_name"
            )
            assert [(r["status"], r["location_id"]) for r in imports] == [
                ("previewed", hq["id"]),
                ("committed", None),
            ]
        finally:
            await conn.close()
    finally:
        await drop_database(databases.admin, name)
