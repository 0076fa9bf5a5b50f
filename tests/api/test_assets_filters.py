"""Asset lookups and list filters: each answered through an index, bad values refused."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import pytest

from fleetsvc.assets.filters import AssetFilter, asset_filters
from fleetsvc.records import Filters
from tests import factories
from tests.conftest import ClientFactory, unique


@pytest.fixture
async def fleet() -> dict[str, dict[str, Any]]:
    """A small fleet of our own: handsets with people and SIMs, and a tablet in a vehicle."""
    bu = await factories.business_unit()
    model = await factories.device_model()
    tablet_model = await factories.device_model("ivma_tablet", manufacturer="Getac")
    con = await factories.contract()
    person = await factories.person(business_unit_id=bu["id"])
    phone = await factories.asset(
        model=model,
        status="deployed",
        person_id=person["id"],
        contract_id=con["id"],
        asset_tag=unique("T"),
        refresh_due_on=dt.date(2024, 3, 1),
    )
    store = await factories.location()
    spare = await factories.asset(
        model=model, refresh_due_on=dt.date(2026, 3, 1), location_id=store["id"]
    )
    sim = await factories.sim(asset_id=phone["id"])
    vehicle = await factories.vehicle(business_unit_id=bu["id"])
    tablet = await factories.asset(model=tablet_model, status="deployed")
    await factories.insert(
        "install",
        job_reference=unique("JOB"),
        vehicle_id=vehicle["id"],
        tablet_id=tablet["id"],
        installed_on=dt.date(2022, 1, 5),
    )
    return {
        "bu": bu,
        "model": model,
        "tablet_model": tablet_model,
        "contract": con,
        "person": person,
        "phone": phone,
        "spare": spare,
        "store": store,
        "sim": sim,
        "vehicle": vehicle,
        "tablet": tablet,
    }


async def test_every_filter_finds_our_assets(
    client_for: ClientFactory, fleet: dict[str, Any]
) -> None:
    eng = await client_for("finance")
    phone, spare, tablet = fleet["phone"]["id"], fleet["spare"]["id"], fleet["tablet"]["id"]
    person, vehicle = fleet["person"], fleet["vehicle"]
    imei = fleet["phone"]["imei"]
    spaced_msisdn = "0" + fleet["sim"]["msisdn"][3:6] + " " + fleet["sim"]["msisdn"][6:]
    cases = {
        f"model_id={fleet['model']['id']}": [phone, spare],
        f"model_id={fleet['model']['id']}&status=deployed": [phone],
        f"model_id={fleet['tablet_model']['id']}&category=ivma_tablet": [tablet],
        f"serial={fleet['phone']['serial_number'].lower()}": [phone],
        f"imei={imei}": [phone],
        f"imei={imei[:14]}": [phone],  # a lookup may leave off the check digit
        f"msisdn={spaced_msisdn}": [phone],
        f"asset_tag={fleet['phone']['asset_tag']}": [phone],
        f"person_id={person['id']}": [phone],
        f"employee_number={person['employee_number']}": [phone],
        f"upn={person['upn'].upper()}": [phone],
        f"vehicle_id={vehicle['id']}": [tablet],
        f"vrm={vehicle['vrm'].lower()}": [tablet],
        f"fleet_number={vehicle['fleet_number']}": [tablet],
        f"contract_id={fleet['contract']['id']}": [phone],
        f"business_unit={fleet['bu']['code'].lower()}": [phone, tablet],
        f"location={fleet['store']['code'].lower()}": [spare],
        f"model_id={fleet['model']['id']}&refresh_due_before=2025-01-01": [phone],
        f"q={fleet['phone']['serial_number']}": [phone],
        f"q={imei}": [phone],
        f"q={fleet['sim']['msisdn']}": [phone],
        f"q={fleet['phone']['asset_tag']}": [phone],
        f"q={vehicle['vrm']}": [tablet],
        f"q={vehicle['fleet_number']}": [tablet],
        f"q={person['employee_number']}": [phone],
        f"q={person['upn']}": [phone],
        # Employee and fleet numbers are stored upper-cased; a lookup may be typed in any case.
        f"employee_number={person['employee_number'].lower()}": [phone],
        f"fleet_number={vehicle['fleet_number'].lower()}": [tablet],
        f"q={person['employee_number'].lower()}": [phone],
        f"q={vehicle['fleet_number'].lower()}": [tablet],
    }
    for query, expected in cases.items():
        r = await eng.get("/api/v1/assets", params=dict(p.split("=", 1) for p in query.split("&")))
        assert r.status_code == 200, (query, r.text)
        assert [a["id"] for a in r.json()["items"]] == expected, query
    tablet_row = (await eng.get(f"/api/v1/assets?vehicle_id={vehicle['id']}")).json()["items"][0]
    assert tablet_row["holder"]["kind"] == "vehicle"
    assert tablet_row["holder"]["vrm"] == vehicle["vrm"]


async def test_list_pages_with_a_cursor(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    model = await factories.device_model()
    ids = [(await factories.asset(model=model))["id"] for _ in range(5)]
    seen: list[int] = []
    cursor = None
    while True:
        params = {"model_id": model["id"], "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await eng.get("/api/v1/assets", params=params)).json()
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


@pytest.mark.parametrize(
    "query,field",
    [
        ("status=flying", "status"),
        ("category=car", "category"),
        ("imei=12345", "imei"),
        ("msisdn=hello", "msisdn"),
        ("vrm=!!", "vrm"),
        ("serial=a%20b", "serial"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("cursor=tampered", "cursor"),
        ("cursor=azE6OTk5OTk5OTk5OTk", "cursor"),  # k1:99999999999, beyond any asset id
    ],
)
async def test_unknown_filter_values_are_422_naming_the_field(
    client_for: ClientFactory, query: str, field: str
) -> None:
    eng = await client_for("engineer")
    r = await eng.get(f"/api/v1/assets?{query}")
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field


async def test_accepted_values_are_named(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    r = await eng.get("/api/v1/assets?status=flying")
    assert "in_stock" in r.json()["errors"][0]["message"]
    r = await eng.get("/api/v1/assets?category=car")
    assert "ivma_tablet" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "query",
    [
        "refresh_due_before=31/12/2025",
        "refresh_due_before=2025-02-30",
        "model_id=abc",
        "model_id=0",
        "model_id=99999999999",
        "person_id=-1",
        "vehicle_id=1.5",
    ],
)
async def test_wrong_types_are_4xx_problems(client_for: ClientFactory, query: str) -> None:
    eng = await client_for("engineer")
    r = await eng.get(f"/api/v1/assets?{query}")
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


FILTERS = [
    AssetFilter(status="deployed"),
    AssetFilter(model_id=1),
    AssetFilter(serial="R58N123"),
    AssetFilter(imei="352099001761481"),
    AssetFilter(msisdn="07700900123"),
    AssetFilter(asset_tag="FP-1"),
    AssetFilter(person_id=1),
    AssetFilter(employee_number="E1"),
    AssetFilter(upn="a@b.example"),
    AssetFilter(vehicle_id=1),
    AssetFilter(vrm="BX21AAA"),
    AssetFilter(fleet_number="F1"),
    AssetFilter(contract_id=1),
    AssetFilter(business_unit="NW"),
    AssetFilter(location="STORES"),
    AssetFilter(refresh_due_before=dt.date(2025, 1, 1)),
    AssetFilter(q="352099001761481"),
    AssetFilter(q="BX21 AAA"),
    AssetFilter(q="someone@force.example"),
]


async def _plan(database_url: str, f: Filters) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")
            # The filter's own access paths (the holder joins are primary-key lookups).
            rows = await conn.fetch(f"EXPLAIN SELECT a.* FROM asset a{f.where()}", *f.args)
    finally:
        await conn.close()
    return "\n".join(r[0] for r in rows)


WATCHED = ("asset", "person", "sim", "vehicle", "install")
# Tables that grow with the force (tens of thousands of rows): walking a whole index of
# one of these in order is as bad as a Seq Scan. ``install`` holds at most one open row
# per vehicle: PostgreSQL 15 may walk its small open-installs index with a filter where 16
# and later use the vehicle index, and either is fine; a Seq Scan of it is not.
LARGE = ("asset", "person", "sim", "vehicle")


def full_scans(plan: str) -> list[str]:
    """Plan nodes that read a whole watched table: a Seq Scan of any, or an index scan
    with no Index Cond of a large one."""
    nodes: list[list[str]] = []
    for line in plan.splitlines():
        if "->" in line or not nodes:
            nodes.append([line])
        else:
            nodes[-1].append(line)
    bad = []
    for node in nodes:
        head = node[0]
        if not any(f" on {t} " in head for t in WATCHED) or "Bitmap Heap Scan" in head:
            continue
        if "Seq Scan" in head or (
            any(f" on {t} " in head for t in LARGE)
            and not any("Index Cond" in line for line in node[1:])
        ):
            bad.append(head.strip())
    return bad


@pytest.mark.parametrize("flt", FILTERS, ids=lambda f: repr(f).split("(")[1][:40])
async def test_filters_are_index_backed(database_url: str, flt: AssetFilter) -> None:
    """With sequential scans priced out, no filter falls back to reading a whole table."""
    plan = await _plan(database_url, asset_filters(flt))
    assert full_scans(plan) == [], plan


async def test_the_plan_check_sees_a_full_scan(database_url: str) -> None:
    f = Filters()
    f.add("a.notes = {}", "no index on notes")
    plan = await _plan(database_url, f)
    assert full_scans(plan) != [], plan
