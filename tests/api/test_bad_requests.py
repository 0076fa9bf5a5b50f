"""Bad requests a fuzzer (schemathesis) or a careless client sends: each is a named 4xx
problem, never a 500, and never silently read as something the client did not write."""

from __future__ import annotations

import httpx

PROBLEM = "application/problem+json"


def assert_problem(r: httpx.Response, status: int) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status
    assert "Traceback" not in r.text
    return dict(body)


async def test_deeply_nested_json_is_400_not_500(admin: httpx.AsyncClient) -> None:
    # msgspec gives up on very deep nesting with a RecursionError, which once became a 500.
    deep = b"[" * 100_000 + b"]" * 100_000
    for path in ("/api/v1/business-units", "/api/v1/assets/batch", "/api/v1/mdm/sync"):
        r = await admin.post(path, content=deep, headers={"content-type": "application/json"})
        body = assert_problem(r, 400)
        assert "nested" in str(body["detail"]), body
