"""Delivery imports over HTTP: preview, commit, idempotency, conflicts, rejected rows,
the quirks that reach the service, bad input and roles.

Helpers here (orders, rows, files, upload) are shared by the other import tests.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from db.engine import connection
from fleetsvc.sims import ALL_FITTINGS
from tests import factories
from tests.conftest import ClientFactory, unique

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

VF_HEADER = [
    "Despatch Date",
    "Vodafone Order No",
    "Customer PO",
    "Delivery Note",
    "Product Code",
    "Product Description",
    "IMEI",
    "Serial Number",
    "SIM ICCID",
    "MSISDN",
    "Quantity",
]
CDW_HEADER = [
    "CDW Order #",
    "Customer PO #",
    "Ship Date",
    "Manufacturer",
    "Mfr Part #",
    "CDW Part #",
    "Description",
    "Serial #",
    "Qty Shipped",
    "Unit Price (GBP)",
    "Licence Key",
]


# --- set-up -----------------------------------------------------------------------------------


async def order(
    quantity: int = 10,
    category: str = "smartphone",
    contract_kind: str = "handset_supply",
    **model_kw: Any,
) -> dict[str, Any]:
    """A model with a unique part number, a contract and a PO with a line for the model."""
    model = await factories.device_model(category=category, **model_kw)
    part = unique("PN-")
    await factories.insert("model_part_number", model_id=model["id"], part_number=part)
    contract = await factories.contract(contract_kind)
    if contract_kind == "handset_supply":
        # The handsets' SIMs go on an airtime contract active on the despatch date (2021-27).
        await factories.contract("airtime")
    po = await factories.insert(
        "purchase_order",
        number=unique("PO")[:12],
        contract_id=contract["id"],
        raised_on=dt.date(2022, 10, 1),
    )
    await factories.insert(
        "purchase_order_line",
        purchase_order_id=po["id"],
        model_id=model["id"],
        quantity=quantity,
        unit_cost=Decimal("289.00"),
    )
    return {"model": model, "part": part, "contract": contract, "po": po}


def handset(o: dict[str, Any], **kw: str) -> dict[str, str]:
    row = {
        "Despatch Date": "14/11/2022",
        "Vodafone Order No": "VF-ORD-1",
        "Customer PO": o["po"]["number"],
        "Delivery Note": "DN1",
        "Product Code": o["part"],
        "Product Description": "Samsung Galaxy A32 4G 128GB Awesome Black",
        "IMEI": factories.new_imei(),
        "Serial Number": unique("R58R"),
        "SIM ICCID": factories.new_iccid(),
        "MSISDN": "0" + factories.new_msisdn()[3:],
        "Quantity": "1",
    }
    row.update(kw)
    return row


def licence_row(o: dict[str, Any], key: str, order_ref: str, seats: str) -> dict[str, str]:
    """A CDW licence line: a key and a seat count, no serial."""
    return {
        "CDW Order #": order_ref,
        "Customer PO #": o["po"]["number"],
        "Ship Date": "22/11/2021",
        "Manufacturer": "Absolute",
        "Mfr Part #": "NM-MOB-STD",
        "Description": "NetMotion Mobility Standard licence",
        "Qty Shipped": seats,
        "Unit Price (GBP)": "£41.00",
        "Licence Key": key,
    }


def csv_bytes(
    rows: list[dict[str, str]],
    header: list[str] | None = None,
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> bytes:
    header = header or VF_HEADER
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(h, "") for h in header])
    return out.getvalue().encode(encoding)


async def upload(
    client: httpx.AsyncClient,
    content: bytes,
    profile: str = "vodafone-despatch",
    *,
    mode: str = "preview",
    allow_partial: bool = False,
    filename: str = "despatch.csv",
) -> httpx.Response:
    return await client.post(
        "/api/v1/imports",
        files={"file": (filename, content, "text/csv")},
        data={"profile": profile, "mode": mode, "allow_partial": str(allow_partial).lower()},
    )


async def issues(client: httpx.AsyncClient, import_id: int, status: str) -> list[dict[str, Any]]:
    r = await client.get(f"/api/v1/imports/{import_id}/rows?status={status}&limit=1000")
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def assets_of(import_id: int) -> list[dict[str, Any]]:
    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT * FROM asset WHERE delivery_import_id = $1 ORDER BY id", import_id
        )
    return [dict(r) for r in rows]


async def count(sql: str, *args: Any) -> int:
    async with connection() as conn:
        value: int = await conn.fetchval(sql, *args)
    return value


async def one(sql: str, *args: Any) -> dict[str, Any]:
    async with connection() as conn:
        row = await conn.fetchrow(sql, *args)
    assert row is not None
    return dict(row)


def rejected_rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")  # so that Excel reads it as UTF-8
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


# --- preview and commit -----------------------------------------------------------------------


async def test_preview_reports_what_would_happen_and_writes_no_asset(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    o = await order(quantity=10)
    rows = [handset(o) for _ in range(3)]
    r = await upload(stores, csv_bytes(rows))
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"/api/v1/imports/{body['id']}"
    assert body["status"] == "previewed"
    assert body["counts"]["new"] == 3 and body["counts"]["sims"] == 3
    assert body["counts"]["rejected"] == 0 and body["counts"]["conflicts"] == 0
    assert body["po_lines"] == [
        {
            "po_number": o["po"]["number"],
            "purchase_order_id": o["po"]["id"],
            "model_id": o["model"]["id"],
            "model": f"Samsung {o['model']['model_name']}",
            "ordered": 10,
            "delivered_before": 0,
            "in_file": 3,
            "new": 3,
            "over_delivered": 0,
        }
    ]
    assert len(body["sha256"]) == 64 and body["created_by"].startswith("t-stores")
    assert (
        await count("SELECT count(*) FROM asset WHERE purchase_order_id = $1", o["po"]["id"]) == 0
    )
    got = (await stores.get(f"/api/v1/imports/{body['id']}")).json()
    assert got["status"] == "previewed" and got["counts"] == body["counts"]


async def test_commit_creates_the_reported_assets_sims_fittings_and_events(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    o = await order()
    airtime = await factories.contract(
        "airtime", starts_on=dt.date(2036, 5, 1), ends_on=dt.date(2039, 4, 30)
    )
    rows = [handset(o, **{"Despatch Date": "02/06/2036"}) for _ in range(4)]
    preview = (await upload(stores, csv_bytes(rows))).json()
    r = await stores.post(f"/api/v1/imports/{preview['id']}/commit")
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "committed" and done["committed_by"].startswith("t-stores")
    assert done["counts"]["new"] == 4

    assets = await assets_of(done["id"])
    assert sorted(a["imei"] for a in assets) == sorted(row["IMEI"] for row in rows)
    a = assets[0]
    assert a["status"] == "in_stock" and a["model_id"] == o["model"]["id"]
    assert a["contract_id"] == o["contract"]["id"] and a["purchase_order_id"] == o["po"]["id"]
    assert a["unit_cost"] == Decimal("289.00") and a["delivered_on"] == dt.date(2036, 6, 2)
    assert a["refresh_due_on"] == dt.date(2039, 6, 2)  # delivered + 36 months
    assert a["supplier_order_ref"] == "VF-ORD-1" and a["delivery_ref"] == "DN1"
    ids = [x["id"] for x in assets]
    async with connection() as conn:
        sims = await conn.fetch("SELECT * FROM sim WHERE asset_id = ANY($1::int[])", ids)
        fittings = await conn.fetch(
            f"SELECT * FROM ({ALL_FITTINGS}) f"
            " WHERE f.asset_id = ANY($1::int[]) AND f.removed_at IS NULL",
            ids,
        )
        events = await conn.fetch(
            "SELECT entity, action, after FROM event_history WHERE (entity = 'asset' AND"
            " entity_id = ANY($1::int[])) OR (entity = 'sim' AND entity_id = ANY($2::int[]))",
            ids,
            [s["id"] for s in sims],
        )
    assert len(sims) == 4 and len(fittings) == 4
    assert {s["contract_id"] for s in sims} == {airtime["id"]}
    assert sorted(s["msisdn"] for s in sims) == sorted("+44" + r["MSISDN"][1:] for r in rows)
    assert (
        sorted((e["entity"], e["action"]) for e in events)
        == [("asset", "created")] * 4 + [("sim", "created")] * 4
    )
    assert all(f'"delivery_import_id": {done["id"]}' in e["after"] for e in events)
    assert (
        await count("SELECT count(*) FROM import_staged_row WHERE import_id = $1", done["id"]) == 0
    )

    # Committing a committed import again changes nothing and does not fail.
    again = await stores.post(f"/api/v1/imports/{done['id']}/commit")
    assert again.status_code == 200 and again.json()["status"] == "committed"
    assert len(await assets_of(done["id"])) == 4


async def test_sims_with_no_airtime_contract_on_their_date_are_reported(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    o = await order()
    rows = [handset(o, **{"Despatch Date": "14/11/1995"}) for _ in range(2)]
    preview = (await upload(stores, csv_bytes(rows))).json()
    message = (
        "2 SIM(s) despatched on 14/11/1995: no airtime contract is active then, so they are "
        "registered without one — add the airtime contract to put them on it"
    )
    assert message in [w["message"] for w in preview["file_warnings"]], preview
    done = (await stores.post(f"/api/v1/imports/{preview['id']}/commit")).json()
    assert done["status"] == "committed" and done["counts"]["sims"] == 2
    assert message in [w["message"] for w in done["file_warnings"]]
    assert message in [w["message"] for w in await issues(stores, done["id"], "warning")]


async def test_same_file_again_is_recognised_and_creates_nothing(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    o = await order()
    content = csv_bytes([handset(o) for _ in range(3)])
    first = (await upload(stores, content, mode="commit")).json()
    assert first["status"] == "committed" and first["counts"]["new"] == 3
    r = await upload(stores, content, mode="commit")
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["status"] == "committed"
    assert second["counts"]["new"] == 0 and second["counts"]["unchanged"] == 3
    assert second["previous_import"]["id"] == first["id"]
    assert second["file_warnings"][0]["message"].startswith(
        f"this file was committed as import {first['id']} on "
    )
    assert await assets_of(second["id"]) == []
    assert (
        await count("SELECT count(*) FROM asset WHERE purchase_order_id = $1", o["po"]["id"]) == 3
    )


async def test_overlapping_corrected_file_creates_only_the_new_rows(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    o = await order()
    rows = [handset(o) for _ in range(4)]
    first = (await upload(stores, csv_bytes(rows[:3]), mode="commit")).json()
    assert first["counts"]["new"] == 3
    second = (await upload(stores, csv_bytes(rows[1:]), mode="commit")).json()
    assert second["status"] == "committed"
    assert (second["counts"]["new"], second["counts"]["unchanged"]) == (1, 2)
    assert [a["imei"] for a in await assets_of(second["id"])] == [rows[3]["IMEI"]]
    line = second["po_lines"][0]
    assert (line["delivered_before"], line["in_file"], line["new"]) == (3, 3, 1)


async def test_conflict_is_shown_and_nothing_is_applied(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    o = await order()
    existing = await factories.asset(o["model"])  # same model, its own IMEI and serial
    clash = handset(o, IMEI=existing["imei"])  # same IMEI, another serial
    ok = handset(o)
    r = await upload(stores, csv_bytes([ok, clash]), mode="commit")
    body = r.json()
    assert body["status"] == "rejected" and body["counts"]["conflicts"] == 1
    assert "nothing was committed" in body["message"]
    assert await assets_of(body["id"]) == []
    errors = await issues(stores, body["id"], "rejected")
    assert len(errors) == 1 and errors[0]["row"] == 3 and errors[0]["column"] == "IMEI"
    assert errors[0]["message"].startswith(f"already registered as asset {existing['id']}")
    assert "serial number" in errors[0]["message"] and "purchase order" in errors[0]["message"]
    unchanged = await one("SELECT * FROM asset WHERE id = $1", existing["id"])
    assert unchanged["serial_number"] == existing["serial_number"]
    assert unchanged["version"] == 1

    # The same import, committed with allow_partial, takes the valid row and keeps the other.
    r = await stores.post(f"/api/v1/imports/{body['id']}/commit", json={"allow_partial": True})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "committed" and r.json()["allow_partial"] is True
    assert [a["imei"] for a in await assets_of(body["id"])] == [ok["IMEI"]]


async def test_corrected_file_with_other_delivery_details_is_a_conflict_not_unchanged(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    o = await order()
    first, second = handset(o), handset(o)
    body = (await upload(stores, csv_bytes([first, second]), mode="commit")).json()
    assert body["status"] == "committed" and body["counts"]["new"] == 2
    # The supplier re-sends the file with the second handset's details changed.
    changed = {
        **second,
        "Despatch Date": "15/11/2022",
        "Delivery Note": "DN2",
        "MSISDN": "0" + factories.new_msisdn()[3:],
    }
    body = (await upload(stores, csv_bytes([first, changed]))).json()
    assert body["counts"]["unchanged"] == 1 and body["counts"]["conflicts"] == 1, body
    (error,) = await issues(stores, body["id"], "rejected")
    assert error["row"] == 3 and error["column"] == "IMEI"
    message = error["message"]
    # Each field that differs, as the file has it and as the register does.
    assert "delivery date (file 15/11/2022, register 14/11/2022)" in message
    assert "delivery reference (file DN2, register DN1)" in message
    assert "SIM number (file +44" in message and ", register +44" in message
    assert "it was not changed" in message
    # The identical file again is still all unchanged.
    body = (await upload(stores, csv_bytes([first, second]), mode="commit")).json()
    assert body["status"] == "committed" and body["counts"]["unchanged"] == 2, body


async def test_licence_line_already_added_with_another_seat_count_is_a_conflict(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    o = await order(category="tablet", contract_kind="reseller_framework")
    key = unique("NMX-")

    def licence(seats: str) -> dict[str, str]:
        return licence_row(o, key, "CDW9", seats)

    body = (
        await upload(stores, csv_bytes([licence("250")], CDW_HEADER), "cdw-asn", mode="commit")
    ).json()
    assert body["status"] == "committed", body
    body = (await upload(stores, csv_bytes([licence("300")], CDW_HEADER), "cdw-asn")).json()
    assert body["counts"]["conflicts"] == 1 and body["counts"]["unchanged"] == 0, body
    (error,) = await issues(stores, body["id"], "rejected")
    assert error["column"] == "Qty Shipped" and error["value"] == "300"
    assert "already had 250 seats added for supplier order CDW9" in error["message"]
    pool = await one("SELECT seats FROM licence_pool WHERE licence_key = $1", key)
    assert pool["seats"] == 250


async def test_allow_partial_keeps_rejected_rows_and_the_csv_round_trips(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    o = await order()
    good = [handset(o) for _ in range(2)]
    imei = factories.new_imei()
    sci = handset(o, IMEI="3.52099E+14")
    # A cell that would be a formula: neutralised in rejected.csv, restored when re-imported.
    unknown = handset(o, **{"Product Code": "NO-SUCH-PART-X1", "Delivery Note": "-DN 7/+1"})
    r = await upload(
        stores, csv_bytes([good[0], sci, good[1], unknown]), allow_partial=True, mode="commit"
    )
    body = r.json()
    assert body["status"] == "committed", body
    assert (body["counts"]["new"], body["counts"]["rejected"]) == (2, 2)
    assert sorted(a["imei"] for a in await assets_of(body["id"])) == sorted(g["IMEI"] for g in good)
    errors = await issues(stores, body["id"], "rejected")
    assert [(e["row"], e["column"]) for e in errors] == [(3, "IMEI"), (5, "Product Code")]
    assert "scientific notation" in errors[0]["message"]
    assert errors[1]["message"] == (
        "no device model has part number NO-SUCH-PART-X1 (Samsung Galaxy A32 4G 128GB Awesome "
        "Black) — add it to the model's part numbers"
    )

    r = await stores.get(f"/api/v1/imports/{body['id']}/rejected.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rejected = rejected_rows(r.text)
    assert [row["IMEI"] for row in rejected] == ["3.52099E+14", unknown["IMEI"]]
    assert "scientific notation" in rejected[0]["error"]
    assert list(rejected[0])[:-1] == VF_HEADER and list(rejected[0])[-1] == "error"
    assert rejected[1]["Delivery Note"] == "'-DN 7/+1"

    # Correct the rows in the downloaded file and import it again: they go in.
    rejected[0]["IMEI"] = imei
    rejected[1]["Product Code"] = o["part"]
    fixed = (await upload(stores, csv_bytes(rejected, [*VF_HEADER, "error"]), mode="commit")).json()
    assert fixed["status"] == "committed" and fixed["counts"]["new"] == 2, fixed
    assert sorted(a["imei"] for a in await assets_of(fixed["id"])) == sorted(
        [imei, unknown["IMEI"]]
    )
    assert any("error" in w["message"] for w in fixed["file_warnings"])  # extra column noted
    refs = {a["imei"]: a["delivery_ref"] for a in await assets_of(fixed["id"])}
    assert refs[unknown["IMEI"]] == "-DN 7/+1"


async def test_duplicate_rows_in_one_file(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    o = await order()
    same = handset(o)
    a = handset(o)
    b = handset(o, IMEI=a["IMEI"])  # same IMEI, different serial
    body = (await upload(stores, csv_bytes([same, a, same, b]))).json()
    assert body["counts"]["new"] == 1 and body["counts"]["duplicates"] == 1
    assert body["counts"]["rejected"] == 2
    warnings = await issues(stores, body["id"], "warning")
    assert {"row": 4, "message": "the same item as row 2: counted once"}.items() <= warnings[
        0
    ].items()
    errors = {e["row"]: e["message"] for e in await issues(stores, body["id"], "rejected")}
    assert errors[3].startswith(f"IMEI {a['IMEI']} is also on row 5 with different details")
    assert errors[5].startswith(f"IMEI {a['IMEI']} is also on row 3 with different details")


async def test_unknown_purchase_order_is_rejected(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    o = await order()
    body = (await upload(stores, csv_bytes([handset(o, **{"Customer PO": "PO-NOPE-1"})]))).json()
    errors = await issues(stores, body["id"], "rejected")
    assert errors[0]["column"] == "Customer PO"
    assert errors[0]["message"].startswith("no purchase order PO-NOPE-1")


async def test_over_delivery_is_reported_per_po_line(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    o = await order(quantity=2)
    body = (await upload(stores, csv_bytes([handset(o) for _ in range(3)]))).json()
    line = body["po_lines"][0]
    assert (line["ordered"], line["in_file"], line["over_delivered"]) == (2, 3, 1)
    assert any("over-delivered by 1" in w["message"] for w in body["file_warnings"])
    assert body["counts"]["new"] == 3  # reported, not refused


async def test_a_file_uploaded_again_does_not_read_as_the_over_delivery(
    client_for: ClientFactory,
) -> None:
    """The order was over-delivered by the first upload; the same file again adds nothing,
    and its warning says the order was over-delivered before it."""
    stores = await client_for("stores")
    o = await order(quantity=2)
    content = csv_bytes([handset(o) for _ in range(3)])
    first = (await upload(stores, content, mode="commit")).json()
    [warning] = [w["message"] for w in first["file_warnings"] if "over-delivered" in w["message"]]
    assert warning.endswith("delivered before 0; with this file's 3 new it is over-delivered by 1")
    again = (await upload(stores, content)).json()
    [warning] = [w["message"] for w in again["file_warnings"] if "over-delivered" in w["message"]]
    assert warning.endswith(
        "ordered 2, delivered before this file 3: it was already over-delivered by 1 before"
        " this file, which adds none"
    )


# --- quirks that reach the service -------------------------------------------------------------


async def test_fourteen_digit_imei_is_completed_with_a_warning(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    o = await order()
    full = factories.new_imei()
    body = (await upload(stores, csv_bytes([handset(o, IMEI=full[:14])]), mode="commit")).json()
    assert body["status"] == "committed" and body["counts"]["warnings"] >= 1
    assert [a["imei"] for a in await assets_of(body["id"])] == [full]
    warnings = await issues(stores, body["id"], "warning")
    assert warnings[0]["row"] == 2 and warnings[0]["column"] == "IMEI"


async def test_semicolon_windows_1252_file(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    o = await order()
    rows = [handset(o, **{"Product Description": "Galaxy A32 – £289 édition"}) for _ in range(2)]
    content = csv_bytes(rows, delimiter=";", encoding="cp1252")
    body = (await upload(stores, content, mode="commit")).json()
    assert body["status"] == "committed" and body["counts"]["new"] == 2, body


async def test_vodafone_sample_file(client_for: ClientFactory) -> None:
    path = SAMPLES / "vodafone-despatch.csv"
    stores = await client_for("stores")
    o = await order(quantity=20)
    text = path.read_text(encoding="utf-8")
    # The sample's identifiers are made unique so the test shares no rows with others.
    rows = list(csv.DictReader(io.StringIO(text)))
    header = list(rows[0])
    for row in rows:
        row.update(
            {
                "Customer PO": o["po"]["number"],
                "Product Code": o["part"],
                "IMEI": factories.new_imei(),
                "Serial Number": unique("R58R"),
                "SIM ICCID": factories.new_iccid(),
                "MSISDN": "0" + factories.new_msisdn()[3:],
            }
        )
    body = (await upload(stores, csv_bytes(rows, header), mode="commit")).json()
    assert body["status"] == "committed" and body["counts"]["new"] == len(rows) == 12
    assert body["counts"]["sims"] == 12


def _cdw_workbook(rows: list[list[Any]], title_rows: int = 3) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Advanced Shipment Notification"])
    for _ in range(title_rows - 2):
        ws.append(["Customer: test"])
    ws.append([])
    ws.append(CDW_HEADER)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


async def test_cdw_xlsx_sample_with_title_rows(client_for: ClientFactory) -> None:
    path = SAMPLES / "cdw-asn.xlsx"
    stores = await client_for("stores")
    tablet = await order(
        category="ivma_tablet", contract_kind="reseller_framework", manufacturer="Panasonic"
    )
    dock = await factories.device_model(category="vehicle_dock", manufacturer="Havis")
    dock_part = unique("DS-")
    await factories.insert("model_part_number", model_id=dock["id"], part_number=dock_part)
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    key = unique("NMX-")
    parts = {"FZ-L1AHAABVB": tablet["part"], "DS-PAN-1111": dock_part}
    for row in ws.iter_rows(min_row=5):
        row[1].value = tablet["po"]["number"]
        row[4].value = parts.get(row[4].value, row[4].value)
        if row[7].value:
            row[7].value = unique("PF")
        if row[10].value:
            row[10].value = key
    out = io.BytesIO()
    wb.save(out)
    r = await upload(stores, out.getvalue(), "cdw-asn", mode="commit", filename="asn.xlsx")
    body = r.json()
    assert r.status_code == 201, body
    assert body["status"] == "committed", body
    assert body["header_row"] == 4
    assert body["counts"]["new"] == 10 and body["counts"]["licence_seats"] == 250
    assert any("above the header" in w["message"] for w in body["file_warnings"])
    assets = await assets_of(body["id"])
    assert {a["model_id"] for a in assets} == {tablet["model"]["id"], dock["id"]}
    assert {a["unit_cost"] for a in assets} == {Decimal("689.00"), Decimal("312.50")}
    assert {a["delivered_on"] for a in assets} == {dt.date(2021, 11, 22)}
    pool = await one("SELECT * FROM licence_pool WHERE licence_key = $1", key)
    assert pool["seats"] == 250 and pool["contract_id"] == tablet["contract"]["id"]
    assert pool["product"] == "NetMotion Mobility Standard licence"


async def test_cdw_licence_rows_create_then_top_up_a_pool_once(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    o = await order(category="tablet", contract_kind="reseller_framework")
    key = unique("NMX-")

    def licence(order_ref: str, seats: str) -> dict[str, str]:
        return licence_row(o, key, order_ref, seats)

    first = csv_bytes([licence("CDW1", "250")], CDW_HEADER)
    body = (await upload(stores, first, "cdw-asn", mode="commit")).json()
    assert body["status"] == "committed" and body["counts"]["licence_seats"] == 250, body
    topped = csv_bytes([licence("CDW1", "250"), licence("CDW2", "50")], CDW_HEADER)
    body = (await upload(stores, topped, "cdw-asn", mode="commit")).json()
    assert body["counts"]["licence_seats"] == 50 and body["counts"]["unchanged"] == 1
    body = (await upload(stores, topped, "cdw-asn", mode="commit")).json()
    assert body["counts"]["licence_seats"] == 0 and body["counts"]["unchanged"] == 2
    pool = await one("SELECT * FROM licence_pool WHERE licence_key = $1", key)
    async with connection() as conn:
        actions = await conn.fetch(
            "SELECT action FROM event WHERE entity = 'licence_pool' AND entity_id = $1 ORDER BY id",
            pool["id"],
        )
    assert pool["seats"] == 300 and pool["unit_cost"] == Decimal("41.00")
    assert [a["action"] for a in actions] == ["created", "seats_added", "updated", "seats_added"]


async def test_cdw_item_row_with_a_licence_key_says_the_key_is_not_recorded(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    o = await order(category="ivma_tablet", contract_kind="reseller_framework")
    row = {
        "CDW Order #": "CDW7",
        "Customer PO #": o["po"]["number"],
        "Ship Date": "22/11/2021",
        "Manufacturer": "Panasonic",
        "Mfr Part #": o["part"],
        "Description": "Toughpad with NetMotion",
        "Serial #": unique("PF"),
        "Qty Shipped": "1",
        "Unit Price (GBP)": "£689.00",
        "Licence Key": "NMX-BUNDLED-1",
    }
    body = (await upload(stores, csv_bytes([row], CDW_HEADER), "cdw-asn")).json()
    assert body["counts"]["new"] == 1 and body["counts"]["licence_rows"] == 0, body
    (warning,) = await issues(stores, body["id"], "warning")
    assert (warning["row"], warning["column"], warning["value"]) == (
        2,
        "Licence Key",
        "NMX-BUNDLED-1",
    )
    assert "its licence key is not recorded" in warning["message"]


# --- bad input --------------------------------------------------------------------------------


async def _nothing_written(since: int) -> None:
    assert await count("SELECT count(*) FROM delivery_import WHERE id > $1", since) == 0


async def _last_import_id() -> int:
    return await count("SELECT COALESCE(max(id), 0) FROM delivery_import")


@pytest.mark.parametrize(
    ("content", "filename", "expected"),
    [
        (b"", "empty.csv", "the file is empty"),
        (b"\x00\x01\x02\x03binary\x00" * 100, "data.csv", "not a CSV or XLSX file"),
        (b"%PDF-1.7 something", "delivery.csv", "PDF"),
        (
            b"Despatch Date,Vodafone Order No,Customer PO\r\n01/01/2023,X,Y\r\n",
            "short.csv",
            "it needs the columns Despatch Date, Vodafone Order No, Customer PO, Delivery Note",
        ),
        (
            (",".join(VF_HEADER) + "\r\n").encode(),
            "header-only.csv",
            "the file has no data rows below its header on row 1; check that the export is "
            "complete",
        ),
        (
            (",".join(VF_HEADER) + "\r\n,,,\r\n\r\nTotal,,,,,,,,,,0\r\n").encode(),
            "blank.csv",
            "no data rows below its header on row 1 (only 2 blank row(s), 1 totals row(s))",
        ),
    ],
)
async def test_unusable_files_are_refused_with_nothing_written(
    client_for: ClientFactory, content: bytes, filename: str, expected: str
) -> None:
    stores = await client_for("stores")
    before = await _last_import_id()
    # A commit checks the file before its job exists, reading no further than its first row.
    for mode in ("preview", "commit"):
        r = await upload(stores, content, filename=filename, mode=mode)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"][0]["field"] == "file"
        assert expected in r.json()["detail"]
    await _nothing_written(before)


async def test_missing_columns_are_named(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    header = [h for h in VF_HEADER if h not in ("IMEI", "Product Code")]
    r = await upload(stores, csv_bytes([], header))
    assert r.status_code == 422
    assert "IMEI" in r.json()["detail"] and "Product Code" in r.json()["detail"]


async def test_file_of_another_profile_says_which(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    o = await order()
    r = await upload(stores, csv_bytes([handset(o)]), "cdw-asn")
    assert r.status_code == 422
    assert "vodafone-despatch" in r.json()["detail"]


async def test_zip_bomb_named_xlsx_is_refused(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (20 << 20))
    r = await upload(stores, out.getvalue(), "cdw-asn", filename="asn.xlsx")
    assert r.status_code == 422
    assert "zip bomb" in r.json()["detail"]
    assert (await stores.get("/api/v1/imports?limit=1")).status_code == 200  # still serving


async def test_upload_over_the_limit_is_413(
    client_for: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    import api.imports
    from fleetsvc.settings import get_settings

    small = dataclasses.replace(get_settings(), max_upload_bytes=64 * 1024)
    monkeypatch.setattr(api.imports, "get_settings", lambda: small)
    stores = await client_for("stores")
    before = await _last_import_id()
    r = await upload(stores, b"Despatch Date," + b"x" * (100 * 1024))
    assert r.status_code == 413, r.text
    assert r.json()["type"] == "urn:fleetsvc:problem:too-large"

    # Streamed without a Content-Length: refused on the bytes received.
    async def body() -> Any:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
        for _ in range(20):
            yield b"y" * 8192

    r = await stores.post(
        "/api/v1/imports",
        content=body(),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert r.status_code == 413
    await _nothing_written(before)


async def test_uploads_larger_than_the_json_body_limit_are_read(
    client_for: ClientFactory,
) -> None:
    from fleetsvc.settings import get_settings

    stores = await client_for("stores")
    content = b"a,b\r\n" + b"1,2\r\n" * (get_settings().max_body_bytes // 4)
    r = await upload(stores, content)
    assert r.status_code == 422, r.text  # read to the end and judged, not refused as too large
    assert "no header row" in r.json()["detail"]


async def test_unknown_profile_lists_the_profiles(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    r = await upload(stores, b"a,b\r\n1,2\r\n", "nokia-despatch")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "profile"
    for name in ("vodafone-despatch", "cdw-asn", "babcock-install"):
        assert name in r.json()["detail"]


async def test_intune_profile_points_to_mdm_sync(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    r = await upload(stores, b"Device ID\r\n1\r\n", "intune-devices", mode="commit")
    assert r.status_code == 422
    assert "fleetsvc mdm sync --file" in r.json()["detail"]


async def test_missing_parts_of_the_form(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    r = await stores.post("/api/v1/imports", data={"profile": "cdw-asn"})
    assert r.status_code == 400  # not multipart at all
    r = await stores.post(
        "/api/v1/imports", files={"file": ("a.csv", b"x", "text/csv")}, data={"mode": "preview"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "profile"
    r = await upload(stores, b"a\r\n", mode="apply")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "mode"


async def test_huge_cells_control_characters_and_formulas(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    o = await order()
    huge = handset(o, **{"Delivery Note": "D" * 2_000_000})
    control = handset(o, **{"Vodafone Order No": "VF\x07ORD"})
    formula = handset(o, **{"Product Code": '=HYPERLINK("http://x","y")'})
    good = handset(o)
    r = await upload(
        stores, csv_bytes([huge, control, formula, good]), allow_partial=True, mode="commit"
    )
    assert r.status_code == 201, r.text[:300]
    body = r.json()
    assert body["counts"]["rejected"] == 3 and body["counts"]["new"] == 1
    errors = {e["row"]: e for e in await issues(stores, body["id"], "rejected")}
    assert "characters" in errors[2]["message"] and len(errors[2]["value"]) <= 200
    assert errors[3]["column"] == "Vodafone Order No"
    assert errors[4]["value"].startswith("=HYPERLINK")  # stored as text
    csv_text = (await stores.get(f"/api/v1/imports/{body['id']}/rejected.csv")).text
    rows = rejected_rows(csv_text)
    assert rows[2]["Product Code"].startswith("'=HYPERLINK")  # neutralised for spreadsheets
    assert rows[1]["MSISDN"].startswith("0")


async def test_staged_cells_come_back_exactly_in_issues_and_rejected_csv(
    client_for: ClientFactory,
) -> None:
    # The staged cells travel as one JSON array: quotes, backslashes, braces, commas, accents
    # and a control character come back as uploaded, as the issue's value and in rejected.csv.
    stores = await client_for("stores")
    o = await order()
    tricky = 'Galaxy "A32" \\ back\\slash, {"a": [1]} – £289 édition \u2028 ✓'
    unknown_po = handset(o, **{"Customer PO": 'NO-PO "\\"', "Product Description": tricky})
    control = handset(o, **{"Delivery Note": "DN\x07\\1", "Product Description": tricky})
    body = (await upload(stores, csv_bytes([unknown_po, control]), mode="commit")).json()
    assert body["status"] == "rejected" and body["counts"]["rejected"] == 2, body
    errors = {e["row"]: e for e in await issues(stores, body["id"], "rejected")}
    assert (errors[2]["column"], errors[2]["value"]) == ("Customer PO", 'NO-PO "\\"')
    assert (errors[3]["column"], errors[3]["value"]) == ("Delivery Note", "DN\x07\\1")
    csv_text = (await stores.get(f"/api/v1/imports/{body['id']}/rejected.csv")).text
    rows = rejected_rows(csv_text)
    for sent, got in zip((unknown_po, control), rows, strict=True):
        assert {h: got[h] for h in VF_HEADER} == sent


# --- lists, rows, roles -----------------------------------------------------------------------


async def test_list_rows_and_missing_imports(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    o = await order()
    content = csv_bytes([handset(o)])
    body = (await upload(stores, content)).json()
    listed = (await stores.get(f"/api/v1/imports?sha256={body['sha256']}")).json()
    assert [i["id"] for i in listed["items"]] == [body["id"]]
    assert (await stores.get("/api/v1/imports/999999999")).status_code == 404
    assert (await stores.get("/api/v1/imports/999999999/rows")).status_code == 404
    assert (await stores.get("/api/v1/imports/999999999/rejected.csv")).status_code == 404
    assert (await stores.post("/api/v1/imports/999999999/commit")).status_code == 404
    r = await stores.get(f"/api/v1/imports/{body['id']}/rows?status=bad")
    assert r.status_code == 422


async def test_roles(client_for: ClientFactory, anon: httpx.AsyncClient) -> None:
    o = await order(quantity=100)
    for role, can_upload in [
        ("admin", True),
        ("stores", True),
        ("engineer", False),
        ("finance", False),
        ("mdm", False),
        ("auditor", False),
    ]:
        c = await client_for(role)
        r = await upload(c, csv_bytes([handset(o)]))
        assert r.status_code == (201 if can_upload else 403), (role, r.text)
        assert (await c.get("/api/v1/imports?limit=1")).status_code == 200, role
        if not can_upload:
            assert (await c.post("/api/v1/imports/1/commit")).status_code == 403, role
    assert (await anon.get("/api/v1/imports")).status_code == 401
    assert (await upload(anon, csv_bytes([handset(o)]))).status_code == 401


async def test_list_imports_by_status(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    o = await order()
    body = (await upload(stores, csv_bytes([handset(o)]))).json()
    r = await stores.get("/api/v1/imports", params={"status": "previewed", "limit": 1000})
    assert r.status_code == 200 and body["id"] in [i["id"] for i in r.json()["items"]]
    r = await stores.get("/api/v1/imports", params={"status": "comitted"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [
        {
            "field": "status",
            "message": "status must be one of: running, previewed, committed, rejected, failed",
        }
    ]


async def test_import_id_beyond_the_database_range_is_404(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    # Once a vague 422 "a value in the request is out of range" from the driver.
    for n in (2**31, 99_999_999_999, -(2**40)):
        for r in (
            await stores.get(f"/api/v1/imports/{n}"),
            await stores.get(f"/api/v1/imports/{n}/rows"),
            await stores.get(f"/api/v1/imports/{n}/rejected.csv"),
            await stores.post(f"/api/v1/imports/{n}/commit"),
        ):
            assert r.status_code == 404, (n, r.request.url, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")


async def test_a_preview_nobody_commits_is_not_kept_for_ever(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    o = await order()
    old = (await upload(stores, csv_bytes([handset(o), handset(o)]))).json()
    stuck = (await upload(stores, csv_bytes([handset(o)]))).json()
    async with connection() as conn:
        await conn.execute(
            "UPDATE delivery_import SET created_at = now() - interval '15 days',"
            " status = CASE id WHEN $2 THEN 'running' ELSE status END"
            " WHERE id = ANY($1::int[])",
            [old["id"], stuck["id"]],
            stuck["id"],
        )
    # The next import clears what is older than FLEETSVC_PREVIEW_DAYS (14).
    fresh = (await upload(stores, csv_bytes([handset(o)]))).json()
    async with connection() as conn:
        staged = await conn.fetchval(
            "SELECT count(*) FROM import_staged_row WHERE import_id = ANY($1::int[])",
            [old["id"], stuck["id"]],
        )
        fresh_staged = await conn.fetchval(
            "SELECT count(*) FROM import_staged_row WHERE import_id = $1", fresh["id"]
        )
    assert (staged, fresh_staged) == (0, 1)
    r = await stores.post(f"/api/v1/imports/{old['id']}/commit")
    assert r.status_code == 409
    assert "no longer staged (a preview is kept for 14 days" in r.json()["detail"]
    r = await stores.get(f"/api/v1/imports/{stuck['id']}")
    assert r.json()["status"] == "failed"
    assert r.json()["message"] == "the import stopped before the file was read"
    r = await stores.post(f"/api/v1/imports/{fresh['id']}/commit")
    assert r.status_code == 200 and r.json()["status"] == "committed", r.text
