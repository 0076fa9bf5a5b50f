"""A delivery's history, kept as created records sealed by one event of the import: every
read of an asset's history still shows its creation, and the SIM's, by the committer at
commit time with the values a "created" event held; keyset pagination stays by id."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import httpx
import pytest

from db.engine import connection
from fleetsvc.audit import PERSONAL_FIELDS
from fleetsvc.audit_chain import ITEM_COLUMNS, RECORD_COLUMNS, RECORDS_ACTION
from tests import factories
from tests.api.test_imports import assets_of, csv_bytes, handset, one, order, upload
from tests.conftest import ClientFactory, Databases


async def _committed(stores: httpx.AsyncClient, n: int) -> tuple[dict[str, Any], list[Any]]:
    o = await order()
    await factories.contract("airtime", starts_on=dt.date(2036, 5, 1), ends_on=dt.date(2039, 4, 30))
    rows = [handset(o, **{"Despatch Date": "02/06/2036"}) for _ in range(n)]
    r = await upload(stores, csv_bytes(rows), mode="commit")
    assert r.status_code in (200, 201), r.text
    done: dict[str, Any] = r.json()
    assert done["status"] == "committed", done
    return done, await assets_of(done["id"])


async def test_an_assets_history_shows_its_creation_by_the_committer_at_commit_time(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    done, assets = await _committed(stores, 3)
    a = assets[1]
    committed = await one(
        "SELECT committed_by, committed_at FROM delivery_import WHERE id = $1", done["id"]
    )
    sim = await one("SELECT * FROM sim WHERE asset_id = $1", a["id"])
    r = await stores.get(f"/api/v1/assets/{a['id']}/events")
    assert r.status_code == 200, r.text
    created = [e for e in r.json()["items"] if e["entity"] == "asset"]
    assert [e["action"] for e in created] == ["created"]
    e = created[0]
    assert e["actor_name"] == committed["committed_by"] and e["before"] is None
    assert dt.datetime.fromisoformat(e["occurred_at"]) == committed["committed_at"]
    assert e["after"] == {
        "delivery_import_id": done["id"],
        "model_id": a["model_id"],
        "manufacturer": a["manufacturer"],
        "serial_number": a["serial_number"],
        "imei": a["imei"],
        "status": "in_stock",
        "purchase_order_id": a["purchase_order_id"],
        "contract_id": a["contract_id"],
        "supplier_order_ref": "VF-ORD-1",
        "delivery_ref": "DN1",
        "unit_cost": "289.00",
        "delivered_on": "2036-06-02",
        "refresh_due_on": "2039-06-02",
        "location_id": a["location_id"],
    }
    # The SIM's creation is in the asset's history and in the audit trail by entity.
    sims = [x for x in r.json()["items"] if x["entity"] == "sim"]
    assert [x["action"] for x in sims] == ["created"]
    assert sims[0]["after"] == {
        "iccid": sim["iccid"],
        "msisdn": sim["msisdn"],
        "contract_id": sim["contract_id"],
        "asset_id": a["id"],
        "fitted": True,
        "delivery_import_id": done["id"],
    }
    auditor = await client_for("auditor")
    by_entity = await auditor.get(f"/api/v1/events?entity=sim&entity_id={sim['id']}")
    assert [x["id"] for x in by_entity.json()["items"]] == [sims[0]["id"]]
    # One event for the import seals them all.
    sealing = await auditor.get(
        f"/api/v1/events?entity=delivery_import&entity_id={done['id']}&action={RECORDS_ACTION}"
    )
    [seal] = sealing.json()["items"]
    assert seal["after"]["records"] == 6 and len(seal["after"]["records_sha256"]) == 64
    assert seal["actor_name"] == committed["committed_by"]


async def test_keyset_pages_of_the_audit_trail_run_through_records_and_events_by_id(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    auditor = await client_for("auditor")
    done, assets = await _committed(stores, 3)
    actor = (await stores.get(f"/api/v1/imports/{done['id']}")).json()["committed_by"]
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", "actor": actor}
        if cursor:
            params["cursor"] = cursor
        r = await auditor.get("/api/v1/events", params=params)
        assert r.status_code == 200, r.text
        seen += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    ids = [e["id"] for e in seen]
    assert ids == sorted(set(ids))
    whole = await auditor.get("/api/v1/events", params={"limit": "500", "actor": actor})
    assert [e["id"] for e in whole.json()["items"]] == ids
    created = {e["entity_id"] for e in seen if e["entity"] == "asset" and e["action"] == "created"}
    assert {a["id"] for a in assets} <= created
    # The sealing event comes before its records, the import's own event after them.
    mine = [e for e in seen if e.get("after", {}).get("delivery_import_id") == done["id"]]
    seal = next(e for e in seen if e["action"] == RECORDS_ACTION and e["entity_id"] == done["id"])
    assert len(mine) == 6 and all(seal["id"] < e["id"] for e in mine)


def test_created_records_and_items_hold_no_personal_field() -> None:
    """Records and items skip the personal-data step: none of their columns is one (a new
    personal field on assets or SIMs must not become a column here)."""
    personal = set(PERSONAL_FIELDS.get("asset", {})) | set(PERSONAL_FIELDS.get("sim", {}))
    assert not personal & set(RECORD_COLUMNS)
    assert not personal & set(ITEM_COLUMNS)
    assert not personal & {c.removeprefix("sim_") for c in ITEM_COLUMNS}


@pytest.mark.parametrize(
    ("table", "canonical"),
    [
        ("created_record", RECORD_COLUMNS),
        ("created_item", ITEM_COLUMNS),
        ("created_item_sim", ITEM_COLUMNS),
        ("created_item_bare", ITEM_COLUMNS),
    ],
)
async def test_the_canonical_columns_are_the_tables_columns(
    table: str, canonical: tuple[str, ...]
) -> None:
    async with connection() as conn:
        # pg_attribute: information_schema shows only the columns of tables one may use.
        columns = await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass"
            " AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            table,
        )
    assert tuple(c["attname"] for c in columns) == canonical


async def test_the_audit_trail_by_time_holds_a_deliverys_records_within_their_commit(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    auditor = await client_for("auditor")
    done, assets = await _committed(stores, 2)
    imported = await one("SELECT committed_at FROM delivery_import WHERE id = $1", done["id"])
    at = imported["committed_at"]
    tick = dt.timedelta(microseconds=1)

    async def created(since: dt.datetime, until: dt.datetime) -> set[int]:
        r = await auditor.get(
            "/api/v1/events",
            params={"since": since.isoformat(), "until": until.isoformat(), "limit": "1000"},
        )
        assert r.status_code == 200, r.text
        return {
            e["entity_id"]
            for e in r.json()["items"]
            if e["entity"] == "asset" and e["action"] == "created"
        }

    mine = {a["id"] for a in assets}
    assert mine <= await created(at, at + tick)
    assert not mine & await created(at + tick, at + 1000 * tick)
    assert not mine & await created(at - 1000 * tick, at)


async def test_a_commit_leaves_its_items_block_ranges_summarised(
    client_for: ClientFactory,
) -> None:
    """Right after the commit, nothing is left for the block-range index to summarise (the
    job did it, as the service's role: it may EXECUTE the owner's function), and both
    partitions have statistics (analysed on the first import, if autovacuum had not)."""
    stores = await client_for("stores")
    await _committed(stores, 40)
    async with connection() as conn:
        assert await conn.fetchval("SELECT created_item_summarize()") == 0
        never = await conn.fetch(
            "SELECT relname FROM pg_class"
            " WHERE relname IN ('created_item_sim', 'created_item_bare') AND reltuples < 0"
        )
    assert never == []


async def test_a_commit_whose_summary_cannot_be_made_still_commits(
    client_for: ClientFactory, databases: Databases
) -> None:
    """The summary waits 200 ms for its lock at most, then gives up (a warning in the log):
    the import is committed all the same, and its ranges are left to autovacuum."""
    stores = await client_for("stores")
    holder = await asyncpg.connect(databases.owner)
    try:
        async with holder.transaction():
            # What a VACUUM of the table holds.
            await holder.execute("LOCK TABLE created_item_sim IN SHARE UPDATE EXCLUSIVE MODE")
            done, assets = await _committed(stores, 2)
    finally:
        await holder.close()
    assert len(assets) == 2 and done["status"] == "committed"
