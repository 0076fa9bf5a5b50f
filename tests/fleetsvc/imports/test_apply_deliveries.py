"""The set-based apply of a delivery commit: a register that changes between the plan and the
write is a Conflict, and nothing of the import is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest

from db.engine import connection
from fleetsvc.auth import Actor
from fleetsvc.errors import Conflict
from fleetsvc.imports import plan, run
from fleetsvc.sims import ALL_FITTINGS
from tests.api.test_imports import csv_bytes, handset, order
from tests.conftest import unique

ACTOR = Actor("tests", "stores")
pytestmark = pytest.mark.usefixtures("app")


async def _register_asset(conn: asyncpg.Connection, o: dict[str, Any], row: dict[str, str]) -> None:
    await conn.execute(
        "INSERT INTO asset (model_id, manufacturer, serial_number, imei, location_id)"
        " SELECT id, lower(manufacturer), $2, $3, (SELECT id FROM location WHERE code = 'STORES')"
        " FROM device_model WHERE id = $1",
        o["model"]["id"],
        unique("OTHER"),
        row["IMEI"],
    )


async def _register_sim(conn: asyncpg.Connection, o: dict[str, Any], row: dict[str, str]) -> None:
    await conn.execute("INSERT INTO sim (iccid) VALUES ($1)", row["SIM ICCID"])


@pytest.mark.parametrize("register", [_register_asset, _register_sim], ids=["imei", "iccid"])
async def test_an_item_registered_after_the_plan_is_a_conflict_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, register: Any
) -> None:
    o = await order(quantity=10)
    rows = [handset(o) for _ in range(3)]
    path = tmp_path / "raced.csv"
    path.write_bytes(csv_bytes(rows))
    build = plan.build

    async def plan_then_race(
        conn: asyncpg.Connection, import_id: int, which: plan.Plan, *, staged_rows: int = 0
    ) -> int:
        changed = await build(conn, import_id, which, staged_rows=staged_rows)
        # Another writer registers the last row's item once the plan says it is new.
        await register(conn, o, rows[-1])
        return changed

    monkeypatch.setattr(plan, "build", plan_then_race)
    with pytest.raises(Conflict) as caught:
        await run.run_import(
            ACTOR, path=path, file_name="raced.csv", profile_name="vodafone-despatch", mode="commit"
        )
    assert "the register changed while the import was being applied" in caught.value.message
    async with connection() as conn:
        assets = await conn.fetchval(
            "SELECT count(*) FROM asset WHERE purchase_order_id = $1", o["po"]["id"]
        )
        sims = await conn.fetchval(
            "SELECT count(*) FROM sim WHERE iccid = ANY($1::text[])", [r["SIM ICCID"] for r in rows]
        )
        status = await conn.fetchval(
            "SELECT status FROM delivery_import WHERE file_name = 'raced.csv'"
            " ORDER BY id DESC LIMIT 1"
        )
    assert (assets, sims, status) == (0, 0, "failed")


async def test_each_handset_is_numbered_in_file_order_and_holds_its_own_rows_sim(
    tmp_path: Path,
) -> None:
    o = await order(quantity=10)
    rows = [handset(o) for _ in range(5)]
    rows[1]["SIM ICCID"] = rows[1]["MSISDN"] = ""  # a handset delivered without a SIM
    path = tmp_path / "numbered.csv"
    path.write_bytes(csv_bytes(rows))
    done = await run.run_import(
        ACTOR, path=path, file_name="numbered.csv", profile_name="vodafone-despatch", mode="commit"
    )
    assert done.status == "committed", done.counts
    async with connection() as conn:
        imeis = await conn.fetch(
            "SELECT imei FROM asset WHERE delivery_import_id = $1 ORDER BY id", done.id
        )
        sims = await conn.fetch(
            "SELECT s.iccid, a.imei, f.asset_id = s.asset_id AS fitted FROM sim s"
            " JOIN asset a ON a.id = s.asset_id"
            f" JOIN ({ALL_FITTINGS}) f ON f.sim_id = s.id AND f.removed_at IS NULL"
            " WHERE s.delivery_import_id = $1 ORDER BY s.id",
            done.id,
        )
    assert [r["imei"] for r in imeis] == [r["IMEI"] for r in rows]
    assert [tuple(s) for s in sims] == [
        (r["SIM ICCID"], r["IMEI"], True) for r in rows if r["SIM ICCID"]
    ]
