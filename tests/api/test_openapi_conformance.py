"""The OpenAPI document says what the handlers answer: every status, body and media type
(schemathesis's status-code and content-type checks against /schema/openapi.json)."""

from __future__ import annotations

import inspect
from typing import Any

import httpx
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
