"""The asset document PostgreSQL builds for reads is the ``Asset`` Struct, to the byte.

GET /assets/{id} and the list pages send JSON that PostgreSQL built
(``fleetsvc.assets.document.DOCUMENT_SELECT``); writes answer with the ``Asset``
Struct. These tests hold the two together: same fields, same order, same
nulls, money as two-place strings, dates ISO, instants in UTC with ``Z``. The
Struct they compare with is read here from the tables themselves, not through
the document's SQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import msgspec

from db.engine import connection, transaction
from fleetsvc.assets.document import (
    DOCUMENT_SELECT,
    Asset,
    AssetModel,
    AssetSim,
    Holder,
    MdmFacts,
)
from fleetsvc.assets.filters import AssetFilter
from fleetsvc.assets.lookup import list_assets
from fleetsvc.pagination import PageRequest
from tests import factories
from tests.conftest import ClientFactory, unique

UTC = dt.UTC


async def _person_held_phone() -> dict[str, Any]:
    """A handset with every field filled: holder, SIM, MDM facts, money, dates, odd text."""
    person = await factories.person(business_unit_id=(await factories.business_unit())["id"])
    con = await factories.contract()
    phone = await factories.asset(
        status="deployed",
        person_id=person["id"],
        contract_id=con["id"],
        asset_tag=unique("FP-"),
        supplier_order_ref=unique("SO-"),
        delivery_ref=unique("DN-"),
        unit_cost=Decimal("289"),
        replacement_cost_override=Decimal("1234567.5"),
        in_service_on=dt.date(2022, 12, 1),
        refresh_due_on=dt.date(2025, 12, 1),
        refresh_due_override=dt.date(2026, 3, 31),
        mdm_device_id=unique("mdm-"),
        mdm_last_seen_at=dt.datetime(2024, 5, 1, 10, 0, tzinfo=UTC),  # no fraction
        mdm_compliance="compliant",
        mdm_os_version="14",
        mdm_user_upn=f"{unique('u')}@force.example",
        disposal_certificate_ref=None,
        notes='Boxed "as new"\n\tback\\slash, café, \u2028 and \x01',
    )
    await factories.sim(asset_id=phone["id"])
    return phone


async def _tablet_in_vehicle() -> dict[str, Any]:
    """A tablet held through a vehicle install, with an instant that has a fraction."""
    model = await factories.device_model("ivma_tablet", manufacturer="Getac")
    tablet = await factories.asset(
        model=model,
        status="deployed",
        mdm_device_id=unique("mdm-"),
        mdm_last_seen_at=dt.datetime(2024, 5, 1, 10, 0, 0, 120, tzinfo=UTC),
    )
    vehicle = await factories.vehicle()
    await factories.insert(
        "install",
        job_reference=unique("JOB"),
        vehicle_id=vehicle["id"],
        tablet_id=tablet["id"],
        installed_on=dt.date(2022, 1, 5),
    )
    return tablet


async def _holder(conn: asyncpg.Connection, asset: asyncpg.Record) -> Holder | None:
    if asset["person_id"] is not None:
        p = await conn.fetchrow("SELECT * FROM person WHERE id = $1", asset["person_id"])
        assert p is not None
        return Holder(
            kind="person",
            person_id=p["id"],
            display_name=p["display_name"],
            employee_number=p["employee_number"],
        )
    install = await conn.fetchrow(
        "SELECT * FROM install WHERE removed_on IS NULL AND $1 IN (tablet_id, dock_id)",
        asset["id"],
    )
    if install is None:
        return None
    v = await conn.fetchrow("SELECT * FROM vehicle WHERE id = $1", install["vehicle_id"])
    assert v is not None
    return Holder(
        kind="vehicle",
        vehicle_id=v["id"],
        vrm=v["vrm"],
        fleet_number=v["fleet_number"],
        install_id=install["id"],
    )


async def _mdm(conn: asyncpg.Connection, asset: asyncpg.Record) -> MdmFacts | None:
    # The asset's MDM device is its primary MDM record.
    d = await conn.fetchrow(
        "SELECT * FROM mdm_device WHERE asset_id = $1 AND is_primary", asset["id"]
    )
    if d is None:
        return None
    return MdmFacts(
        device_id=d["mdm_device_id"],
        last_seen_at=d["last_sync_at"],
        compliance=d["compliance"],
        os_version=d["os_version"],
        user_upn=d["user_upn"],
    )


async def _from_the_tables(conn: asyncpg.Connection, asset_id: int) -> Asset:
    """The asset as the Struct shows it, read from the tables: each field that is not a
    nested object is the asset's column of the same name (money as a two-place string)."""
    a = await conn.fetchrow("SELECT * FROM asset WHERE id = $1", asset_id)
    assert a is not None
    m = await conn.fetchrow("SELECT * FROM device_model WHERE id = $1", a["model_id"])
    assert m is not None
    s = await conn.fetchrow("SELECT * FROM sim WHERE asset_id = $1", asset_id)
    nested: dict[str, Any] = {
        "model": AssetModel(
            id=m["id"],
            manufacturer=m["manufacturer"],
            model_name=m["model_name"],
            category=m["category"],
        ),
        "sim": None if s is None else AssetSim(id=s["id"], iccid=s["iccid"], msisdn=s["msisdn"]),
        "holder": await _holder(conn, a),
        "mdm": await _mdm(conn, a),
        "location": await conn.fetchval(
            "SELECT code FROM location WHERE id = $1", a["location_id"]
        ),
    }

    def column(name: str) -> Any:
        value = a[name]
        return f"{value:.2f}" if isinstance(value, Decimal) else value

    return Asset(
        **{
            name: nested[name] if name in nested else column(name)
            for name in Asset.__struct_fields__
        }
    )


async def _struct_and_document(asset_id: int) -> tuple[bytes, bytes]:
    async with connection() as conn:
        struct = await _from_the_tables(conn, asset_id)
        document = await conn.fetchval(
            f"SELECT doc FROM ({DOCUMENT_SELECT} WHERE a.id = $1) d", asset_id
        )
    assert document is not None
    return msgspec.json.encode(struct), document.encode()


async def test_the_sql_document_is_the_struct_byte_for_byte(app: object) -> None:
    """Every field, nested object, null, escape and format, for both kinds of holder and
    for an asset with nothing optional set."""
    bare = await factories.asset(imei=None)
    for asset in (await _person_held_phone(), await _tablet_in_vehicle(), bare):
        struct, document = await _struct_and_document(asset["id"])
        assert document == struct
        # And it decodes as the documented schema.
        msgspec.json.decode(document, type=Asset, strict=True)


async def _reads(eng: httpx.AsyncClient, asset: dict[str, Any]) -> list[dict[str, Any]]:
    """The asset as every read path shows it: the single GET, and a list page item."""
    one = await eng.get(f"/api/v1/assets/{asset['id']}")
    assert one.status_code == 200, one.text
    assert one.headers["content-type"] == "application/json"
    assert one.headers["etag"] == f'"{asset["version"]}"'
    page = await eng.get("/api/v1/assets", params={"serial": asset["serial_number"]})
    assert page.status_code == 200, page.text
    [item] = [i for i in page.json()["items"] if i["id"] == asset["id"]]
    return [one.json(), item]


async def test_single_get_list_item_and_write_answer_agree(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    phone = await _person_held_phone()
    single, item = await _reads(eng, phone)
    assert item == single
    # A write answers with the Struct: a no-op PATCH shows the same document.
    same = {"contract_id": phone["contract_id"]}
    patched = await eng.patch(f"/api/v1/assets/{phone['id']}", json=same)
    assert patched.status_code == 200, patched.text
    assert patched.json() == single
    held = await eng.get(f"/api/v1/people/{phone['person_id']}/assets")
    assert held.json()["items"] == [single]

    # The formats a client relies on.
    assert single["unit_cost"] == "289.00"
    assert single["replacement_cost_override"] == "1234567.50"
    assert single["delivered_on"] == "2022-11-14"
    assert single["refresh_due_override"] == "2026-03-31"
    assert single["mdm"]["last_seen_at"] == "2024-05-01T10:00:00Z"
    assert single["created_at"].endswith("Z")
    assert dt.datetime.fromisoformat(single["created_at"]) == phone["created_at"]
    assert single["notes"] == phone["notes"]
    assert single["holder"]["kind"] == "person" and single["holder"]["vrm"] is None
    assert single["sim"]["id"] > 0


async def test_vehicle_holder_reads_agree(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    tablet = await _tablet_in_vehicle()
    single, item = await _reads(eng, tablet)
    assert item == single
    assert single["holder"]["kind"] == "vehicle" and single["holder"]["person_id"] is None
    assert single["mdm"]["last_seen_at"] == "2024-05-01T10:00:00.000120Z"
    assert single["sim"] is None and single["unit_cost"] is None
    patched = await eng.patch(f"/api/v1/assets/{tablet['id']}", json={"notes": ""})
    assert patched.json() == single


async def test_list_pages_are_well_formed_json(client_for: ClientFactory) -> None:
    """The page wrapper around pre-built items: empty pages, cursors, and limit 1."""
    eng = await client_for("engineer")
    model = await factories.device_model()
    ids = [(await factories.asset(model=model))["id"] for _ in range(3)]
    unused = await factories.device_model()
    for params in ({"serial": unique("none")}, {"model_id": unused["id"]}):
        empty = await eng.get("/api/v1/assets", params=params)
        assert empty.status_code == 200 and empty.json() == {"items": [], "next_cursor": None}
    first = await eng.get("/api/v1/assets", params={"model_id": model["id"], "limit": 1})
    body = first.json()
    assert [a["id"] for a in body["items"]] == ids[:1] and isinstance(body["next_cursor"], str)
    rest = await eng.get(
        "/api/v1/assets", params={"model_id": model["id"], "cursor": body["next_cursor"]}
    )
    assert [a["id"] for a in rest.json()["items"]] == ids[1:]
    assert rest.json()["next_cursor"] is None
    assert rest.headers["content-type"] == "application/json"


class _RollBack(Exception):
    pass


async def test_a_page_read_inside_a_callers_transaction(client_for: ClientFactory) -> None:
    """A service that already holds a transaction can list assets in it and sees its own
    uncommitted change, whichever way the page is read (by a broad filter or a lookup)."""
    eng = await client_for("engineer")
    model = await factories.device_model()
    asset = await factories.asset(model=model)
    expected = (await eng.get(f"/api/v1/assets/{asset['id']}")).json()
    with contextlib.suppress(_RollBack):
        async with transaction() as conn:
            await conn.execute("UPDATE asset SET notes = 'in flight' WHERE id = $1", asset["id"])
            for flt in (
                AssetFilter(model_id=model["id"]),
                AssetFilter(serial=asset["serial_number"]),
            ):
                page = await list_assets(conn, flt, PageRequest())
                assert [msgspec.json.decode(d) for d in page.items] == [
                    {**expected, "notes": "in flight"}
                ]
            raise _RollBack
    assert (await eng.get(f"/api/v1/assets/{asset['id']}")).json() == expected


async def test_unknown_asset_is_still_a_problem(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    r = await eng.get("/api/v1/assets/2147483000")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_openapi_still_describes_the_asset_schema(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    doc = (await eng.get("/schema/openapi.json")).json()
    paths = doc["paths"]

    def ok_schema(path: str) -> Any:
        return paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]

    assert ok_schema("/api/v1/assets/{asset_id}") == {"$ref": "#/components/schemas/Asset"}
    for path in ("/api/v1/assets", "/api/v1/people/{person_id}/assets"):
        ref = ok_schema(path)["$ref"].rsplit("/", 1)[1]
        page = doc["components"]["schemas"][ref]
        assert page["properties"]["items"]["items"] == {"$ref": "#/components/schemas/Asset"}
    assert set(doc["components"]["schemas"]["Asset"]["properties"]) == set(Asset.__struct_fields__)
