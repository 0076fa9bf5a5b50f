"""Bad requests a fuzzer (schemathesis) or a careless client sends: each is a named 4xx
problem, never a 500, and never silently read as something the client did not write."""

from __future__ import annotations

from typing import Any

import httpx

from tests import factories
from tests.conftest import ClientFactory, unique

PROBLEM = "application/problem+json"


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert "Traceback" not in r.text
    return body


async def test_deeply_nested_json_is_400_not_500(admin: httpx.AsyncClient) -> None:
    # msgspec gives up on very deep nesting with a RecursionError, which once became a 500.
    deep = b"[" * 100_000 + b"]" * 100_000
    for path in ("/api/v1/business-units", "/api/v1/assets/batch", "/api/v1/mdm/sync"):
        r = await admin.post(path, content=deep, headers={"content-type": "application/json"})
        body = assert_problem(r, 400)
        assert "nested" in body["detail"], body


async def test_if_match_with_thousands_of_digits_is_400_not_500(
    admin: httpx.AsyncClient,
) -> None:
    # Python refuses to read an integer of more than 4,300 digits (a ValueError, once a 500).
    r = await admin.post("/api/v1/business-units", json={"code": unique("IM"), "name": "x"})
    assert r.status_code == 201, r.text
    unit = r.json()
    r = await admin.patch(
        f"/api/v1/business-units/{unit['id']}",
        json={"name": "y"},
        headers={"If-Match": '"' + "9" * 5000 + '"'},
    )
    assert_problem(r, 400)
    # A well-formed ETag that is not the current one is still a 412.
    r = await admin.patch(
        f"/api/v1/business-units/{unit['id']}", json={"name": "y"}, headers={"If-Match": '"7"'}
    )
    assert_problem(r, 412)


async def test_an_id_in_a_path_is_plain_ascii_digits(admin: httpx.AsyncClient) -> None:
    # int() reads "1_0" as 10, "١" (Arabic-Indic one) and "１" (full-width) as 1 and
    # ignores surrounding spaces: each once answered with some other record.
    r = await admin.post("/api/v1/business-units", json={"code": unique("ID"), "name": "x"})
    assert r.status_code == 201, r.text
    unit_id = r.json()["id"]
    assert (await admin.get(f"/api/v1/business-units/{unit_id}")).status_code == 200
    digits = str(unit_id)
    for raw in (
        f"{digits[0]}_{digits[1:]}" if len(digits) > 1 else f"0_{digits}",
        "".join(chr(0x0660 + int(d)) for d in digits),
        "".join(chr(0xFF10 + int(d)) for d in digits),
        f"%20{digits}",
        f"{digits}%0A",
        f"+{digits}",
    ):
        r = await admin.get(f"/api/v1/business-units/{raw}")
        body = assert_problem(r, 404)
        assert "no route" in body["detail"], (raw, body)
    r = await admin.get(f"/api/v1/business-units/0{digits}")  # leading zeros are still digits
    assert r.status_code == 200, r.text


async def test_a_query_parameter_given_twice_is_422_naming_it(admin: httpx.AsyncClient) -> None:
    # Litestar keeps the last of repeated values: ?limit=1&limit=2 listed two items.
    for url, field in [
        ("/api/v1/business-units?limit=1&limit=2", "limit"),
        ("/api/v1/assets?status=in_stock&status=deployed", "status"),
        ("/api/v1/people?cursor=azE6MQ&cursor=azE6Mg", "cursor"),
    ]:
        body = assert_problem(await admin.get(url), 422)
        assert body["errors"] == [{"field": field, "message": "is given more than once"}], url


async def test_an_empty_body_is_named_not_a_bare_key(admin: httpx.AsyncClient) -> None:
    # Litestar reports a missing body as the KeyError "'data'".
    r = await admin.post(
        "/api/v1/business-units", content=b"", headers={"content-type": "application/json"}
    )
    body = assert_problem(r, 422)
    assert body["errors"] == [{"field": "body", "message": "a JSON request body is required"}]


async def test_an_optional_body_is_not_reported_missing(admin: httpx.AsyncClient) -> None:
    # The commit body is optional: a bad query parameter is the only problem.
    r = await admin.post("/api/v1/imports/1/commit?allow_partial=maybe")
    body = assert_problem(r, 422)
    assert [e["field"] for e in body["errors"]] == ["allow_partial"], body


async def test_options_is_not_refused_to_an_admin(
    admin: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    # Litestar's own OPTIONS handler declares no roles: the guard once answered an
    # admin "the admin role may not do this".
    r = await admin.options("/api/v1/assets")
    assert r.status_code == 204, r.text
    assert "OPTIONS" in r.headers["allow"]
    assert (await (await client_for("auditor")).options("/api/v1/tokens")).status_code == 204
    r = await admin.options("/api/v1/assets/1", headers={"Authorization": "Bearer nope"})
    assert_problem(r, 401)


async def test_dates_outside_the_register_years_are_422_not_infinity_or_500(
    admin: httpx.AsyncClient,
) -> None:
    # asyncpg stores date.max (9999-12-31) and date.min (0001-01-01) as PostgreSQL's
    # infinity, which the asset document then showed as "infinity"; and a delivery in
    # 9999 plus a 36-month lifecycle made a refresh date Python cannot read (a 500).
    model = await factories.device_model(lifecycle_months=36)
    asset = {"model_id": model["id"], "serial_number": unique("DT")}
    for body, field in [
        ({**asset, "delivered_on": "9999-12-31"}, "delivered_on"),
        ({**asset, "delivered_on": "9999-06-01"}, "delivered_on"),
        ({**asset, "refresh_due_override": "0001-01-01"}, "refresh_due_override"),
    ]:
        body_ = assert_problem(await admin.post("/api/v1/assets", json=body), 422)
        assert [e["field"] for e in body_["errors"]] == [field], body_
    r = await admin.post(
        "/api/v1/assets/batch", json={"items": [{**asset, "delivered_on": "9999-12-31"}]}
    )
    assert [e["field"] for e in assert_problem(r, 422)["errors"]] == ["items.0.delivered_on"]
    made = await admin.post("/api/v1/assets", json={**asset, "delivered_on": "2022-11-14"})
    assert made.status_code == 201, made.text
    r = await admin.patch(
        f"/api/v1/assets/{made.json()['id']}", json={"delivered_on": "9999-12-31"}
    )
    assert_problem(r, 422)
    supplier = await factories.supplier()
    contract = {"reference": unique("C"), "supplier_id": supplier["id"], "kind": "airtime"}
    r = await admin.post("/api/v1/contracts", json={**contract, "starts_on": "0001-01-01"})
    assert [e["field"] for e in assert_problem(r, 422)["errors"]] == ["starts_on"]
    r = await admin.post(
        "/api/v1/contracts", json={**contract, "starts_on": "2024-01-01", "ends_on": "9999-12-31"}
    )
    assert [e["field"] for e in assert_problem(r, 422)["errors"]] == ["ends_on"]
    c = await factories.contract()
    r = await admin.post(
        "/api/v1/purchase-orders",
        json={"number": unique("PO"), "contract_id": c["id"], "raised_on": "9999-12-31"},
    )
    assert [e["field"] for e in assert_problem(r, 422)["errors"]] == ["raised_on"]
    r = await admin.post(
        "/api/v1/people",
        json={
            "employee_number": unique("E"),
            "display_name": "A Leaver",
            "active": False,
            "left_on": "9999-12-31",
        },
    )
    assert [e["field"] for e in assert_problem(r, 422)["errors"]] == ["left_on"]
    vehicle = await factories.vehicle()
    tablet = await factories.asset(model=await factories.device_model("ivma_tablet"))
    r = await admin.post(
        f"/api/v1/vehicles/{vehicle['id']}/installs",
        json={
            "job_reference": unique("J"),
            "tablet_id": tablet["id"],
            "installed_on": "0001-01-01",
        },
    )
    assert [e["field"] for e in assert_problem(r, 422)["errors"]] == ["installed_on"]
