"""Rules `make fuzz` found the document did not state (or the service read loosely), each
checked in the document and in what the service answers."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import httpx
import jsonschema_rs  # schemathesis validates with it (a dev dependency through it)

from tests import factories
from tests.api.test_imports import csv_bytes
from tests.api.test_imports_installs import HEADER as INSTALL_HEADER
from tests.conftest import unique


async def _schemas(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    doc: dict[str, Any] = (await client.get("/schema/openapi.json")).json()
    upload = doc["paths"]["/api/v1/imports"]["post"]["requestBody"]["content"]
    return doc, upload["multipart/form-data"]["schema"]


async def test_only_a_delivery_upload_names_a_location(admin: httpx.AsyncClient) -> None:
    # schemathesis sent a babcock-install upload with a location as schema-valid: refused.
    _, form = await _schemas(admin)
    file = {"file": "x"}

    def valid(fields: dict[str, str]) -> bool:
        return jsonschema_rs.Draft202012Validator(form).is_valid(file | fields)

    assert valid({"profile": "vodafone-despatch", "location": "STORES"})
    assert valid({"profile": "babcock-install"})
    assert valid({"profile": "babcock-install", "location": " "})
    assert not valid({"profile": "babcock-install", "location": "STORES"})
    assert not valid({"profile": "hr-people", "location": "STORES"})

    content = csv_bytes([], INSTALL_HEADER)

    async def send(location: str) -> httpx.Response:
        return await admin.post(
            "/api/v1/imports",
            files={"file": ("installs.csv", content, "text/csv")},
            data={"profile": "babcock-install", "location": location},
        )

    refused = await send("STORES")
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "location"
    blank = await send(" ")
    assert not any(e["field"] == "location" for e in blank.json().get("errors", [])), blank.text


async def test_a_leaving_date_with_active_true_is_refused_as_documented(
    admin: httpx.AsyncClient,
) -> None:
    # schemathesis sent {"active": true, "left_on": ...} as a valid PersonUpdate: refused.
    doc, _ = await _schemas(admin)
    update = doc["components"]["schemas"]["PersonUpdate"]
    rule = jsonschema_rs.Draft202012Validator({"allOf": update["allOf"]})
    assert not rule.is_valid({"active": True, "left_on": "2024-01-01"})
    assert rule.is_valid({"active": False, "left_on": "2024-01-01"})
    assert rule.is_valid({"left_on": "2024-01-01"})  # checked against the stored person
    assert rule.is_valid({"active": True, "left_on": None})
    person = await factories.person()
    r = await admin.patch(
        f"/api/v1/people/{person['id']}", json={"active": True, "left_on": "2024-01-01"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "left_on", r.text
    leaver = await admin.post(
        "/api/v1/people",
        json={"employee_number": unique("E"), "display_name": "x", "active": False},
    )
    assert leaver.status_code == 201, leaver.text
    r = await admin.patch(f"/api/v1/people/{leaver.json()['id']}", json={"left_on": "2024-01-01"})
    assert r.status_code == 200 and r.json()["left_on"] == "2024-01-01", r.text


def test_the_fuzzers_hooks_drop_state_dependent_refusals_only() -> None:
    from tests.fuzz_hooks import filter_failure

    def kept(body: object, sent: object = None) -> bool:
        case = SimpleNamespace(headers={}, body=sent)
        response = SimpleNamespace(status_code=422, content=json.dumps(body).encode())
        return bool(filter_failure(None, SimpleNamespace(code="ST202"), case, response))

    def problems(*messages: str) -> dict[str, Any]:
        return {"errors": [{"field": "f", "message": m} for m in messages]}

    assert not kept(problems("asset 12 is a vehicle dock, which takes no SIM"))
    assert not kept(problems("asset 12 has been disposed of"))
    assert not kept(problems("vehicle AB12CDE is decommissioned; kit cannot be fitted"))
    assert not kept(problems("no location has the code STN-9"))
    leaver = "left_on can only be set when active is false (a leaver)"
    assert not kept(problems(leaver), {"left_on": "2024-01-01"})
    assert kept(problems(leaver), {"active": True, "left_on": "2024-01-01"})
    assert kept(problems("asset 12 is a vehicle dock, which takes no SIM", "bad"))
    # A batch's items compared with each other (make fuzz: 1,997 problems, these among them).
    same = "the same serial number is in items.0 of this batch"
    assert not kept(problems("no device model with id 252913", same))
    assert kept(problems(same, "text is 65 characters; the limit is 64"))
    header = "no header row for babcock-install in the first 50 rows; it needs the columns X"
    assert not kept({"errors": [{"field": "file", "message": header}]})
    assert kept({"errors": [{"field": "file", "message": "a file is required"}]})
    assert kept({"errors": [{"field": "file", "message": header}, {"field": "mode"}]})


async def test_a_serial_twice_in_a_batch_is_a_rule_the_hooks_drop(admin: httpx.AsyncClient) -> None:
    # make fuzz sent "000000\x85" and "000000\x85\x85" in one batch: one serial, trimmed.
    from tests.fuzz_hooks import filter_failure

    model = await factories.device_model()
    serial = unique("S")
    items = [{"model_id": model["id"], "serial_number": serial + "\x85" * n} for n in (1, 2)]
    r = await admin.post("/api/v1/assets/batch", json={"items": items})
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [
        {
            "field": "items.1.serial_number",
            "message": "the same serial number is in items.0 of this batch",
        }
    ]
    case = SimpleNamespace(headers={}, body={"items": items})
    assert not filter_failure(None, SimpleNamespace(code="ST202"), case, r)


async def test_a_disposal_states_its_certificate_and_a_deployment_its_state(
    admin: httpx.AsyncClient,
) -> None:
    # make fuzz (stateful) sent {"to": "deployed"} with no person: a handset needs one, vehicle
    # kit in a vehicle does not (the asset decides: dropped by the hooks). A disposal with no
    # certificate is the body's own fault, so the document states it.
    from tests.fuzz_hooks import filter_failure

    doc, _ = await _schemas(admin)
    rule = jsonschema_rs.Draft202012Validator(doc["components"]["schemas"]["Transition"])
    assert not rule.is_valid({"to": "disposed", "reason": "x"})
    assert not rule.is_valid({"to": "disposed", "reason": "x", "certificate_ref": " \u3000"})
    assert rule.is_valid({"to": "disposed", "reason": "x", "certificate_ref": "WD-1"})
    assert rule.is_valid({"to": "retired", "reason": "x"})
    assert rule.is_valid({"to": "deployed", "reason": "x"})
    retired = await factories.asset(status="retired")
    r = await admin.post(
        f"/api/v1/assets/{retired['id']}/transitions",
        json={"to": "disposed", "reason": "x", "certificate_ref": " \u3000"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "certificate_ref", r.text
    handset = await factories.asset()
    body = {"to": "deployed", "reason": "issued"}
    r = await admin.post(f"/api/v1/assets/{handset['id']}/transitions", json=body)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "person_id", r.text
    case = SimpleNamespace(headers={}, body=body)
    assert not filter_failure(None, SimpleNamespace(code="ST202"), case, r)


async def test_a_write_off_states_its_reason_is_required(admin: httpx.AsyncClient) -> None:
    # schemathesis sent {"reason": ""} as valid: "say why the device is written off".
    doc, _ = await _schemas(admin)
    reason = doc["components"]["schemas"]["WriteOff"]["properties"]["reason"]
    rule = jsonschema_rs.Draft202012Validator(reason)
    assert reason["maxLength"] == 500
    assert not rule.is_valid("") and not rule.is_valid(" \u3000 ")
    assert rule.is_valid("lost in a flood")
    r = await admin.post("/api/v1/recoveries/1/lines/1/write-off", json={"reason": " "})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason", r.text


async def test_if_match_names_its_format_for_generators(admin: httpx.AsyncClient) -> None:
    # schemathesis's coverage phase drew If-Match from letters and digits (its pattern needs
    # quotes) and sent "0" as valid; a registered format makes it draw ETags.
    from api.etags import IF_MATCH_PATTERN

    doc, _ = await _schemas(admin)
    patch = doc["paths"]["/api/v1/business-units/{bu_id}"]["patch"]
    (header,) = [p for p in patch["parameters"] if p["name"] == "If-Match"]
    assert header["schema"] == {"type": "string", "pattern": IF_MATCH_PATTERN, "format": "etag"}


async def test_allow_partial_states_the_words_it_reads(admin: httpx.AsyncClient) -> None:
    # schemathesis sent allow_partial "\u00c2" as valid (any string was): refused.
    from api.imports import _flag

    _, form = await _schemas(admin)
    rule = jsonschema_rs.Draft202012Validator(form["properties"]["allow_partial"])
    for value in ("true", " Yes ", "OFF", "0", "", True, False):
        assert rule.is_valid(value), value
        _flag(str(value), "allow_partial")  # read, not refused
    for value in ("\u00c2", "maybe", "2", "tru", "yes no"):
        assert not rule.is_valid(value), value
    r = await admin.post(
        "/api/v1/imports",
        files={"file": ("x.csv", b"x", "text/csv")},
        data={"profile": "vodafone-despatch", "allow_partial": "\u00c2"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "allow_partial", r.text


async def test_a_seat_states_the_ids_range(admin: httpx.AsyncClient) -> None:
    # schemathesis sent {"asset_id": -2886413354} as valid: "no asset with id -2886413354".
    doc, _ = await _schemas(admin)
    asset_id = doc["components"]["schemas"]["SeatAssign"]["properties"]["asset_id"]
    assert (asset_id["minimum"], asset_id["maximum"]) == (1, 2**31 - 1)
    r = await admin.post("/api/v1/licences/1/seats", json={"asset_id": -2886413354})
    assert r.status_code in (404, 422), r.text
