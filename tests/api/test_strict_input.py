"""Input is read exactly as its JSON or ISO 8601 type: a value a client got wrong is a
422 naming it, never a guess (``0`` for false, ``"36"`` or ``36.0`` for 36, a number of
seconds for an instant)."""

from __future__ import annotations

from typing import Any

import pytest

from tests import factories
from tests.conftest import ClientFactory, unique


def _person(**kw: Any) -> dict[str, Any]:
    n = unique()
    return {"employee_number": f"E{n}", "upn": f"p{n.lower()}@force.example",
            "display_name": f"Person {n}", **kw}  # fmt: skip


@pytest.mark.parametrize("value", [0, 1, "false", "true", 1.0, None])
async def test_a_boolean_is_a_json_boolean(client_for: ClientFactory, value: object) -> None:
    eng = await client_for("engineer")
    r = await eng.post("/api/v1/people", json=_person(active=value))
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["active"]
    person = await factories.person()
    r = await eng.patch(f"/api/v1/people/{person['id']}", json={"active": value})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["active"]


@pytest.mark.parametrize("value", ["36", 36.0, 36.5, True])
async def test_an_integer_is_a_json_integer(client_for: ClientFactory, value: object) -> None:
    eng = await client_for("engineer")
    model = await factories.device_model()
    r = await eng.patch(f"/api/v1/models/{model['id']}", json={"lifecycle_months": value})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["lifecycle_months"]


async def test_exact_types_are_accepted(client_for: ClientFactory) -> None:
    eng = await client_for("engineer")
    r = await eng.post("/api/v1/people", json=_person(active=False))
    assert r.status_code == 201, r.text
    assert r.json()["active"] is False


@pytest.mark.parametrize(
    "query",
    [
        "until=0.5",
        "since=1700000000",
        "until=2026-13-01T00:00:00Z",
        "since=yesterday",
        "since=03/12/2026",
    ],
)
async def test_an_instant_in_a_query_is_iso_8601(client_for: ClientFactory, query: str) -> None:
    auditor = await client_for("auditor")
    r = await auditor.get(f"/api/v1/events?{query}")
    assert r.status_code == 422, r.text
    name = query.split("=")[0]
    assert [e["field"] for e in r.json()["errors"]] == [name]
    assert "ISO 8601" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize("query", ["refresh_due_before=1", "refresh_due_before=20250101"])
async def test_a_date_in_a_query_is_iso_8601(client_for: ClientFactory, query: str) -> None:
    eng = await client_for("engineer")
    r = await eng.get(f"/api/v1/assets?{query}")
    assert r.status_code == 422, r.text
    assert "ISO 8601" in r.json()["errors"][0]["message"]


async def test_iso_8601_query_values_are_read(client_for: ClientFactory) -> None:
    auditor = await client_for("auditor")
    for query in ("since=2026-01-01T00:00:00Z", "until=2026-01-01T00:00:00.5%2B01:00"):
        r = await auditor.get(f"/api/v1/events?{query}&limit=1")
        assert r.status_code == 200, r.text
    eng = await client_for("engineer")
    r = await eng.get("/api/v1/assets?refresh_due_before=2025-01-01&limit=1")
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/api/v1/assets", {"GET", "POST", "OPTIONS"}),
        ("/api/v1/assets/1", {"GET", "PATCH", "OPTIONS"}),
        ("/api/v1/people", {"GET", "POST", "OPTIONS"}),
    ],
)
async def test_options_answers_the_methods_the_path_has(
    client_for: ClientFactory, path: str, methods: set[str]
) -> None:
    eng = await client_for("engineer")
    r = await eng.options(path)
    assert r.status_code in (200, 204), r.text
    assert {m.strip() for m in r.headers["allow"].split(",")} == methods
