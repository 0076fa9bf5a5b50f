"""The register's role matrix, route by route (docs/register.md writes it out)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ClientFactory

READERS = ("admin", "engineer", "stores", "finance", "mdm", "auditor")
WRITERS = ("admin", "engineer", "stores")
NOBODY = 999_999_999

# (method, path, body, roles allowed). Ids that do not exist: an allowed role gets past
# the guard and is told 404/422; a refused role is told 403 before anything is read.
ROUTES: list[tuple[str, str, object, tuple[str, ...]]] = [
    ("GET", "/api/v1/assets", None, READERS),
    ("POST", "/api/v1/assets", {}, WRITERS),
    ("POST", "/api/v1/assets/batch", {}, WRITERS),
    ("GET", f"/api/v1/assets/{NOBODY}", None, READERS),
    ("PATCH", f"/api/v1/assets/{NOBODY}", {}, WRITERS),
    ("POST", f"/api/v1/assets/{NOBODY}/transitions", {}, WRITERS),
    ("GET", f"/api/v1/assets/{NOBODY}/events", None, READERS),
    ("GET", f"/api/v1/people/{NOBODY}/assets", None, READERS),
    ("GET", "/api/v1/sims", None, READERS),
    ("POST", "/api/v1/sims", {}, WRITERS),
    ("GET", f"/api/v1/sims/{NOBODY}", None, READERS),
    ("PATCH", f"/api/v1/sims/{NOBODY}", {}, WRITERS),
    ("POST", f"/api/v1/sims/{NOBODY}/fitting", {}, WRITERS),
    ("POST", f"/api/v1/sims/{NOBODY}/removal", None, WRITERS),
    ("GET", f"/api/v1/sims/{NOBODY}/history", None, READERS),
    ("POST", f"/api/v1/vehicles/{NOBODY}/installs", {}, WRITERS),
    ("GET", f"/api/v1/vehicles/{NOBODY}/installs", None, READERS),
    ("GET", f"/api/v1/installs/{NOBODY}", None, READERS),
    ("POST", f"/api/v1/installs/{NOBODY}/removal", {}, WRITERS),
    ("GET", "/api/v1/reports/summary", None, READERS),
]


@pytest.mark.parametrize("method,path,body,allowed", ROUTES, ids=lambda v: str(v)[:40])
async def test_route_roles(
    client_for: ClientFactory,
    anon: httpx.AsyncClient,
    method: str,
    path: str,
    body: object,
    allowed: tuple[str, ...],
) -> None:
    for role in READERS:
        c = await client_for(role)
        r = await c.request(method, path, json=body)
        if role in allowed:
            assert r.status_code not in (401, 403, 500), (role, r.text)
        else:
            assert r.status_code == 403, (role, r.text)
    assert (await anon.request(method, path, json=body)).status_code == 401
