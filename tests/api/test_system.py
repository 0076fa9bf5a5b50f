"""Probes, problem responses for bad requests, request ids, metrics, OpenAPI."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.readme import without_refused

PROBLEM = "application/problem+json"
README = Path(__file__).resolve().parents[2] / "README.md"


async def test_health_is_up(anon: httpx.AsyncClient) -> None:
    r = await anon.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


async def test_ready_when_migrated(anon: httpx.AsyncClient) -> None:
    r = await anon.get("/ready")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ready", "database": "ok", "pending_migrations": 0}


async def test_ready_is_503_while_a_migration_is_pending(
    anon: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica whose code knows a migration the database has not had is not ready."""
    from api import system
    from db.migrate import known_migration_ids

    monkeypatch.setattr(system, "_KNOWN", {*known_migration_ids(), "2099-01-01T00:00:00:000000"})
    r = await anon.get("/ready")
    assert r.status_code == 503 and r.headers["content-type"].startswith(PROBLEM)
    assert "1 migration(s) not yet applied" in r.json()["detail"]
    assert r.headers["retry-after"] == "5"


async def test_unknown_route_is_problem_404(anon: httpx.AsyncClient) -> None:
    r = await anon.get("/api/v1/no-such-thing")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == 404 and body["type"].startswith("urn:fleetsvc:problem:")
    assert "Traceback" not in r.text


async def test_wrong_method_is_problem_405(anon: httpx.AsyncClient) -> None:
    r = await anon.delete("/health")
    assert r.status_code == 405
    assert r.headers["content-type"].startswith(PROBLEM)


async def test_no_token_is_401(anon: httpx.AsyncClient) -> None:
    r = await anon.get("/api/v1/events")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.headers["www-authenticate"] == "Bearer"


async def test_bad_token_is_401(anon: httpx.AsyncClient) -> None:
    r = await anon.get("/api/v1/events", headers={"Authorization": "Bearer fsv_not-a-real-token"})
    assert r.status_code == 401


async def test_malformed_json_is_400_saying_where(admin: httpx.AsyncClient) -> None:
    r = await admin.post(
        "/api/v1/tokens",
        content=b'{"name": "x", "role": ',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert "JSON" in r.json()["detail"] or "char" in r.json()["detail"]


async def test_wrong_types_are_422_with_fields(admin: httpx.AsyncClient) -> None:
    r = await admin.post("/api/v1/tokens", json={"name": 5, "role": "admin"})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["errors"][0]["field"] == "name"


async def test_oversized_body_is_413(admin: httpx.AsyncClient) -> None:
    big = b'{"name": "' + b"x" * (6 * 1024 * 1024) + b'", "role": "admin"}'
    r = await admin.post(
        "/api/v1/tokens", content=big, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["detail"] == "the request body is larger than this service accepts (5 MiB)"


async def test_request_id_echoed_or_generated(anon: httpx.AsyncClient) -> None:
    r = await anon.get("/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await anon.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces"
    assert len(r.headers["x-request-id"]) == 32


async def test_metrics_count_requests(anon: httpx.AsyncClient) -> None:
    await anon.get("/health")
    r = await anon.get("/metrics")
    assert r.status_code == 200
    assert "fleetsvc_requests_total" in r.text
    assert 'path="/health"' in r.text
    # Ids never become label values: routes are counted by their template.
    await anon.get("/api/v1/events/123456")
    r = await anon.get("/metrics")
    # Only our own series' labels: the process's memory figures may hold any digits.
    ours = [line for line in r.text.splitlines() if line.startswith("fleetsvc_")]
    assert ours and not [line for line in ours if "123456" in line]
    assert 'path="unmatched"' in r.text


async def test_openapi_document_and_docs_page(anon: httpx.AsyncClient) -> None:
    r = await anon.get("/schema/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert "/api/v1/tokens" in doc["paths"]
    ops = [op.get("operationId") for p in doc["paths"].values() for op in p.values()]
    assert all(ops), "every operation has an explicit operation_id"
    page = await anon.get("/schema")
    assert page.status_code == 200 and "<html" in page.text.lower()


async def test_ids_out_of_range_are_4xx_not_500(admin: httpx.AsyncClient) -> None:
    for path in ("/api/v1/business-units/99999999999", "/api/v1/tokens/99999999999/revoke"):
        r = await (admin.get(path) if "revoke" not in path else admin.post(path))
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)


async def test_openapi_documents_errors_as_the_problems_sent(admin: httpx.AsyncClient) -> None:
    doc = (await admin.get("/schema/openapi.json")).json()
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    errors = [
        (path, code, response)
        for path, item in doc["paths"].items()
        for op in item.values()
        for code, response in op.get("responses", {}).items()
        if code[0] in "45"
    ]
    assert any(path == "/api/v1/business-units/{bu_id}" for path, _, _ in errors)
    for path, code, response in errors:
        assert list(response["content"]) == [PROBLEM], (path, code)
        assert response["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
    # ... which is what a bad body gets.
    r = await admin.post(
        "/api/v1/business-units", content=b"\x00", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.headers["content-type"].startswith(PROBLEM)
    assert set(problem["required"]) <= set(r.json())


async def test_nul_in_a_query_or_path_parameter_is_422_naming_it(
    admin: httpx.AsyncClient,
) -> None:
    # PostgreSQL cannot store or compare a NUL; these once reached the driver and came
    # back as a vague "a value in the request is out of range".
    for url, field in [
        ("/api/v1/vehicles?status=a%00", "status"),
        ("/api/v1/people?upn=a%00b", "upn"),
        ("/api/v1/models?q=%00", "q"),
        ("/api/v1/events?action=x%00", "action"),
        ("/api/v1/business-units?co%00de=x", "code"),
        ("/api/v1/mdm/runs/a%00b", "run_key"),
    ]:
        r = await admin.get(url)
        assert r.status_code == 422, (url, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)
        assert r.json()["errors"] == [
            {"field": field, "message": "must not contain a NUL character"}
        ], url


def test_text_the_database_cannot_store_is_a_422_saying_so() -> None:
    import asyncpg
    from litestar.testing import RequestFactory

    from api.errors import map_exception

    request = RequestFactory().post("/api/v1/anything")
    r = map_exception(request, asyncpg.CharacterNotInRepertoireError("invalid byte 0x00"))
    assert r.status_code == 422 and r.media_type == PROBLEM
    assert b"NUL" in r.content


async def test_a_query_parameter_a_route_does_not_take_is_422_naming_it(
    admin: httpx.AsyncClient,
) -> None:
    # Ignored, a mistyped filter would answer with the whole list.
    r = await admin.get("/api/v1/assets?stauts=deployed&limit=5")
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    [error] = r.json()["errors"]
    assert error["field"] == "stauts"
    assert error["message"].startswith("this route does not take stauts; it takes: ")
    assert "status" in error["message"] and "limit" in error["message"]
    r = await admin.get("/api/v1/assets/1?verbose=1")
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"].endswith("it takes: no query parameters")


async def test_every_documented_query_parameter_is_taken(admin: httpx.AsyncClient) -> None:
    """The OpenAPI document and the unknown-parameter check agree on every route."""
    doc = (await admin.get("/schema/openapi.json")).json()
    checked = 0
    for template, item in doc["paths"].items():
        if not template.startswith("/api/v1"):
            continue
        for method, op in item.items():
            names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            if method != "get" or not names:
                continue
            path = template
            for p in op.get("parameters", []):
                if p["in"] == "path":
                    path = path.replace("{" + p["name"] + "}", "1")
            r = await admin.get(path, params={name: "1" for name in names})
            if r.status_code == 422:
                assert "does not take" not in r.text, (template, r.text)
            checked += 1
    assert checked > 20


async def test_the_readme_example_queries_use_parameters_the_routes_take(
    admin: httpx.AsyncClient,
) -> None:
    readme = without_refused(README.read_text(encoding="utf-8"))
    urls = set(
        re.findall(r"(?:\$API|http://127\.0\.0\.1:8000/api/v1)(/[^\s\"']*\?[^\s\"']*)", readme)
    )
    assert len(urls) > 10
    for url in sorted(urls):
        r = await admin.get("/api/v1" + url)
        assert "does not take" not in r.text, (url, r.text)
