"""An MDM re-run that brings nothing new: its unchanged records are told apart by the hash
of their stored facts and leave the register untouched, yet the run still reports on them;
a record whose asset no longer says what the MDM says is applied again in full."""

from __future__ import annotations

import datetime as dt

from db.engine import connection, transaction
from tests import factories
from tests.api.test_mdm import NOW, asset_row, events_of, graph_record, iso, push
from tests.conftest import ClientFactory, unique


async def _xmin(table: str, row_id: int) -> int:
    """The transaction that last wrote the row: unchanged means it was not rewritten."""
    async with connection() as conn:
        value: int = await conn.fetchval(
            f"SELECT xmin::text::bigint FROM {table} WHERE id = $1", row_id
        )
    return value


async def test_unchanged_rerun_writes_no_asset_and_still_reports(client_for: ClientFactory) -> None:
    mdm = await client_for("mdm")
    assets = [await factories.asset() for _ in range(3)]
    records = [
        graph_record(serial=a["serial_number"], upn=unique("u") + "@force.example") for a in assets
    ]
    first = await push(mdm, unique("run-"), 1, records, final=True)
    assert first.json()["counts"]["changed"] == 3
    written = [await _xmin("asset", a["id"]) for a in assets]
    before = [await asset_row(a["id"]) for a in assets]

    run_key = unique("run-")
    again = await push(mdm, run_key, 1, records, final=True)
    assert again.status_code == 200, again.text
    counts = again.json()["counts"]
    assert counts == {"received": 3, "matched": 3, "unknown": 0, "changed": 0, "rejected": 0}
    assert [await _xmin("asset", a["id"]) for a in assets] == written
    assert [await asset_row(a["id"]) for a in assets] == before
    assert [len(await events_of(a["id"])) for a in assets] == [1, 1, 1]
    # The devices' latest report is this run's: its reconciliation counts them.
    report = (await mdm.get(f"/api/v1/mdm/runs/{run_key}")).json()["reconciliation"]
    assert report["capacity"]["managed"] == 3


async def test_a_record_whose_asset_changed_is_applied_again(client_for: ClientFactory) -> None:
    mdm = await client_for("mdm")
    asset = await factories.asset()
    record = graph_record(serial=asset["serial_number"], upn="officer.a@force.example")
    await push(mdm, unique("run-"), 1, [record], final=True)
    # The asset no longer holds what the MDM said (here: its record is no longer its MDM
    # device, put back by hand).
    async with transaction() as conn:
        await conn.execute(
            "UPDATE mdm_device SET is_primary = false WHERE asset_id = $1", asset["id"]
        )
    assert (await asset_row(asset["id"]))["mdm_user_upn"] is None

    again = await push(mdm, unique("run-"), 1, [record], final=True)
    assert again.json()["counts"]["changed"] == 1
    row = await asset_row(asset["id"])
    assert (row["mdm_device_id"], row["mdm_user_upn"]) == (record["id"], "officer.a@force.example")
    events = await events_of(asset["id"])
    assert events[-1]["after"]["mdm_device_id"] == record["id"]
    assert events[-1]["after"]["mdm_user_upn"] == "officer.a@force.example"


async def test_an_unknown_device_is_matched_again_once_registered(
    client_for: ClientFactory,
) -> None:
    mdm = await client_for("mdm")
    serial = unique("LATE")
    record = graph_record(serial=serial)
    first = await push(mdm, unique("run-"), 1, [record], final=True)
    assert first.json()["counts"]["unknown"] == 1
    asset = await factories.asset(serial_number=serial)
    again = await push(mdm, unique("run-"), 1, [record], final=True)
    assert again.json()["counts"]["matched"] == 1
    assert (await asset_row(asset["id"]))["mdm_device_id"] == record["id"]


async def test_an_unknown_device_sent_again_unchanged_is_still_unknown_and_reported(
    client_for: ClientFactory,
) -> None:
    mdm = await client_for("mdm")
    record = graph_record(serial=unique("NOSUCH"))
    await push(mdm, unique("run-"), 1, [record], final=True)
    async with connection() as conn:
        stored = await conn.fetchrow(
            "SELECT * FROM mdm_device WHERE mdm_device_id = $1", record["id"]
        )
    run_key = unique("run-")
    again = await push(mdm, run_key, 1, [record], final=True)
    counts = again.json()["counts"]
    assert counts == {"received": 1, "matched": 0, "unknown": 1, "changed": 0, "rejected": 0}
    async with connection() as conn:
        now = await conn.fetchrow("SELECT * FROM mdm_device WHERE mdm_device_id = $1", record["id"])
    assert stored is not None and now is not None
    # Only marked as reported by the new run; every fact as it was.
    assert now["last_run_id"] == again.json()["id"] != stored["last_run_id"]
    keep = set(stored.keys()) - {"last_run_id", "updated_at"}
    assert {k: now[k] for k in keep} == {k: stored[k] for k in keep}
    report = (await mdm.get(f"/api/v1/mdm/runs/{run_key}")).json()["reconciliation"]
    assert [d["mdm_device_id"] for d in report["not_in_register"]["items"]] == [record["id"]]


async def test_a_replayed_older_export_writes_nothing_and_counts_as_before(
    client_for: ClientFactory,
) -> None:
    mdm = await client_for("mdm")
    asset = await factories.asset()
    known = graph_record(serial=asset["serial_number"], last_sync=NOW - dt.timedelta(hours=1))
    unknown = graph_record(serial=unique("NOSUCH"), last_sync=NOW - dt.timedelta(hours=1))
    first = await push(mdm, unique("run-"), 1, [known, unknown], final=True)
    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT xmin::text AS x, xmax::text AS l, last_run_id FROM mdm_device"
            " WHERE mdm_device_id = ANY($1)"
            " ORDER BY id",
            [known["id"], unknown["id"]],
        )
    asset_written = await _xmin("asset", asset["id"])

    day_before = iso(NOW - dt.timedelta(days=1))
    replay = [{**r, "lastSyncDateTime": day_before, "osVersion": "12"} for r in (known, unknown)]
    again = await push(mdm, unique("run-"), 1, replay, final=True)
    counts = again.json()["counts"]
    assert counts == {"received": 2, "matched": 1, "unknown": 1, "changed": 0, "rejected": 0}
    async with connection() as conn:
        after = await conn.fetch(
            "SELECT xmin::text AS x, xmax::text AS l, last_run_id FROM mdm_device"
            " WHERE mdm_device_id = ANY($1)"
            " ORDER BY id",
            [known["id"], unknown["id"]],
        )
    # Not rewritten, not even locked (xmax): still the first run's latest word.
    assert [tuple(r) for r in after] == [tuple(r) for r in rows]
    assert {r["last_run_id"] for r in after} == {first.json()["id"]}
    assert await _xmin("asset", asset["id"]) == asset_written
    assert (await asset_row(asset["id"]))["mdm_os_version"] == "13"
    assert len(await events_of(asset["id"])) == 1
