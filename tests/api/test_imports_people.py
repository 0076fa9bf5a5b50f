"""hr-people imports: the HR feed creates and updates people and their business unit,
previewed then committed like a delivery, idempotent, with row-level rejects; nobody is
deleted for being missing from the file; a leaving date makes a leaver (and a recovery
case for the devices they hold)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import openpyxl

from db.engine import connection, transaction
from fleetsvc.auth import Actor
from fleetsvc.subject_access.retention import pseudonymise
from tests import factories
from tests.api.test_imports import csv_bytes, issues, upload
from tests.conftest import ClientFactory, unique

HEADER = [
    "Employee No",
    "Forenames",
    "Surname",
    "Date of Birth",
    "Work Email",
    "Org Unit Code",
    "Org Unit Name",
    "Staff Type",
    "NI Number",
    "Leaving Date",
]
SAMPLE = Path(__file__).parents[1] / "samples" / "hr-people.csv"


def person_row(bu: dict[str, Any], **kw: str) -> dict[str, str]:
    n = unique()
    row = {
        "Employee No": f"h{n.lower()}",
        "Forenames": "Siobhán",
        "Surname": "O'Neill",
        "Date of Birth": "01/01/1960",
        "Work Email": f"S.ONeill{n}@Force.Example",
        "Org Unit Code": bu["code"].lower(),
        "Org Unit Name": bu["name"],
        "Staff Type": "Police Officer",
        "NI Number": "QQ123456C",
        "Leaving Date": "",
    }
    row.update(kw)
    return row


async def feed(client: Any, rows: list[dict[str, str]], mode: str = "preview") -> dict[str, Any]:
    r = await upload(client, csv_bytes(rows, HEADER), "hr-people", mode=mode, filename="people.csv")
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def person_of(employee_number: str) -> dict[str, Any] | None:
    async with connection() as conn:
        row = await conn.fetchrow(
            "SELECT * FROM person WHERE employee_number = $1", employee_number.upper()
        )
    return None if row is None else dict(row)


async def test_preview_then_commit_creates_people_and_commit_again_changes_nothing(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    bu = await factories.business_unit()
    rows = [person_row(bu), person_row(bu, **{"Staff Type": "SC"}), person_row(bu)]
    rows.append(dict(rows[0]))  # the same row twice: counted once
    preview = await feed(stores, rows)
    assert preview["status"] == "previewed", preview
    counts = preview["counts"]
    assert (counts["new"], counts["created"], counts["duplicates"]) == (3, 3, 1), counts
    assert await person_of(rows[0]["Employee No"]) is None  # a preview writes nobody
    warnings = " ".join(w["message"] for w in preview["file_warnings"])
    assert "Date of Birth, NI Number" in warnings and "personal data" in warnings
    # Data minimisation: the ignored columns are not staged, so not in any row either.
    async with connection() as conn:
        staged = await conn.fetch(
            "SELECT cells::text AS cells FROM import_staged_row WHERE import_id = $1",
            preview["id"],
        )
    assert staged and all("QQ123456C" not in r["cells"] for r in staged)

    r = await stores.post(f"/api/v1/imports/{preview['id']}/commit")
    body = r.json()
    assert body["status"] == "committed", body
    first = await person_of(rows[0]["Employee No"])
    assert first is not None
    assert first["display_name"] == "Siobhán O'Neill"
    assert first["upn"] == rows[0]["Work Email"].lower()
    assert first["business_unit_id"] == bu["id"] and first["kind"] == "officer"
    assert first["active"] is True and first["left_on"] is None
    special = await person_of(rows[1]["Employee No"])
    assert special is not None and special["kind"] == "special_constable"
    # One event each, personal values held by reference.
    async with connection() as conn:
        raw = await conn.fetchval(
            "SELECT after::text FROM event WHERE entity = 'person' AND entity_id = $1",
            first["id"],
        )
    assert "O'Neill" not in raw and "$personal" in raw
    r = await stores.get(f"/api/v1/people/{first['id']}")
    assert r.json()["display_name"] == "Siobhán O'Neill"

    again = await feed(stores, rows, mode="commit")
    assert again["status"] == "committed", again
    assert (again["counts"]["new"], again["counts"]["unchanged"]) == (0, 3), again["counts"]
    assert again["previous_import"]["id"] == preview["id"]
    assert again["file_warnings"][0]["message"].startswith("this file was committed as import")
    after = await person_of(rows[0]["Employee No"])
    assert after is not None and after["version"] == first["version"]

    # Someone changed since: the file is read again, and puts the HR system's name back.
    r = await stores.patch(f"/api/v1/people/{first['id']}", json={"display_name": "Renamed"})
    assert r.status_code == 200, r.text
    third = await feed(stores, rows, mode="commit")
    assert (third["counts"]["new"], third["counts"]["unchanged"]) == (1, 2), third["counts"]
    back = await person_of(rows[0]["Employee No"])
    assert back is not None and back["display_name"] == "Siobhán O'Neill"


async def test_updates_move_people_between_units_and_keep_a_blank_upn(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    old_bu, new_bu = await factories.business_unit(), await factories.business_unit()
    known = await factories.person(business_unit_id=old_bu["id"], display_name="Old Name")
    row = person_row(
        new_bu,
        **{"Employee No": known["employee_number"], "Work Email": "", "Staff Type": "staff"},
    )
    body = await feed(stores, [row], mode="commit")
    assert body["status"] == "committed", body
    assert (body["counts"]["updated"], body["counts"]["created"]) == (1, 0)
    person = await person_of(known["employee_number"])
    assert person is not None
    assert person["business_unit_id"] == new_bu["id"] and person["kind"] == "staff"
    assert person["display_name"] == "Siobhán O'Neill"
    assert person["upn"] == known["upn"]  # a blank UPN keeps the one the register holds
    async with connection() as conn:
        event = await conn.fetchrow(
            "SELECT before, after FROM event WHERE entity = 'person' AND entity_id = $1"
            " AND action = 'updated' ORDER BY id DESC LIMIT 1",
            known["id"],
        )
    assert event is not None and "upn" not in event["after"]
    assert "business_unit_id" in event["after"]


async def test_row_rejects_name_row_column_and_value(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    bu = await factories.business_unit()
    holder = await factories.person()
    rows = [
        person_row(bu, **{"Org Unit Code": "NOPE", "Org Unit Name": "Nowhere BCU"}),
        person_row(bu, **{"Work Email": "not-an-email"}),
        person_row(bu, **{"Work Email": holder["upn"]}),
        person_row(bu, **{"Staff Type": "Contractor"}),
        person_row(bu, **{"Employee No": "DUP1"}),
        person_row(bu, **{"Employee No": "DUP1", "Surname": "Other"}),
        person_row(bu),
    ]
    preview = await feed(stores, rows)
    assert preview["counts"]["rejected"] == 6 and preview["counts"]["new"] == 1
    found = {(i["row"], i["column"]): i for i in await issues(stores, preview["id"], "rejected")}
    assert (
        "no business unit has the code NOPE (Nowhere BCU" in found[(2, "Org Unit Code")]["message"]
    )
    assert found[(3, "Work Email")]["value"] == "not-an-email"
    assert holder["employee_number"] in found[(4, "Work Email")]["message"]
    assert "must be one of" in found[(5, "Staff Type")]["message"]
    assert "also on row 7" in found[(6, "Employee No")]["message"]
    assert "also on row 6" in found[(7, "Employee No")]["message"]
    r = await stores.post(f"/api/v1/imports/{preview['id']}/commit")
    assert r.json()["status"] == "rejected"  # nothing half-applied
    assert await person_of(rows[6]["Employee No"]) is None


async def test_another_profiles_file_is_a_clear_whole_file_error(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    vodafone = b"Despatch Date,Vodafone Order No,Customer PO,Delivery Note,Product Code," + (
        b"Product Description,IMEI,Serial Number,SIM ICCID,MSISDN,Quantity\r\n"
        b"01/12/2022,VF1,PO1,DN1,SM-A325,Galaxy A32,352099001761481,R58R1,,,1\r\n"
    )
    r = await upload(stores, vodafone, "hr-people", filename="people.csv")
    assert r.status_code == 422, r.text
    assert "looks like a vodafone-despatch file" in r.json()["detail"]


async def test_people_missing_from_the_file_are_listed_not_deleted(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    bu = await factories.business_unit()
    missing = await factories.person(business_unit_id=bu["id"])
    body = await feed(stores, [person_row(bu)], mode="commit")
    assert body["counts"]["not_in_file"] >= 1
    assert missing["id"] in body["not_in_file"] or len(body["not_in_file"]) == 1000
    assert any("not in this file" in w["message"] for w in body["file_warnings"])
    still = await person_of(missing["employee_number"])
    assert still is not None and still["active"] is True


async def test_a_leaving_date_makes_a_leaver_and_opens_their_recovery_case(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    bu = await factories.business_unit()
    leaver = await factories.person(business_unit_id=bu["id"])
    phone = await factories.asset(status="deployed", person_id=leaver["id"])
    planned = await factories.person(business_unit_id=bu["id"])
    soon = dt.date.today() + dt.timedelta(days=30)
    rows = [
        person_row(bu, **{"Employee No": leaver["employee_number"], "Leaving Date": "31/10/2026"}),
        person_row(
            bu, **{"Employee No": planned["employee_number"], "Leaving Date": f"{soon:%d/%m/%Y}"}
        ),
    ]
    preview = await feed(stores, rows)
    assert preview["counts"]["leavers"] == 2
    r = await stores.post(f"/api/v1/imports/{preview['id']}/commit")
    body = r.json()
    assert body["status"] == "committed", body
    assert body["counts"]["cases_opened"] == 1
    gone = await person_of(leaver["employee_number"])
    assert gone is not None and gone["active"] is False
    assert gone["left_on"] == dt.date(2026, 10, 31)
    later = await person_of(planned["employee_number"])
    assert later is not None and later["active"] is False and later["left_on"] == soon
    r = await stores.get("/api/v1/recoveries", params={"person_id": leaver["id"]})
    [case] = r.json()["items"]
    r = await stores.get(f"/api/v1/recoveries/{case['id']}")
    assert [line["asset_id"] for line in r.json()["items"]] == [phone["id"]]
    # Back in post: a blank leaving date; the one who held a phone has their case cancelled.
    rows[0]["Leaving Date"] = rows[1]["Leaving Date"] = ""
    body = await feed(stores, rows, mode="commit")
    assert body["counts"]["cases_cancelled"] == 1, body
    back = await person_of(planned["employee_number"])
    assert back is not None and back["active"] is True and back["left_on"] is None
    r = await stores.get(f"/api/v1/recoveries/{case['id']}")
    assert (r.json()["status"], r.json()["reason"]) == ("cancelled", "returned")
    assert [line["status"] for line in r.json()["items"]] == ["cancelled"]


async def test_the_sample_feed_reads_as_documented(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    async with transaction() as conn:
        await conn.execute(
            "INSERT INTO business_unit (code, name) SELECT c, c || ' unit'"
            " FROM unnest(ARRAY['CW','NW','NE','SE','SW','MO7','MSC','HQ']) c"
            " ON CONFLICT (code) DO NOTHING"
        )
    r = await stores.post(
        "/api/v1/imports",
        files={"file": ("hr-people.csv", SAMPLE.read_bytes(), "text/csv")},
        data={"profile": "hr-people", "mode": "preview"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "previewed", body
    assert body["counts"]["rejected"] == 0 and body["counts"]["rows"] == 16


async def test_an_xlsx_feed_with_excel_dates_and_a_windows_1252_csv(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    bu = await factories.business_unit()
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["HR export", None])  # a title row above the header
    ws.append(HEADER)
    row = person_row(bu, **{"Forenames": "Zoë"})
    cells: list[Any] = [row[h] for h in HEADER]
    cells[HEADER.index("Leaving Date")] = dt.datetime(2026, 10, 31)
    ws.append(cells)
    out = io.BytesIO()
    wb.save(out)
    r = await upload(stores, out.getvalue(), "hr-people", mode="commit", filename="hr.xlsx")
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "committed", r.json()
    person = await person_of(row["Employee No"])
    assert person is not None and person["left_on"] == dt.date(2026, 10, 31)
    assert person["display_name"] == "Zoë O'Neill" and person["active"] is False

    other = person_row(bu, **{"Forenames": "Amélie"})
    content = csv_bytes([other], HEADER, encoding="cp1252")
    r = await upload(stores, content, "hr-people", mode="commit", filename="hr.csv")
    assert r.json()["status"] == "committed", r.json()
    person = await person_of(other["Employee No"])
    assert person is not None and person["display_name"] == "Amélie O'Neill"


async def test_a_row_naming_a_pseudonymised_person_by_their_pseudonym_is_rejected(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    bu = await factories.business_unit()
    gone = await factories.person(active=False, left_on=dt.date(2015, 1, 1))
    async with transaction() as conn:
        await pseudonymise(conn, Actor("test", "admin"), [gone["id"]])
    rows = [person_row(bu, **{"Employee No": f"PERSON-{gone['id']}"})]
    preview = await feed(stores, rows)
    assert preview["counts"]["rejected"] == 1, preview
    (issue,) = await issues(stores, preview["id"], "rejected")
    assert issue["row"] == 2 and issue["column"] == "Employee No"
    assert "pseudonymised" in issue["message"]
    r = await stores.post(f"/api/v1/imports/{preview['id']}/commit")
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
    after = await person_of(f"PERSON-{gone['id']}")
    assert after is not None and after["display_name"] == f"person-{gone['id']}"


async def test_a_pseudonymised_leavers_old_number_is_someone_new_unless_long_gone(
    client_for: ClientFactory,
) -> None:
    """The register no longer knows a pseudonymised leaver's employee number: a row with it
    in post is a new person (a re-hire is a new record); a row that would create someone
    who left before the retention period is rejected, naming the row and its Leaving Date,
    so an export still listing old leavers does not name them again."""
    stores = await client_for("stores")
    bu = await factories.business_unit()
    gone = await factories.person(active=False, left_on=dt.date(2015, 1, 30))
    async with transaction() as conn:
        await pseudonymise(conn, Actor("test", "admin"), [gone["id"]])
    number = gone["employee_number"]
    old_row = person_row(bu, **{"Employee No": number, "Leaving Date": "30/01/2015"})
    preview = await feed(stores, [old_row])
    assert (preview["counts"]["rejected"], preview["counts"]["new"]) == (1, 0), preview
    (issue,) = await issues(stores, preview["id"], "rejected")
    assert (issue["row"], issue["column"], issue["value"]) == (2, "Leaving Date", "30/01/2015")
    assert "retention period (2190 days)" in issue["message"]
    assert await person_of(number) is None

    rehired = person_row(bu, **{"Employee No": number})
    body = await feed(stores, [rehired], mode="commit")
    assert body["status"] == "committed" and body["counts"]["created"] == 1, body
    new = await person_of(number)
    assert new is not None and new["id"] != gone["id"] and new["active"] is True
    async with connection() as conn:
        old = await conn.fetchrow("SELECT * FROM person WHERE id = $1", gone["id"])
    assert old is not None and old["employee_number"] == f"PERSON-{gone['id']}"
    assert old["pseudonymised_at"] is not None
    # Someone who left recently, new to the register, is still created as a leaver.
    recent = person_row(
        bu, **{"Leaving Date": f"{dt.date.today() - dt.timedelta(days=30):%d/%m/%Y}"}
    )
    body = await feed(stores, [recent], mode="commit")
    assert body["status"] == "committed" and body["counts"]["created"] == 1, body
