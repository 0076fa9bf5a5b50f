"""Subject access (UK GDPR Art. 15): everything held about a person, as JSON and as XLSX
(one sheet each, formula-safe), for the admin and the auditor only; the request is itself
an event; a pseudonymised person's report says so and gives what remains."""

from __future__ import annotations

import io
from typing import Any

import httpx
import openpyxl

from db.engine import transaction
from fleetsvc import audit, users
from fleetsvc.auth import Actor
from fleetsvc.spreadsheets import XLSX_MEDIA_TYPE
from fleetsvc.subject_access import retention
from tests import factories
from tests.api.test_mdm import graph_record, push
from tests.conftest import ClientFactory, unique

ADMIN = Actor("tests", "admin")
SHEETS = [
    "Person",
    "Versions",
    "Devices",
    "SIMs",
    "Recovery cases",
    "MDM records",
    "Accounts",
    "Events about",
    "Events by",
    "Parameters",
]


async def _person_with_history(client_for: ClientFactory) -> dict[str, Any]:
    """A person renamed once, who held a handset and gave it back, holds another with a
    SIM in it, is the MDM's user of it, and has a page account they made a change with."""
    eng, mdm = await client_for("engineer"), await client_for("mdm")
    n = unique()
    upn = f"s.okafor{n}@force.police.uk".lower()
    r = await eng.post(
        "/api/v1/people",
        json={"employee_number": f"SO{n}", "upn": upn, "display_name": f"=Sam Okafor {n}"},
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = await eng.patch(f"/api/v1/people/{pid}", json={"display_name": f"Sam Okafor {n}"})
    assert r.status_code == 200, r.text
    returned, held = await factories.asset(), await factories.asset()
    for asset in (returned, held):
        r = await eng.post(
            f"/api/v1/assets/{asset['id']}/transitions",
            json={"to": "deployed", "reason": "issued", "person_id": pid},
        )
        assert r.status_code == 200, r.text
    r = await eng.post(
        f"/api/v1/assets/{returned['id']}/transitions", json={"to": "in_stock", "reason": "swap"}
    )
    assert r.status_code == 200, r.text
    sim = await factories.sim()
    r = await eng.post(f"/api/v1/sims/{sim['id']}/fitting", json={"asset_id": held["id"]})
    assert r.status_code in (200, 201), r.text
    r = await push(mdm, unique("run-"), 1, [graph_record(serial=held["serial_number"], upn=upn)])
    assert r.status_code == 200, r.text
    vehicle = await factories.vehicle()
    async with transaction() as conn:
        user = await users.create_user(conn, ADMIN, upn, "engineer", unique("pw-") * 2)
        await audit.record(
            conn, user.actor(), "vehicle", vehicle["id"], "noted", after={"note": "checked"}
        )
        token = await users.create_own_token(conn, user.actor(), user, unique("t-"), "engineer")
        await audit.record(
            conn, Actor(token.info.name, "engineer"), "vehicle", vehicle["id"], "scripted"
        )
    return {
        "id": pid,
        "upn": upn,
        "number": f"SO{n}",
        "name": f"Sam Okafor {n}",
        "returned": returned,
        "held": held,
        "sim": sim,
        "user_id": user.id,
        "vehicle": vehicle,
    }


async def _requests(auditor: httpx.AsyncClient, pid: int) -> list[dict[str, Any]]:
    r = await auditor.get(
        f"/api/v1/events?entity=person&entity_id={pid}&action=subject_access_requested"
    )
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_everything_held_about_a_person_as_json(client_for: ClientFactory) -> None:
    p = await _person_with_history(client_for)
    auditor = await client_for("auditor")
    r = await auditor.get(f"/api/v1/people/{p['id']}/subject-access")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["pseudonymised"] is False and body["notice"] is None
    assert body["person"]["upn"] == p["upn"] and body["person"]["display_name"] == p["name"]
    assert [v["record"]["display_name"] for v in body["versions"]] == [
        "=" + p["name"],
        p["name"],
    ]
    devices = {d["asset_id"]: d for d in body["devices"]}
    assert set(devices) == {p["returned"]["id"], p["held"]["id"]}
    assert devices[p["returned"]["id"]]["held_until"] is not None
    assert devices[p["held"]["id"]]["held_until"] is None
    assert [s["iccid"] for s in devices[p["held"]["id"]]["sims"]] == [p["sim"]["iccid"]]
    assert devices[p["held"]["id"]]["sims"][0]["msisdn"] == p["sim"]["msisdn"]
    assert devices[p["returned"]["id"]]["sims"] == []
    assert [m["asset_id"] for m in body["mdm_records"]] == [p["held"]["id"]]
    assert [a["id"] for a in body["user_accounts"]] == [p["user_id"]]
    about = {(e["entity"], e["entity_id"], e["action"]) for e in body["events_about"]}
    assert ("person", p["id"], "created") in about and ("user", p["user_id"], "created") in about
    assert ("asset", p["held"]["id"], "transition") in about
    assert any(k[0] == "asset" and k[2] == "mdm_synced" for k in about)
    # On the pages (a change, making a token), and with the token they made there.
    assert [(e["entity"], e["action"]) for e in body["events_by"]] == [
        ("vehicle", "noted"),
        ("api_token", "created"),
        ("vehicle", "scripted"),
    ]
    # Recovery cases: a list once the tables exist (branch hr-people), null until then.
    assert body["recovery_cases"] is None or isinstance(body["recovery_cases"], list)

    [asked] = await _requests(auditor, p["id"])
    assert asked["actor_role"] == "auditor" and asked["after"] == {"format": "json"}
    assert asked["before"] is None


async def test_the_report_as_a_workbook_one_sheet_each_formula_safe(
    client_for: ClientFactory,
) -> None:
    p = await _person_with_history(client_for)
    admin = await client_for("admin")
    by_format = await admin.get(f"/api/v1/people/{p['id']}/subject-access?format=xlsx")
    by_accept = await admin.get(
        f"/api/v1/people/{p['id']}/subject-access", headers={"Accept": XLSX_MEDIA_TYPE}
    )
    for r in (by_format, by_accept):
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == XLSX_MEDIA_TYPE
        assert r.headers["content-disposition"].startswith(
            f"attachment; filename=subject-access-person-{p['id']}-"
        )
    book = openpyxl.load_workbook(io.BytesIO(by_format.content))
    assert book.sheetnames == SHEETS
    versions = [row for row in book["Versions"].iter_rows(min_row=2, values_only=True)]
    # The first name began with "=": written as text, never a formula.
    assert versions[0][6] == "'=" + p["name"] and versions[1][6] == p["name"]
    serials = {row[1] for row in book["Devices"].iter_rows(min_row=2, values_only=True)}
    assert serials == {p["returned"]["serial_number"], p["held"]["serial_number"]}
    sims = [row[2] for row in book["SIMs"].iter_rows(min_row=2, values_only=True)]
    assert sims == [p["sim"]["iccid"]]
    assert book["Events by"].max_row == 4
    for ws in book.worksheets:
        for row in ws.iter_rows(values_only=True):
            assert not any(isinstance(v, str) and v.startswith("=") for v in row)
    formats = [e["after"]["format"] for e in await _requests(admin, p["id"])]
    assert formats == ["xlsx", "xlsx"]


async def test_only_the_admin_and_the_auditor_may_ask(client_for: ClientFactory) -> None:
    person = await factories.person()
    for role in ("engineer", "stores", "finance", "mdm"):
        r = await (await client_for(role)).get(f"/api/v1/people/{person['id']}/subject-access")
        assert r.status_code == 403, (role, r.text)
    auditor = await client_for("auditor")
    assert await _requests(auditor, person["id"]) == []  # refused: not recorded
    r = await auditor.get("/api/v1/people/2000000000/subject-access")
    assert r.status_code == 404
    # The document's enum lists json and xlsx exactly: empty, padded or upper-case is refused.
    for fmt in ("csv", "", " json", "XLSX"):
        r = await auditor.get(
            f"/api/v1/people/{person['id']}/subject-access", params={"format": fmt}
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "format", fmt
    doc = (await auditor.get("/schema/openapi.json")).json()
    operation = doc["paths"]["/api/v1/people/{person_id}/subject-access"]["get"]
    (fmt_param,) = [p for p in operation["parameters"] if p["name"] == "format"]
    assert fmt_param["schema"]["enum"] == ["json", "xlsx"]


async def test_a_pseudonymised_person_says_so_and_gives_what_remains(
    client_for: ClientFactory,
) -> None:
    p = await _person_with_history(client_for)
    eng = await client_for("engineer")
    r = await eng.post(
        f"/api/v1/assets/{p['held']['id']}/transitions", json={"to": "in_stock", "reason": "left"}
    )
    assert r.status_code == 200, r.text
    r = await eng.patch(
        f"/api/v1/people/{p['id']}", json={"active": False, "left_on": "2018-05-31"}
    )
    assert r.status_code == 200, r.text
    async with transaction() as conn:
        assert (await retention.pseudonymise(conn, ADMIN, [p["id"]])).people == 1

    # Their record is kept as it is: a change is refused, clearly.
    r = await eng.patch(f"/api/v1/people/{p['id']}", json={"display_name": p["name"]})
    assert r.status_code == 409 and "pseudonymised" in r.json()["detail"], r.text
    auditor = await client_for("auditor")
    r = await auditor.get(f"/api/v1/people/{p['id']}/subject-access")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["pseudonymised"] is True and "pseudonymised" in body["notice"]
    assert body["person"]["display_name"] == f"person-{p['id']}" and body["person"]["upn"] is None
    assert {d["asset_id"] for d in body["devices"]} == {p["returned"]["id"], p["held"]["id"]}
    assert [a["id"] for a in body["user_accounts"]] == [p["user_id"]]
    assert len(body["events_by"]) == 3
    for value in (p["name"], p["upn"], p["number"]):
        assert value.lower() not in r.text.lower()
    r = await auditor.get(f"/api/v1/people/{p['id']}/subject-access?format=xlsx")
    assert r.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    cells = " ".join(
        str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row
    ).lower()
    assert "pseudonymised" in cells and p["upn"] not in cells and p["name"].lower() not in cells
