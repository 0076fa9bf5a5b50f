"""The OpenAPI document says what the handlers answer: every status, body and media type
(schemathesis's status-code and content-type checks against /schema/openapi.json)."""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

import httpx
import pytest
from litestar import Litestar

from tests.conftest import ClientFactory, unique

PROBLEM = "application/problem+json"


async def _doc(client: httpx.AsyncClient) -> dict[str, Any]:
    doc: dict[str, Any] = (await client.get("/schema/openapi.json")).json()
    return doc


def _operation(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    operation: dict[str, Any] = doc["paths"][path][method.lower()]
    return operation


async def test_each_status_an_operation_answers_is_documented(
    admin: httpx.AsyncClient, anon: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    doc = await _doc(admin)
    auditor = await client_for("auditor")
    unit = await admin.post("/api/v1/business-units", json={"code": unique("OA"), "name": "x"})
    assert unit.status_code == 201, unit.text
    unit_id = unit.json()["id"]
    cases: list[tuple[httpx.Response, str, str]] = [
        (await anon.get("/api/v1/assets"), "GET", "/api/v1/assets"),
        (await auditor.post("/api/v1/assets", json={}), "POST", "/api/v1/assets"),
        (await admin.get("/api/v1/assets?limit=0"), "GET", "/api/v1/assets"),
        (await admin.get("/api/v1/assets/2000000000"), "GET", "/api/v1/assets/{asset_id}"),
        (
            await admin.post(
                "/api/v1/business-units", json={"code": unit.json()["code"]} | {"name": "y"}
            ),
            "POST",
            "/api/v1/business-units",
        ),
        (
            await admin.patch(
                f"/api/v1/business-units/{unit_id}", json={"name": "z"}, headers={"If-Match": '"9"'}
            ),
            "PATCH",
            "/api/v1/business-units/{bu_id}",
        ),
        (
            await admin.post(
                "/api/v1/business-units",
                content=b'{"code": "' + b"x" * (6 * 1024 * 1024) + b'"}',
                headers={"content-type": "application/json"},
            ),
            "POST",
            "/api/v1/business-units",
        ),
        (
            await admin.post(
                "/api/v1/business-units",
                content=b'{"code": ',
                headers={"content-type": "application/json"},
            ),
            "POST",
            "/api/v1/business-units",
        ),
        (
            await admin.post(f"/api/v1/sims/{2**31 - 1}/removal"),
            "POST",
            "/api/v1/sims/{sim_id}/removal",
        ),
    ]
    seen = set()
    for r, method, path in cases:
        assert r.status_code >= 400 and r.headers["content-type"].startswith(PROBLEM), r.text
        responses = _operation(doc, method, path)["responses"]
        assert str(r.status_code) in responses, (method, path, r.status_code, sorted(responses))
        assert list(responses[str(r.status_code)]["content"]) == [PROBLEM]
        seen.add(r.status_code)
    assert seen == {400, 401, 403, 404, 409, 412, 413, 422}


async def test_actions_document_the_200_they_answer(admin: httpx.AsyncClient) -> None:
    # Litestar documents a POST as 201 unless told; these answer 200 (nothing is created).
    doc = await _doc(admin)
    for path in (
        "/api/v1/assets/{asset_id}/transitions",
        "/api/v1/sims/{sim_id}/fitting",
        "/api/v1/sims/{sim_id}/removal",
        "/api/v1/installs/{install_id}/removal",
    ):
        responses = _operation(doc, "POST", path)["responses"]
        assert "200" in responses and "201" not in responses, (path, sorted(responses))
    model = await admin.post(
        "/api/v1/models",
        json={"manufacturer": "Acme", "model_name": unique("M"), "category": "smartphone"},
    )
    asset = await admin.post(
        "/api/v1/assets", json={"model_id": model.json()["id"], "serial_number": unique("S")}
    )
    r = await admin.post(
        f"/api/v1/assets/{asset.json()['id']}/transitions", json={"to": "staging", "reason": "x"}
    )
    assert r.status_code == 200, r.text


async def test_if_match_is_a_documented_header_where_it_is_read(admin: httpx.AsyncClient) -> None:
    doc = await _doc(admin)
    honoured = {
        (method, path)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if any(p["in"] == "header" and p["name"] == "If-Match" for p in op.get("parameters", []))
    }
    assert ("post", "/api/v1/assets/{asset_id}/transitions") in honoured
    assert ("post", "/api/v1/sims/{sim_id}/removal") in honoured
    patches = {(m, p) for p, item in doc["paths"].items() for m in item if m == "patch"}
    assert patches <= honoured
    for method, path in honoured:
        assert {"400", "412"} <= set(doc["paths"][path][method]["responses"]), path


async def test_the_upload_documents_its_multipart_form(admin: httpx.AsyncClient) -> None:
    doc = await _doc(admin)
    body = _operation(doc, "POST", "/api/v1/imports")["requestBody"]
    form = body["content"]["multipart/form-data"]["schema"]
    assert set(form["required"]) == {"file", "profile"}
    assert {"file", "profile", "mode", "allow_partial"} <= set(form["properties"])
    # ... and the problems it answers, such as a body that is not multipart.
    r = await admin.post("/api/v1/imports", json={"file": "x"})
    assert r.status_code == 400, r.text
    assert "400" in _operation(doc, "POST", "/api/v1/imports")["responses"]


async def test_every_handler_that_reads_if_match_documents_it(app: Litestar) -> None:
    from api.etags import HonoursIfMatch

    readers = 0
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if "if_match(request)" in inspect.getsource(handler.fn):
                assert handler.operation_class is HonoursIfMatch, route.path
                readers += 1
    assert readers >= 11


async def test_ready_documents_its_503(anon: httpx.AsyncClient) -> None:
    responses = _operation(await _doc(anon), "GET", "/ready")["responses"]
    assert list(responses["503"]["content"]) == [PROBLEM]


async def test_forecast_csv_has_one_charset(admin: httpx.AsyncClient) -> None:
    # The CSV's media type carried its charset and Litestar added another:
    # "text/csv; charset=utf-8; charset=utf-8".
    r = await admin.get("/api/v1/forecasts/refresh?from=2024/25&format=csv")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    r = await admin.get("/api/v1/forecasts/recurring", headers={"Accept": "text/csv"})
    assert r.headers["content-type"] == "text/csv; charset=utf-8"


async def test_forecast_files_are_documented(admin: httpx.AsyncClient) -> None:
    # format=csv|xlsx (or Accept) answer CSV or a workbook; the document listed only JSON.
    doc = await _doc(admin)
    for path in ("/api/v1/forecasts/refresh", "/api/v1/forecasts/recurring"):
        content = _operation(doc, "GET", path)["responses"]["200"]["content"]
        assert set(content) == {
            "application/json",
            "text/csv",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }, path


async def test_limit_range_and_the_optional_commit_body_are_documented(
    admin: httpx.AsyncClient,
) -> None:
    # schemathesis sent limit=0 (allowed by the document, refused by every list) and a
    # commit without a body (refused by the document, accepted by the handler).
    doc = await _doc(admin)
    lists = [
        (path, op)
        for path, item in doc["paths"].items()
        for op in item.values()
        if any(p["name"] == "limit" for p in op.get("parameters", []))
    ]
    assert len(lists) > 15
    for path, op in lists:
        (limit,) = [p for p in op["parameters"] if p["name"] == "limit"]
        assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 1000), path
    body = _operation(doc, "POST", "/api/v1/imports/{import_id}/commit")["requestBody"]
    assert body["required"] is False
    r = await admin.get("/api/v1/assets?limit=0")
    assert r.status_code == 422 and r.json()["errors"][0]["message"] == (
        "limit must be from 1 to 1000"
    )


# --- the document states every rule the service enforces (schemathesis's ST202/ST203) ---


def _parameter(doc: dict[str, Any], method: str, path: str, name: str) -> dict[str, Any]:
    (found,) = [p for p in _operation(doc, method, path)["parameters"] if p["name"] == name]
    schema: dict[str, Any] = found["schema"]
    return schema


async def test_if_match_is_an_etag_as_the_document_says(admin: httpx.AsyncClient) -> None:
    # schemathesis sent If-Match: W/"" (allowed by a bare string, refused); the service read
    # a bare 3 and ""3"" as "3" (refused by the document's pattern, accepted).
    doc = await _doc(admin)
    path = "/api/v1/business-units/{bu_id}"
    (header,) = [p for p in _operation(doc, "PATCH", path)["parameters"] if p["name"] == "If-Match"]
    pattern = re.compile(header["schema"]["pattern"])
    unit = await admin.post("/api/v1/business-units", json={"code": unique("IM"), "name": "x"})
    url = f"/api/v1/business-units/{unit.json()['id']}"
    for value in ("3", '""1""', 'W/""', "", '"1", "2"', '"1"x'):
        assert not pattern.fullmatch(value), value
        r = await admin.patch(url, json={"name": "y"}, headers={"If-Match": value})
        assert r.status_code == 400, (value, r.text)
    for value, status in (('"1"', 200), ('W/"2"', 200), ('"1"', 412), ("*", 200)):
        assert pattern.fullmatch(value), value
        r = await admin.patch(url, json={"name": "z"}, headers={"If-Match": value})
        assert r.status_code == status, (value, r.text)


def test_every_cursor_the_service_issues_matches_the_documented_pattern() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from fleetsvc.pagination import CURSOR_PATTERN, decode_cursor, encode_cursor

    pattern = re.compile(CURSOR_PATTERN)
    for n in (1, 9, 10, 99, 100, 12345, 999_999_999, *range(1, 1200, 7)):
        assert pattern.fullmatch(encode_cursor(n)), n
    assert not pattern.fullmatch(encode_cursor(10**9))  # past every record id

    @settings(max_examples=300, deadline=None)
    @given(st.from_regex(CURSOR_PATTERN, fullmatch=True))
    def each_match_is_read(cursor: str) -> None:
        assert cursor == "" or 0 <= decode_cursor(cursor) < 10**9

    each_match_is_read()


async def test_cursor_is_documented_on_every_list(admin: httpx.AsyncClient) -> None:
    from fleetsvc.pagination import CURSOR_PATTERN

    doc = await _doc(admin)
    lists = [
        op
        for item in doc["paths"].values()
        for op in item.values()
        if any(p["name"] == "cursor" for p in op.get("parameters", []))
    ]
    assert len(lists) > 15
    for op in lists:
        (cursor,) = [p for p in op["parameters"] if p["name"] == "cursor"]
        assert cursor["schema"]["pattern"] == CURSOR_PATTERN, op["operationId"]
    r = await admin.get("/api/v1/business-units?cursor=AAAA")
    assert r.status_code == 422 and not re.fullmatch(CURSOR_PATTERN, "AAAA")


async def test_request_bodies_take_no_other_fields(admin: httpx.AsyncClient) -> None:
    # schemathesis sent {"": {...}} and other unknown fields: refused (422), while the
    # document allowed any additional property.
    doc = await _doc(admin)
    schemas = doc["components"]["schemas"]
    for name in ("BusinessUnitCreate", "AssetUpdate", "ChargeIn", "TokenCreate", "Transition"):
        assert schemas[name]["additionalProperties"] is False, name
    assert "additionalProperties" not in schemas["BusinessUnit"]  # an answer, not a request
    r = await admin.post("/api/v1/business-units", json={"code": unique("AP"), "name": "x", "": 1})
    assert r.status_code == 422, r.text


async def test_vocabularies_and_ranges_of_queries_are_enums_and_patterns(
    admin: httpx.AsyncClient,
) -> None:
    from fleetsvc.finance.fiscal import FY_PATTERN, fy_label, parse_fy

    doc = await _doc(admin)
    jobs = _parameter(doc, "GET", "/api/v1/jobs", "status")
    assert jobs["enum"] == ["queued", "running", "succeeded", "failed", "cancelled"]
    refresh = "/api/v1/forecasts/refresh"
    assert _parameter(doc, "GET", refresh, "group_by")["enum"] == [
        "model",
        "category",
        "contract",
        "business_unit",
    ]
    assert _parameter(doc, "GET", refresh, "format")["enum"] == ["json", "csv", "xlsx"]
    years = re.compile(_parameter(doc, "GET", refresh, "years")["pattern"])
    assert [n for n in range(-1, 40) if years.fullmatch(str(n))] == list(range(1, 21))
    assert _parameter(doc, "GET", refresh, "from")["pattern"] == FY_PATTERN
    fy = re.compile(FY_PATTERN)
    for year in range(1900, 9899):
        assert fy.fullmatch(fy_label(year)) and parse_fy(fy_label(year)) == year
    for text in ("2025/27", "1899/00", "2025-26", "٢٠٢٥/٢٦", "9950/51", "2025/26\n"):
        assert not fy.fullmatch(text), text
    token = doc["components"]["schemas"]["TokenCreate"]["properties"]
    assert token["role"]["enum"] == ["admin", "engineer", "stores", "finance", "mdm", "auditor"]
    for query in ("years=", "group_by=", "format=", "from=%D9%A2%D9%A0%D9%A2%D9%A5/%D9%A2%D9%A6"):
        r = await admin.get(f"{refresh}?{query}")
        assert r.status_code == 422, (query, r.text)
    assert (await admin.get("/api/v1/jobs?status=")).status_code == 422


def test_the_text_pattern_is_the_text_rule() -> None:
    # schemathesis sent "" and control characters where the document allowed any string.
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from fleetsvc.checks import Problems, text, text_pattern

    required, optional = re.compile(text_pattern()), re.compile(text_pattern(required=False))

    @settings(max_examples=1500, deadline=None)
    @given(st.text(max_size=12) | st.from_regex(text_pattern(), fullmatch=True))
    def same_verdict(value: str) -> None:
        for pattern, needed in ((required, True), (optional, False)):
            p = Problems()
            text(p, "f", value, max_len=1000, required=needed)
            assert bool(pattern.fullmatch(value)) == (not p.items), (value, needed)

    same_verdict()
    p = Problems()
    text(p, "f", " abc ", max_len=4)  # the length is the value's as sent
    assert p.items


def test_identifier_patterns_are_read_by_their_normalisers() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from fleetsvc import identifiers
    from importers.fields import (
        FieldError,
        luhn_check_digit,
        normalise_iccid,
        normalise_imei,
        normalise_msisdn,
        normalise_serial,
        normalise_vrm,
    )

    def valid(rule: dict[str, Any]) -> st.SearchStrategy[str]:
        return st.from_regex(rule["pattern"], fullmatch=True).filter(
            lambda v: len(v) <= rule.get("maxLength", len(v))
        )

    @settings(max_examples=300, deadline=None)
    @given(valid(identifiers.SERIAL), valid(identifiers.VRM), valid(identifiers.MSISDN))
    def read(serial: str, vrm: str, msisdn: str) -> None:
        normalise_serial(serial)
        normalise_vrm(vrm)
        normalise_msisdn(msisdn)

    read()
    for body in ("35209912000008", "894410000000000000", "8944100000000000001"):
        full = body + luhn_check_digit(body)
        rule = identifiers.IMEI if len(full) == 15 else identifiers.ICCID
        assert re.fullmatch(rule["pattern"], full)
        (normalise_imei if len(full) == 15 else normalise_iccid)(full)
    for rule in (identifiers.SERIAL, identifiers.VRM, identifiers.MSISDN, identifiers.IMEI):
        assert not re.fullmatch(rule["pattern"], "")
    # The serial's limit is the trimmed serial's, as the normaliser counts it.
    assert re.fullmatch(identifiers.SERIAL["pattern"], "\x85" + "A" * 64 + "\x85 ")
    normalise_serial("\x85" + "A" * 64 + "\x85 ")
    assert not re.fullmatch(identifiers.SERIAL["pattern"], " " + "A" * 65)
    with pytest.raises(FieldError):
        normalise_serial(" " + "A" * 65)


async def test_identifier_filters_and_fields_state_their_rules(admin: httpx.AsyncClient) -> None:
    # schemathesis sent serial=, iccid= and vrm= (an empty string the document allowed).
    from fleetsvc import identifiers

    doc = await _doc(admin)
    assert (
        _parameter(doc, "GET", "/api/v1/assets", "serial")["pattern"]
        == (identifiers.SERIAL["pattern"])
    )
    assert _parameter(doc, "GET", "/api/v1/assets", "imei")["format"] == "imei"
    assert _parameter(doc, "GET", "/api/v1/sims", "iccid")["format"] == "iccid"
    assert (
        _parameter(doc, "GET", "/api/v1/vehicles", "vrm")["pattern"] == identifiers.VRM["pattern"]
    )
    empty = ("serial", "assets"), ("iccid", "sims"), ("vrm", "vehicles"), ("msisdn", "sims")
    for query in (f"/api/v1/{where}?{name}=" for name, where in empty):
        assert (await admin.get(query)).status_code == 422, query
    schemas = doc["components"]["schemas"]
    asset = schemas["AssetCreate"]["properties"]
    assert asset["serial_number"]["pattern"] == identifiers.SERIAL["pattern"]
    assert re.fullmatch(asset["imei"]["pattern"], "")  # an empty IMEI is none
    assert asset["delivered_on"]["pattern"].startswith("^(?:1990|")
    for name, field in (("BusinessUnitCreate", "code"), ("LocationCreate", "code")):
        pattern = re.compile(schemas[name]["properties"][field]["pattern"])
        assert (
            pattern.fullmatch("stn-1") and not pattern.fullmatch("") and not pattern.fullmatch("ÄB")
        )
    r = await admin.post("/api/v1/business-units", json={"code": "ÄB", "name": "x"})
    assert r.status_code == 422, r.text  # an ASCII code, as the document says
    r = await admin.post("/api/v1/business-units", json={"code": "---", "name": "x"})
    assert r.status_code == 422, r.text
    person = schemas["PersonCreate"]["properties"]
    assert person["business_unit_id"]["minimum"] == 1
    upn = re.compile(person["upn"]["pattern"])
    assert upn.fullmatch("a.smith@force.police.uk") and not upn.fullmatch("a smith@x.uk")


async def test_lists_ranges_and_rules_across_fields_are_documented(
    admin: httpx.AsyncClient,
) -> None:
    # schemathesis sent an empty batch and scan, seats 0, an empty run_id, and a leaving
    # date for someone active: each allowed by the document, each refused.
    from fleetsvc.mdm.runs import RUN_KEY_PATTERN

    schemas = (await _doc(admin))["components"]["schemas"]
    items = schemas["AssetBatch"]["properties"]["items"]
    assert (items["minItems"], items["maxItems"]) == (1, 1000)
    codes = schemas["ScanBatch"]["properties"]["codes"]
    assert codes["minItems"] == 1 and codes["items"]["maxLength"] == 64
    seats = schemas["LicencePoolCreate"]["properties"]["seats"]
    assert (seats["minimum"], seats["maximum"]) == (1, 10_000_000)
    assert schemas["SyncBatch"]["properties"]["run_id"]["pattern"] == RUN_KEY_PATTERN
    assert not re.fullmatch(RUN_KEY_PATTERN, "")
    line = schemas["OrderLineIn"]["properties"]
    assert line["quantity"]["minimum"] == 1 and line["unit_cost"]["pattern"]
    assert schemas["DeviceModelCreate"]["properties"]["aliases"]["items"]["maxLength"] == 300
    assert schemas["PersonCreate"]["allOf"] == [
        {
            "anyOf": [
                {"properties": {"active": {"const": False}}, "required": ["active"]},
                {"properties": {"left_on": {"type": "null"}}},
            ]
        }
    ]
    (person_only,) = schemas["Transition"]["allOf"][0]["anyOf"][1]["properties"]
    assert person_only == "person_id"
    assert "allOf" in schemas["SyncBatch"] and "allOf" in schemas["AssetCreate"]
    r = await admin.post("/api/v1/mdm/sync", json={"run_id": "no-such-run", "final": True})
    assert r.status_code == 404, r.text
    doc = await _doc(admin)
    assert "404" in _operation(doc, "POST", "/api/v1/mdm/sync")["responses"]
    upload = _operation(doc, "POST", "/api/v1/imports")["requestBody"]["content"]
    profile = upload["multipart/form-data"]["schema"]["properties"]["profile"]
    assert "vodafone-despatch" in profile["enum"]
    person = {"employee_number": unique("E"), "display_name": "x", "left_on": "2024-01-01"}
    assert (await admin.post("/api/v1/people", json=person)).status_code == 422
    r = await admin.post("/api/v1/people", json=person | {"active": False})
    assert r.status_code == 201, r.text
    r = await admin.post("/api/v1/mdm/sync", json={"run_id": ""})
    assert r.status_code == 422, r.text


def test_the_fuzzers_hooks_drop_only_what_no_schema_states() -> None:
    from types import SimpleNamespace

    from tests.fuzz_hooks import filter_failure

    def failure(status: int, body: object, headers: dict[str, str] | None = None) -> bool:
        case = SimpleNamespace(headers=headers or {})
        response = SimpleNamespace(status_code=status, content=json.dumps(body).encode())
        kept: bool = filter_failure(None, SimpleNamespace(code="ST202"), case, response)
        return kept

    def problems(*messages: str) -> dict[str, Any]:
        return {"errors": [{"field": "f", "message": m} for m in messages]}

    # If-Match's format makes the fuzzer send ETags: a refused If-Match is not dropped.
    assert failure(400, {}, {"If-Match": "0"})
    assert failure(400, {}, {"If-Match": '"0"'})
    assert not failure(422, problems("no supplier with id 77"))
    assert not failure(422, problems("IMEI check digit is wrong: expected 4"))
    assert not failure(422, problems("Expected `int`, got `float`"))
    assert not failure(
        422, problems("an asset with this serial number is already registered (id 4)")
    )
    assert not failure(422, problems("the dock cannot be the tablet"))
    assert not failure(422, problems("device model 1 is already on line 0; one line per model"))
    assert not failure(422, problems("ends_on must be on or after starts_on"))
    renamed = (
        "no location was named, and the default location STORES (FLEETSVC_DEFAULT_LOCATION)"
        " does not exist: name a location, or create one with the code STORES"
    )
    assert not failure(422, problems(renamed))
    assert failure(422, problems("no supplier with id 77", "name must not be empty"))
    assert failure(422, problems("reference must not be empty"))
    assert failure(422, {"detail": "x"})


async def test_token_names_batches_files_and_free_text_state_their_rules(
    admin: httpx.AsyncClient,
) -> None:
    # schemathesis sent a token name with a private-use character, batch 0, an empty
    # file and a NUL in a free-text filter.
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from api.parameters import NO_NUL
    from fleetsvc.checks import name_pattern

    doc = await _doc(admin)
    schemas = doc["components"]["schemas"]
    assert schemas["TokenCreate"]["properties"]["name"]["pattern"] == name_pattern()
    name = re.compile(name_pattern())

    @settings(max_examples=500, deadline=None)
    @given(st.text(max_size=8) | st.from_regex(name_pattern(), fullmatch=True))
    def accepted_when_it_matches(value: str) -> None:
        if name.fullmatch(value) and value.isprintable():
            assert value.strip()  # what matches and is printable is a name
        if value.strip() and value.isprintable() and value.isascii():
            assert name.fullmatch(value), value  # every printable ASCII name matches

    accepted_when_it_matches()
    batch = schemas["SyncBatch"]["properties"]["batch"]
    assert (batch["minimum"], batch["maximum"]) == (1, 1_000_000)
    form = _operation(doc, "POST", "/api/v1/imports")["requestBody"]["content"]
    assert form["multipart/form-data"]["schema"]["properties"]["file"]["minLength"] == 1
    assert _parameter(doc, "GET", "/api/v1/stocktakes", "location")["pattern"] == NO_NUL
    assert _parameter(doc, "GET", "/api/v1/mdm/runs/{run_key}", "run_key")["pattern"] == NO_NUL
    assert "pattern" not in _parameter(doc, "GET", "/api/v1/assets", "refresh_due_before")
    assert (await admin.get("/api/v1/stocktakes?location=a%00b")).status_code == 422


async def test_money_is_what_its_column_holds(admin: httpx.AsyncClient) -> None:
    # schemathesis sent 12 digits of pounds for a charge: the document and money() allowed
    # them, numeric(12, 2) did not ("a value in the request is out of range").
    from fleetsvc.checks import money_pattern

    schemas = (await _doc(admin))["components"]["schemas"]
    charge = re.compile(schemas["ChargeIn"]["properties"]["unit_amount"]["pattern"])
    assert charge.fullmatch("9999999999.99") and not charge.fullmatch("10000000000")
    assert schemas["ContractCreate"]["properties"]["value_cap"]["pattern"] == money_pattern(12)
    model = {"manufacturer": "Acme", "model_name": unique("M"), "category": "smartphone"}
    r = await admin.post("/api/v1/models", json=model | {"replacement_cost": "123456789012"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [
        {
            "field": "replacement_cost",
            "message": "replacement_cost must be at most £9,999,999,999.99",
        }
    ]


async def test_a_job_id_beyond_the_ids_range_is_not_found(admin: httpx.AsyncClient) -> None:
    # schemathesis sent GET /jobs/2478538953: the driver's "out of range" answered 422,
    # which the operation did not document.
    assert (await admin.get("/api/v1/jobs/2478538953")).status_code == 404
    assert (await admin.post("/api/v1/jobs/1582955641887798/cancel")).status_code == 404


async def test_a_location_code_is_32_characters_as_sent(admin: httpx.AsyncClient) -> None:
    # schemathesis sent a code padded with U+0085 past the documented maxLength: accepted.
    code = "\u0085" + "A" * 31 + "\u0085"
    r = await admin.post("/api/v1/locations", json={"code": code, "name": "x"})
    assert r.status_code == 422, r.text


def _nullable_enum_properties(node: Any, where: str = "") -> list[tuple[str, list[Any]]]:
    """Every property that may be null (a ``{"type": "null"}`` arm) and has an enum."""
    found: list[tuple[str, list[Any]]] = []
    if isinstance(node, dict):
        arms = node.get("oneOf") or node.get("anyOf") or []
        may_be_null = any(isinstance(a, dict) and a.get("type") == "null" for a in arms)
        if may_be_null and "enum" in node:
            found.append((where, node["enum"]))
        for key, value in node.items():
            found += _nullable_enum_properties(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _nullable_enum_properties(value, f"{where}/{i}")
    return found


async def test_a_field_that_may_be_null_lists_null_among_its_words(
    admin: httpx.AsyncClient,
) -> None:
    # An enum beside the oneOf applies to the whole value: without null in it, every null the
    # service answers (an open recovery case's reason) violates the document.
    doc = await _doc(admin)
    found = _nullable_enum_properties(doc["components"]["schemas"])
    assert found, "no nullable vocabulary field found: the walk no longer matches the document"
    assert [where for where, enum in found if None not in enum] == []
