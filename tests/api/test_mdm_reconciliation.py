"""The reconciliation report: per run (GET /mdm/runs/{id}) and now (GET /mdm/discrepancies)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from db.engine import transaction
from tests import factories
from tests.api.test_mdm import NOW, graph_record, push
from tests.conftest import ClientFactory, unique


async def deployed(person: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return await factories.asset(status="deployed", person_id=person["id"], **kw)


async def status_event(asset_id: int, status: str, when: dt.datetime) -> None:
    async with transaction() as conn:
        await conn.execute(
            "INSERT INTO event (occurred_at, actor_name, actor_role, entity, entity_id, action,"
            " before, after) VALUES ($1, 'tests', 'admin', 'asset', $2, 'transition',"
            " '{}'::jsonb, jsonb_build_object('status', $3::text))",
            when,
            asset_id,
            status,
        )


def ids(section: dict[str, Any], key: str = "asset_id") -> set[Any]:
    return {item[key] for item in section["items"]}


async def test_run_report_has_every_section_security_first(client_for: ClientFactory) -> None:
    mdm = await client_for("mdm")
    unit = await factories.business_unit()
    holder = await factories.person(business_unit_id=unit["id"])
    other_user = await factories.person(business_unit_id=unit["id"])
    kept = await deployed(holder)
    disposed = await factories.asset(status="disposed", disposal_certificate_ref="WEEE-1")
    mismatched = await deployed(other_user)
    noncompliant = await deployed(holder)
    twin_serial = unique("TWIN")
    records = [
        graph_record(serial=kept["serial_number"], upn=holder["upn"].upper()),
        graph_record(serial=disposed["serial_number"], upn=None),
        graph_record(serial=mismatched["serial_number"], upn="not.them@force.example"),
        graph_record(
            serial=noncompliant["serial_number"], upn=holder["upn"], compliance="noncompliant"
        ),
        graph_record(serial=twin_serial),
        graph_record(serial=twin_serial),
    ]
    run_id = unique("run-")
    r = await push(mdm, run_id, 1, records, final=True)
    assert r.status_code == 200, r.text

    report = (await mdm.get(f"/api/v1/mdm/runs/{run_id}")).json()
    assert report["counts"]["matched"] == 4 and report["counts"]["unknown"] == 2
    rec = report["reconciliation"]
    assert list(rec)[:4] == ["scope", "as_of", "stale_days", "still_checking_in"]
    assert rec["scope"] == "run"

    # (a) a disposed handset still checking in is the first finding.
    assert rec["still_checking_in"]["count"] == 1
    [finding] = rec["still_checking_in"]["items"]
    assert finding["asset_id"] == disposed["id"] and finding["status"] == "disposed"
    assert finding["mdm_device_id"] == records[1]["id"]

    # (b) enrolled in the MDM, not in the register (both records of the twin serial).
    assert rec["not_in_register"]["count"] == 2
    assert ids(rec["not_in_register"], "mdm_device_id") == {records[4]["id"], records[5]["id"]}

    # (d) the MDM's primary user is not the register's holder (case is ignored).
    assert ids(rec["user_mismatches"]) == {mismatched["id"]}
    [mismatch] = rec["user_mismatches"]["items"]
    assert mismatch["mdm_user_upn"] == "not.them@force.example"
    assert mismatch["register_upn"] == other_user["upn"]
    assert mismatch["business_unit"] == unit["code"]

    # (e) one serial on two MDM records.
    assert rec["duplicates"]["count"] == 1
    [dup] = rec["duplicates"]["items"]
    assert dup["kind"] == "serial_number" and dup["value"] == twin_serial
    assert sorted(dup["mdm_device_ids"]) == sorted([records[4]["id"], records[5]["id"]])

    # (f) non-compliant devices by the holder's business unit.
    assert rec["noncompliant_by_business_unit"]["count"] == 1
    [by_unit] = rec["noncompliant_by_business_unit"]["items"]
    assert by_unit["business_unit"] == unit["code"]
    assert by_unit["noncompliant"] == 1 and by_unit["devices"] == 3

    # (g) capacity: this run's devices against the licence.
    cap = rec["capacity"]
    assert cap["managed"] == 6 and cap["capacity"] == 40_000 and cap["headroom"] == 39_994

    # (c) counted from when the run closed.
    assert rec["not_seen_reference"] is not None
    assert dt.datetime.fromisoformat(rec["not_seen_reference"]) == dt.datetime.fromisoformat(
        report["closed_at"]
    )


async def test_still_checking_in_after_the_status_change(client_for: ClientFactory) -> None:
    mdm = await client_for("mdm")
    # Retired 100 days ago, still syncing 50 days ago: after the change, outside the window.
    after_change = await factories.asset(status="retired")
    await status_event(after_change["id"], "retired", NOW - dt.timedelta(days=100))
    # Stolen 10 days ago, last sync 20 days ago: before the change.
    before_change = await factories.asset(status="stolen")
    await status_event(before_change["id"], "stolen", NOW - dt.timedelta(days=10))
    in_stock = await factories.asset()
    records = [
        graph_record(serial=after_change["serial_number"], last_sync=NOW - dt.timedelta(days=50)),
        graph_record(serial=before_change["serial_number"], last_sync=NOW - dt.timedelta(days=20)),
        graph_record(serial=in_stock["serial_number"]),
    ]
    run_id = unique("run-")
    await push(mdm, run_id, 1, records, final=True)

    rec = (await mdm.get(f"/api/v1/mdm/runs/{run_id}?stale_days=15")).json()["reconciliation"]
    assert ids(rec["still_checking_in"]) == {after_change["id"]}
    # Within a 30-day window the stolen handset's recent sync counts as well.
    rec = (await mdm.get(f"/api/v1/mdm/runs/{run_id}?stale_days=30")).json()["reconciliation"]
    assert ids(rec["still_checking_in"]) == {after_change["id"], before_change["id"]}


async def test_not_seen_counts_only_closed_runs(client_for: ClientFactory) -> None:
    mdm = await client_for("mdm")
    unit = await factories.business_unit()
    holder = await factories.person(business_unit_id=unit["id"])
    recent = await deployed(holder)
    old = await deployed(holder)
    never = await deployed(holder)
    dock_model = await factories.device_model(category="vehicle_dock")
    await factories.asset(dock_model)  # docks are never enrolled: never listed
    records = [
        graph_record(serial=recent["serial_number"], last_sync=NOW - dt.timedelta(days=10)),
        graph_record(serial=old["serial_number"], last_sync=NOW - dt.timedelta(days=60)),
    ]

    # An open run that never closes marks nothing unseen.
    open_run = unique("run-")
    await push(mdm, open_run, 1, records)
    rec = (await mdm.get(f"/api/v1/mdm/runs/{open_run}")).json()["reconciliation"]
    assert rec["not_seen"] == {"count": 0, "items": []}
    assert rec["not_seen_reference"] is None

    closed_run = unique("run-")
    await push(mdm, closed_run, 1, records[:1], final=True)
    url = f"/api/v1/mdm/discrepancies?business_unit={unit['code'].lower()}"
    current = (await mdm.get(url)).json()
    assert current["scope"] == "current"
    assert ids(current["not_seen"]) == {old["id"], never["id"]}
    assert current["not_seen"]["count"] == 2
    # Never seen comes first.
    assert current["not_seen"]["items"][0]["asset_id"] == never["id"]
    shorter = (await mdm.get(f"{url}&stale_days=5")).json()
    assert ids(shorter["not_seen"]) == {recent["id"], old["id"], never["id"]}


async def test_current_report_sections_and_limits(client_for: ClientFactory) -> None:
    mdm = await client_for("mdm")
    unit = await factories.business_unit()
    holder = await factories.person(business_unit_id=unit["id"])
    phones = [await deployed(holder) for _ in range(3)]
    records = [
        graph_record(serial=p["serial_number"], upn="someone.else@force.example") for p in phones
    ]
    unknown = graph_record(serial=unique("STRAY"))
    await push(mdm, unique("run-"), 1, [*records, unknown], final=True)

    url = f"/api/v1/mdm/discrepancies?business_unit={unit['code']}"
    current = (await mdm.get(f"{url}&limit=2")).json()
    assert current["user_mismatches"]["count"] == 3
    assert len(current["user_mismatches"]["items"]) == 2
    everything = (await mdm.get("/api/v1/mdm/discrepancies?limit=1000")).json()
    assert unknown["id"] in ids(everything["not_in_register"], "mdm_device_id")
    assert everything["capacity"]["managed"] >= 4
    assert everything["capacity"]["headroom"] == 40_000 - everything["capacity"]["managed"]

    r = await mdm.get("/api/v1/mdm/discrepancies?limit=0")
    assert r.status_code in (400, 422)
    r = await mdm.get("/api/v1/mdm/discrepancies?stale_days=abc")
    assert r.status_code in (400, 422)


async def test_runs_list_newest_first(client_for: ClientFactory) -> None:
    mdm = await client_for("mdm")
    keys = [unique("run-") for _ in range(3)]
    for key in keys:
        await push(mdm, key, 1, [graph_record(serial=unique("S"))])
    page = (await mdm.get("/api/v1/mdm/runs?limit=2")).json()
    assert [r["run_id"] for r in page["items"]] == [keys[2], keys[1]]
    rest = (await mdm.get(f"/api/v1/mdm/runs?limit=2&cursor={page['next_cursor']}")).json()
    assert rest["items"][0]["run_id"] == keys[0]
