"""MDM push sync over HTTP: batches, matching, idempotency, rejections, closing, roles."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from db.engine import connection
from tests import factories
from tests.conftest import ClientFactory, unique

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def graph_record(
    *,
    serial: str | None = None,
    imei: str | None = None,
    device_id: str | None = None,
    upn: str | None = "someone@force.example",
    compliance: str = "compliant",
    last_sync: dt.datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One device in the MDM's own JSON schema."""
    return {
        "id": device_id or unique("mdm-").lower(),
        "deviceName": f"MPS-{serial or 'X'}",
        "serialNumber": serial or "",
        "imei": imei or "",
        "phoneNumber": "",
        "userPrincipalName": upn,
        "complianceState": compliance,
        "lastSyncDateTime": iso(last_sync or NOW - dt.timedelta(hours=1)),
        "enrolledDateTime": "2022-12-01T09:00:00Z",
        "operatingSystem": "Android",
        "osVersion": "13",
        "manufacturer": "samsung",
        "model": "SM-A325F",
        "managedDeviceOwnerType": "company",
        # Fields of the MDM's schema this service does not use are ignored.
        "azureADDeviceId": "892f902bd23f0824128b2f330c5c7fd0",
        **extra,
    }


# The asset's row with its MDM facts: its primary MDM record's.
ASSET_WITH_MDM = """
SELECT a.*, md.mdm_device_id, md.compliance AS mdm_compliance, md.os_version AS mdm_os_version,
       md.user_upn AS mdm_user_upn
FROM asset a LEFT JOIN mdm_device md ON md.asset_id = a.id AND md.is_primary
WHERE a.id = $1
"""


async def asset_row(asset_id: int) -> dict[str, Any]:
    async with connection() as conn:
        row = await conn.fetchrow(ASSET_WITH_MDM, asset_id)
    assert row is not None
    return dict(row)


async def events_of(asset_id: int) -> list[dict[str, Any]]:
    """The asset's MDM events as the audit trail reads them (personal values put back)."""
    from fleetsvc import audit

    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT id, action, before, after FROM event WHERE entity = 'asset'"
            " AND entity_id = $1 AND action = 'mdm_synced' ORDER BY id",
            asset_id,
        )
        read = await audit.decode_events(conn, rows)
    return [{"action": r["action"], "before": r["before"], "after": r["after"]} for r in read]


async def mdm_device(device_id: str) -> dict[str, Any] | None:
    async with connection() as conn:
        row = await conn.fetchrow("SELECT * FROM mdm_device WHERE mdm_device_id = $1", device_id)
    return dict(row) if row else None


async def push(
    client: httpx.AsyncClient, run_id: str, batch: int | None, records: list[Any], **kw: Any
) -> httpx.Response:
    body: dict[str, Any] = {"run_id": run_id, "records": records, **kw}
    if batch is not None:
        body["batch"] = batch
    return await client.post("/api/v1/mdm/sync", json=body)


async def test_push_matches_by_serial_then_imei_and_records_what_changed(
    client_for: ClientFactory,
) -> None:
    mdm = await client_for("mdm")
    by_serial = await factories.asset()
    by_imei = await factories.asset()
    run_id = unique("run-")
    seen = NOW - dt.timedelta(hours=2)
    records = [
        # The MDM reports serials in its own case and padding.
        graph_record(
            serial=f"  {by_serial['serial_number'].lower()} ",
            upn="Officer.One@Force.example",
            last_sync=seen,
            compliance="NonCompliant",
        ),
        graph_record(imei=by_imei["imei"], osVersion="14"),
        graph_record(serial=unique("UNKNOWN")),
    ]
    r = await push(mdm, run_id, 1, records)
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["status"] == "open" and run["source"] == "push" and run["batches"] == 1
    assert run["counts"] == {
        "received": 3,
        "matched": 2,
        "unknown": 1,
        "changed": 2,
        "rejected": 0,
    }

    a = await asset_row(by_serial["id"])
    assert a["mdm_device_id"] == records[0]["id"]
    # The last check-in is the MDM record's, shown with the asset.
    assert (await mdm_device(records[0]["id"]) or {})["last_sync_at"] == seen
    shown = (await mdm.get(f"/api/v1/assets/{by_serial['id']}")).json()["mdm"]
    assert shown["last_seen_at"] == iso(seen) and shown["compliance"] == "noncompliant"
    assert a["mdm_compliance"] == "noncompliant"
    assert a["mdm_os_version"] == "13"
    assert a["mdm_user_upn"] == "Officer.One@Force.example"
    assert a["version"] == by_serial["version"]  # the MDM's observations are not edits
    b = await asset_row(by_imei["id"])
    assert b["mdm_device_id"] == records[1]["id"] and b["mdm_os_version"] == "14"

    [event] = await events_of(by_serial["id"])
    assert event["before"] == {
        "mdm_device_id": None,
        "mdm_compliance": None,
        "mdm_os_version": None,
        "mdm_user_upn": None,
    }
    assert event["after"]["mdm_device_id"] == records[0]["id"]
    assert event["after"]["mdm_compliance"] == "noncompliant"

    # Every record is kept, matched or not.
    assert (await mdm_device(records[0]["id"]))["asset_id"] == by_serial["id"]  # type: ignore[index]
    unknown = await mdm_device(records[2]["id"])
    assert unknown is not None and unknown["asset_id"] is None


async def test_resent_batch_changes_nothing_and_is_not_counted_twice(
    client_for: ClientFactory,
) -> None:
    mdm = await client_for("mdm")
    assets = [await factories.asset() for _ in range(3)]
    run_id = unique("run-")
    records = [graph_record(serial=a["serial_number"]) for a in assets]
    first = await push(mdm, run_id, 1, records)
    assert first.json()["counts"]["changed"] == 3

    again = await push(mdm, run_id, 1, records)
    assert again.status_code == 200
    assert again.json()["counts"] == first.json()["counts"]
    assert again.json()["batches"] == 1
    for a in assets:
        assert len(await events_of(a["id"])) == 1

    # A second batch that changes one fact of one device: one event, that field only.
    changed = [{**records[0], "complianceState": "inGracePeriod"}]
    r = await push(mdm, run_id, 2, changed)
    assert r.json()["counts"]["received"] == 4 and r.json()["counts"]["changed"] == 4
    events = await events_of(assets[0]["id"])
    assert len(events) == 2
    assert events[1]["before"] == {"mdm_compliance": "compliant"}
    assert events[1]["after"] == {"mdm_compliance": "inGracePeriod"}


async def test_older_record_does_not_turn_the_clock_back(client_for: ClientFactory) -> None:
    mdm = await client_for("mdm")
    a = await factories.asset()
    newer = graph_record(serial=a["serial_number"], last_sync=NOW - dt.timedelta(hours=1))
    await push(mdm, unique("run-"), 1, [newer], final=True)
    older = {**newer, "lastSyncDateTime": iso(NOW - dt.timedelta(days=3)), "osVersion": "12"}
    r = await push(mdm, unique("run-"), 1, [older], final=True)
    assert r.json()["counts"]["changed"] == 0
    row = await asset_row(a["id"])
    assert row["mdm_os_version"] == "13"
    assert (await mdm_device(newer["id"]))["os_version"] == "13"  # type: ignore[index]


async def test_bad_records_are_rejected_and_listed_the_rest_applied(
    client_for: ClientFactory,
) -> None:
    mdm = await client_for("mdm")
    good = await factories.asset()
    dup_id = unique("dup-").lower()
    records = [
        graph_record(serial=good["serial_number"]),
        graph_record(serial=None, imei=None),  # 1: nothing to match on
        graph_record(serial=unique("S"), lastSyncDateTime="yesterday"),  # 2
        graph_record(serial=unique("S"), compliance="greenish"),  # 3
        graph_record(serial=unique("S"), device_id=dup_id),  # 4
        graph_record(serial=unique("S"), device_id=dup_id),  # 5
        graph_record(serial=unique("S"), imei="352099001761482"),  # 6: bad check digit
        graph_record(serial=unique("S"), id=""),  # 7: no id
    ]
    run_id = unique("run-")
    r = await push(mdm, run_id, 1, records)
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["counts"]["received"] == 8
    assert run["counts"]["rejected"] == 7
    assert run["counts"]["matched"] == 1 and run["counts"]["changed"] == 1
    by_index = {(i["index"], i["field"]): i for i in run["issues"]}
    assert by_index[(1, None)]["message"] == (
        "a record needs a serial number or an IMEI to be matched"
    )
    assert (2, "lastSyncDateTime") in by_index
    assert "must be one of" in by_index[(3, "complianceState")]["message"]
    assert by_index[(4, "id")]["mdm_device_id"] == dup_id
    assert (5, "id") in by_index
    assert "check digit" in by_index[(6, "imei")]["message"]
    assert by_index[(7, "id")]["message"] == "the MDM device id is required"
    assert all(i["batch"] == 1 for i in run["issues"])
    assert await mdm_device(dup_id) is None
    assert (await asset_row(good["id"]))["mdm_device_id"] == records[0]["id"]

    # The same report is there afterwards; re-sending the batch does not double the issues.
    await push(mdm, run_id, 1, records)
    report = (await mdm.get(f"/api/v1/mdm/runs/{run_id}")).json()
    assert report["counts"]["rejected"] == 7 and len(report["issues"]) == 7


async def test_a_repeated_id_applies_no_copy_when_one_copy_is_bad(
    client_for: ClientFactory,
) -> None:
    mdm = await client_for("mdm")
    asset = await factories.asset()
    dup_id = unique("dup-").lower()
    records = [
        graph_record(serial=asset["serial_number"], device_id=dup_id, lastSyncDateTime="soon"),
        graph_record(serial=asset["serial_number"], device_id=dup_id),
    ]
    r = await push(mdm, unique("run-"), 1, records)
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["counts"]["rejected"] == 2 and run["counts"]["matched"] == 0
    assert {(i["index"], i["field"]) for i in run["issues"]} == {
        (0, "lastSyncDateTime"),
        (1, "id"),
    }
    assert await mdm_device(dup_id) is None
    assert (await asset_row(asset["id"]))["mdm_device_id"] is None
    assert await events_of(asset["id"]) == []


async def test_ownership_is_stored_in_one_vocabulary(client_for: ClientFactory) -> None:
    # The Graph API says "company" where the console export says "Corporate".
    mdm = await client_for("mdm")
    records = [
        graph_record(serial=unique("S"), managedDeviceOwnerType=owner)
        for owner in ("company", "Personal", "unknown", "shared")
    ]
    assert (await push(mdm, unique("run-"), 1, records)).status_code == 200
    stored = [(await mdm_device(r["id"]) or {}).get("owner_type") for r in records]
    assert stored == ["corporate", "personal", "unknown", "shared"]


async def test_record_id_with_a_nul_is_rejected_and_listed(client_for: ClientFactory) -> None:
    mdm = await client_for("mdm")
    # Once a 422 for the whole batch: the rejection itself could not be stored.
    records = [graph_record(serial=unique("S"), device_id="dev\x00ice")]
    r = await push(mdm, unique("run-"), 1, records)
    assert r.status_code == 200, r.text
    (issue,) = r.json()["issues"]
    assert issue["field"] == "id" and "U+0000" in issue["message"]
    assert issue["mdm_device_id"] == "dev\ufffdice"


async def test_batch_over_the_limit_is_413_and_applies_nothing(
    client_for: ClientFactory,
) -> None:
    mdm = await client_for("mdm")
    run_id = unique("run-")
    records = [{"id": f"d{i}", "serialNumber": f"S{i}"} for i in range(5001)]
    r = await push(mdm, run_id, 1, records)
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "5,000" in r.json()["detail"]
    assert (await mdm.get(f"/api/v1/mdm/runs/{run_id}")).status_code == 404


async def test_final_closes_the_run_and_a_closed_run_is_409(client_for: ClientFactory) -> None:
    mdm = await client_for("mdm")
    a = await factories.asset()
    run_id = unique("run-")
    assert (await push(mdm, run_id, 1, [graph_record(serial=a["serial_number"])])).is_success
    r = await push(mdm, run_id, None, [], final=True)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["closed_at"] is not None

    r = await push(mdm, run_id, 2, [graph_record(serial=a["serial_number"])])
    assert r.status_code == 409
    assert "closed" in r.json()["detail"]
    r = await push(mdm, run_id, None, [], final=True)
    assert r.status_code == 409

    # By id as well as by run_id.
    run = (await mdm.get(f"/api/v1/mdm/runs/{run_id}")).json()
    assert (await mdm.get(f"/api/v1/mdm/runs/{run['id']}")).json()["run_id"] == run_id


async def test_closing_needs_a_run_with_records(client_for: ClientFactory) -> None:
    mdm = await client_for("mdm")
    r = await push(mdm, unique("run-"), None, [], final=True)
    assert r.status_code == 404
    run_id = unique("run-")
    bad_only = [graph_record(serial=None, imei=None)]
    assert (await push(mdm, run_id, 1, bad_only)).json()["counts"]["rejected"] == 1
    # A run whose records were all rejected still received them, so it can close.
    assert (await push(mdm, run_id, None, [], final=True)).json()["status"] == "closed"


async def test_batch_with_final_applies_and_closes_in_one_call(
    client_for: ClientFactory,
) -> None:
    mdm = await client_for("mdm")
    a = await factories.asset()
    r = await push(mdm, unique("run-"), 1, [graph_record(serial=a["serial_number"])], final=True)
    assert r.json()["status"] == "closed" and r.json()["counts"]["matched"] == 1


async def test_a_failing_batch_applies_nothing(
    client_for: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleetsvc.mdm import apply

    mdm = await client_for("mdm")
    a = await factories.asset()
    run_id = unique("run-")
    record = graph_record(serial=a["serial_number"])

    async def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("the database went away half way through the batch")

    monkeypatch.setattr(apply, "record_events", broken)
    r = await push(mdm, run_id, 1, [record])
    assert r.status_code == 500
    assert "Traceback" not in r.text
    monkeypatch.undo()

    # The asset update that ran before the failure was rolled back with the rest.
    row = await asset_row(a["id"])
    assert row["mdm_device_id"] is None
    assert await mdm_device(record["id"]) is None
    assert (await mdm.get(f"/api/v1/mdm/runs/{run_id}")).status_code == 404
    assert await events_of(a["id"]) == []


async def test_device_id_moves_to_the_asset_it_now_matches(client_for: ClientFactory) -> None:
    mdm = await client_for("mdm")
    first = await factories.asset()
    second = await factories.asset()
    device_id = unique("mdm-").lower()
    await push(
        mdm,
        unique("run-"),
        1,
        [graph_record(serial=first["serial_number"], device_id=device_id)],
        final=True,
    )
    # The MDM record now reports the other handset's serial (a mis-keyed enrolment fixed).
    moved = graph_record(serial=second["serial_number"], device_id=device_id)
    r = await push(mdm, unique("run-"), 1, [moved], final=True)
    assert r.status_code == 200, r.text
    assert (await asset_row(first["id"]))["mdm_device_id"] is None
    assert (await asset_row(second["id"]))["mdm_device_id"] == device_id
    assert (await events_of(first["id"]))[-1]["after"] == {"mdm_device_id": None}


async def test_a_device_whose_record_no_longer_matches_its_asset_lets_it_go(
    client_for: ClientFactory,
) -> None:
    """The asset's MDM device is the record whose latest word matches it: a record that
    now matches no asset (its serial re-keyed in the MDM) is not the asset's any more, and
    the asset's history says so."""
    mdm = await client_for("mdm")
    asset = await factories.asset()
    device_id = unique("mdm-").lower()
    record = graph_record(serial=asset["serial_number"], device_id=device_id)
    await push(mdm, unique("run-"), 1, [record], final=True)
    assert (await asset_row(asset["id"]))["mdm_device_id"] == device_id

    stray = graph_record(serial=unique("STRAY"), device_id=device_id)
    r = await push(mdm, unique("run-"), 1, [stray], final=True)
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["unknown"] == 1 and r.json()["counts"]["changed"] == 1
    assert (await asset_row(asset["id"]))["mdm_device_id"] is None
    assert (await mdm.get(f"/api/v1/assets/{asset['id']}")).json()["mdm"] is None
    last = (await events_of(asset["id"]))[-1]
    assert (last["before"], last["after"]) == (
        {"mdm_device_id": device_id},
        {"mdm_device_id": None},
    )


async def test_a_first_sync_sets_the_facts_without_rewriting_the_asset(
    client_for: ClientFactory,
) -> None:
    """The MDM's facts are its record's: a first sync (every asset of the fleet at once)
    writes them there and in the asset's history, never the asset's row and its indexes."""
    mdm = await client_for("mdm")
    asset = await factories.asset()
    async with connection() as conn:
        xmin = await conn.fetchval("SELECT xmin::text FROM asset WHERE id = $1", asset["id"])
    record = graph_record(serial=asset["serial_number"], upn="officer.b@force.example")
    r = await push(mdm, unique("run-"), 1, [record], final=True)
    assert r.status_code == 200 and r.json()["counts"]["changed"] == 1, r.text
    async with connection() as conn:
        assert (
            await conn.fetchval("SELECT xmin::text FROM asset WHERE id = $1", asset["id"]) == xmin
        )
    shown = (await mdm.get(f"/api/v1/assets/{asset['id']}")).json()["mdm"]
    assert (shown["device_id"], shown["user_upn"]) == (record["id"], "officer.b@force.example")
    assert (await events_of(asset["id"]))[-1]["after"]["mdm_device_id"] == record["id"]


async def test_bad_requests_are_clear_problems(client_for: ClientFactory) -> None:
    mdm = await client_for("mdm")
    r = await push(mdm, "bad run id!", 1, [graph_record(serial=unique("S"))])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "run_id"
    r = await push(mdm, unique("run-"), None, [graph_record(serial=unique("S"))])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "batch"
    r = await push(mdm, unique("run-"), 0, [graph_record(serial=unique("S"))])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "batch"
    r = await mdm.post("/api/v1/mdm/sync", json={"run_id": unique(), "batch": 1, "records": {}})
    assert r.status_code in (400, 422)
    r = await mdm.post("/api/v1/mdm/sync", json={"run_id": unique(), "batch": 1, "colour": 1})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "colour"
    r = await mdm.post(
        "/api/v1/mdm/sync", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    r = await mdm.get("/api/v1/mdm/runs/no-such-run")
    assert r.status_code == 404
    # Not ASCII digits, though str.isdigit() says so: once a 500, now simply not found.
    for key in ("\u00b2", "\u0661\u0662"):
        r = await mdm.get(f"/api/v1/mdm/runs/{key}")
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_roles(client_for: ClientFactory, anon: httpx.AsyncClient) -> None:
    for role, can_push in [
        ("admin", True),
        ("mdm", True),
        ("engineer", False),
        ("stores", False),
        ("finance", False),
        ("auditor", False),
    ]:
        c = await client_for(role)
        r = await push(c, unique("run-"), 1, [graph_record(serial=unique("S"))])
        assert r.status_code == (200 if can_push else 403), role
        assert (await c.get("/api/v1/mdm/discrepancies?limit=1")).status_code == 200, role
        assert (await c.get("/api/v1/mdm/runs?limit=1")).status_code == 200, role
    assert (await anon.post("/api/v1/mdm/sync", json={})).status_code == 401
    assert (await anon.get("/api/v1/mdm/discrepancies")).status_code == 401


async def test_a_check_in_alone_is_recorded_without_rewriting_the_asset(
    client_for: ClientFactory,
) -> None:
    """Every sync moves nearly every device's last check-in: it is the MDM record's, shown
    with the asset, and neither rewrites the asset's row nor adds to its history."""
    mdm = await client_for("mdm")
    asset = await factories.asset()
    record = graph_record(serial=asset["serial_number"], last_sync=NOW - dt.timedelta(hours=5))
    assert (await push(mdm, unique("run-"), 1, [record])).status_code == 200
    async with connection() as conn:
        xmin = await conn.fetchval("SELECT xmin::text FROM asset WHERE id = $1", asset["id"])
    events = await events_of(asset["id"])

    later = {**record, "lastSyncDateTime": iso(NOW - dt.timedelta(hours=1))}
    r = await push(mdm, unique("run-"), 1, [later])
    assert r.status_code == 200 and r.json()["counts"]["changed"] == 0, r.text
    async with connection() as conn:
        assert (
            await conn.fetchval("SELECT xmin::text FROM asset WHERE id = $1", asset["id"]) == xmin
        )
    assert await events_of(asset["id"]) == events
    shown = (await mdm.get(f"/api/v1/assets/{asset['id']}")).json()["mdm"]
    assert shown["last_seen_at"] == later["lastSyncDateTime"]


async def test_a_resent_batch_replaces_its_rejected_records(client_for: ClientFactory) -> None:
    mdm = await client_for("mdm")
    a = await factories.asset()
    run_id = unique("run-")
    bad = graph_record(serial=a["serial_number"], complianceState="green")
    other = graph_record(imei="352099001761481", lastSyncDateTime="not a date")
    first = await push(mdm, run_id, 1, [bad])
    await push(mdm, run_id, 2, [other])
    again = await push(mdm, run_id, 1, [bad])
    assert [(i["batch"], i["field"]) for i in again.json()["issues"]] == [
        (1, "complianceState"),
        (2, "lastSyncDateTime"),
    ]
    assert again.json()["counts"]["rejected"] == first.json()["counts"]["rejected"] + 1 == 2
    fixed = await push(mdm, run_id, 1, [{**bad, "complianceState": "compliant"}])
    assert [(i["batch"], i["field"]) for i in fixed.json()["issues"]] == [(2, "lastSyncDateTime")]
    assert fixed.json()["counts"]["rejected"] == 1 and fixed.json()["counts"]["matched"] == 1
