"""The migration that keeps a SIM's open fitting on its row (2026-12-04T15:00:02): on a
register whose fittings were all in ``sim_fitting``, each open fitting moves onto its SIM
with its id and time, removed ones stay, one whose SIM is elsewhere is closed (nothing
recorded is lost), and every fitting reads back through ``sims.ALL_FITTINGS`` as before."""

from __future__ import annotations

import uuid

import asyncpg
from piccolo.apps.migrations.commands.forwards import run_forwards

from db.embedded import drop_database
from db.engine import get_engine
from db.migrate import _connecting_as, known_migration_ids, migrate
from fleetsvc.sims import ALL_FITTINGS
from tests.conftest import Databases, new_database

OPEN_ON_SIM = "2026-12-04T15:00:02:000000"


async def _register_before(conn: asyncpg.Connection) -> dict[str, int]:
    """Three handsets: SIM 1 in handset 1 (fitted once before, in handset 2), SIM 2 in
    handset 2, SIM 3 in none but with an open fitting left in handset 3."""
    model = await conn.fetchval(
        "INSERT INTO device_model (manufacturer, model_name, category)"
        " VALUES ('Samsung', 'A32', 'smartphone') RETURNING id"
    )
    location = await conn.fetchval("SELECT id FROM location ORDER BY id LIMIT 1")
    assets = [
        await conn.fetchval(
            "INSERT INTO asset (model_id, manufacturer, serial_number, status, location_id)"
            " VALUES ($1, 'samsung', $2, 'in_stock', $3) RETURNING id",
            model,
            f"S{n}",
            location,
        )
        for n in range(3)
    ]
    sims = [
        await conn.fetchval(
            "INSERT INTO sim (iccid, asset_id) VALUES ($1, $2) RETURNING id",
            f"894411006825627005{n}",
            asset,
        )
        for n, asset in enumerate([assets[0], assets[1], None])
    ]
    fit = (
        "INSERT INTO sim_fitting (sim_id, asset_id, fitted_at, removed_at)"
        " VALUES ($1, $2, $3::text::timestamptz, $4::text::timestamptz) RETURNING id"
    )
    ids = {
        "removed": await conn.fetchval(fit, sims[0], assets[1], "2024-01-01", "2024-06-01"),
        "open1": await conn.fetchval(fit, sims[0], assets[0], "2024-06-01", None),
        "open2": await conn.fetchval(fit, sims[1], assets[1], "2024-07-01", None),
        "stray": await conn.fetchval(fit, sims[2], assets[2], "2024-08-01", None),
    }
    return {**ids, "sim1": sims[0], "sim2": sims[1], "sim3": sims[2]}


async def test_open_fittings_move_onto_their_sims(databases: Databases) -> None:
    name = f"fleetsvc_fit_{uuid.uuid4().hex[:8]}"
    db = await new_database(databases, name, migrated=False)
    try:
        before = max(i for i in known_migration_ids() if i < OPEN_ON_SIM)
        with _connecting_as(get_engine(), db.owner):
            assert (await run_forwards(app_name="db", migration_id=before)).success
        conn = await asyncpg.connect(db.owner)
        try:
            ids = await _register_before(conn)
            everything_before = await conn.fetch(
                "SELECT id, sim_id, asset_id, fitted_at, removed_at FROM sim_fitting ORDER BY id"
            )
        finally:
            await conn.close()

        await migrate(db.owner, db.service)

        conn = await asyncpg.connect(db.owner)
        try:
            on_rows = await conn.fetch("SELECT id, fitting_id, fitted_at FROM sim ORDER BY id")
            left = await conn.fetch("SELECT id, removed_at FROM sim_fitting ORDER BY id")
            after = await conn.fetch(
                f"SELECT id, sim_id, asset_id, fitted_at, removed_at FROM ({ALL_FITTINGS}) f"
                " ORDER BY id"
            )
        finally:
            await conn.close()
        times = {r["id"]: r["fitted_at"] for r in everything_before}
        assert [(r["id"], r["fitting_id"], r["fitted_at"]) for r in on_rows] == [
            (ids["sim1"], ids["open1"], times[ids["open1"]]),
            (ids["sim2"], ids["open2"], times[ids["open2"]]),
            (ids["sim3"], None, None),
        ]
        # The removed fitting stays; the stray open one is closed, not dropped.
        assert [r["id"] for r in left] == [ids["removed"], ids["stray"]]
        assert all(r["removed_at"] is not None for r in left)
        # Every fitting reads back as it was, the stray one now with a removal time.
        unchanged = [tuple(r) for r in everything_before if r["id"] != ids["stray"]]
        assert [tuple(r) for r in after if r["id"] != ids["stray"]] == unchanged
        assert [r["id"] for r in after] == [r["id"] for r in everything_before]
    finally:
        await drop_database(databases.admin, name)
