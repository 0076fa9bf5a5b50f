"""The role matrix of every /api/v1 route, written out from the README and checked over
HTTP cell by cell. The app's routes are enumerated: a route this matrix does not list (a
new one, or one renamed) fails the suite until its roles are written down here."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import ClientFactory

ROLES = ("admin", "engineer", "stores", "finance", "mdm", "auditor")
EVERY = ROLES
REGISTER = ("admin", "engineer", "stores")  # people, units, vehicles, models, assets, SIMs...
PROCUREMENT = ("admin", "stores", "finance")  # suppliers, contracts, orders, licence pools
IMPORTS = ("admin", "stores")
STORES = ("admin", "stores")  # locations and stocktakes
FORECASTS = ("admin", "engineer", "stores", "finance", "auditor")
MDM_SYNC = ("admin", "mdm")
AUDIT = ("admin", "auditor")
ADMIN = ("admin",)
JOBS_CANCEL = ("admin", "engineer", "stores", "finance", "mdm")  # each only the jobs it sees
NOTICES = ("admin", "engineer", "stores", "finance", "auditor")

A = "/api/v1"
MATRIX: dict[tuple[str, str], tuple[str, ...]] = {
    # the register
    ("GET", f"{A}/assets"): EVERY,
    ("POST", f"{A}/assets"): REGISTER,
    ("POST", f"{A}/assets/batch"): REGISTER,
    ("GET", f"{A}/assets/{{asset_id:int}}"): EVERY,
    ("PATCH", f"{A}/assets/{{asset_id:int}}"): REGISTER,
    ("POST", f"{A}/assets/{{asset_id:int}}/transitions"): REGISTER,
    ("GET", f"{A}/assets/{{asset_id:int}}/events"): EVERY,
    ("GET", f"{A}/sims"): EVERY,
    ("POST", f"{A}/sims"): REGISTER,
    ("GET", f"{A}/sims/{{sim_id:int}}"): EVERY,
    ("PATCH", f"{A}/sims/{{sim_id:int}}"): REGISTER,
    ("POST", f"{A}/sims/{{sim_id:int}}/fitting"): REGISTER,
    ("POST", f"{A}/sims/{{sim_id:int}}/removal"): REGISTER,
    ("GET", f"{A}/sims/{{sim_id:int}}/history"): EVERY,
    ("GET", f"{A}/installs/{{install_id:int}}"): EVERY,
    ("POST", f"{A}/installs/{{install_id:int}}/removal"): REGISTER,
    ("GET", f"{A}/reports/summary"): EVERY,
    # people, business units, vehicles, device models
    ("GET", f"{A}/people"): EVERY,
    ("POST", f"{A}/people"): REGISTER,
    ("GET", f"{A}/people/{{person_id:int}}"): EVERY,
    ("PATCH", f"{A}/people/{{person_id:int}}"): REGISTER,
    ("GET", f"{A}/people/{{person_id:int}}/assets"): EVERY,
    ("GET", f"{A}/people/{{person_id:int}}/subject-access"): AUDIT,
    ("GET", f"{A}/business-units"): EVERY,
    ("POST", f"{A}/business-units"): REGISTER,
    ("GET", f"{A}/business-units/{{bu_id:int}}"): EVERY,
    ("PATCH", f"{A}/business-units/{{bu_id:int}}"): REGISTER,
    ("GET", f"{A}/vehicles"): EVERY,
    ("POST", f"{A}/vehicles"): REGISTER,
    ("GET", f"{A}/vehicles/{{vehicle_id:int}}"): EVERY,
    ("PATCH", f"{A}/vehicles/{{vehicle_id:int}}"): REGISTER,
    ("GET", f"{A}/vehicles/{{vehicle_id:int}}/installs"): EVERY,
    ("POST", f"{A}/vehicles/{{vehicle_id:int}}/installs"): REGISTER,
    ("GET", f"{A}/models"): EVERY,
    ("POST", f"{A}/models"): REGISTER,
    ("GET", f"{A}/models/{{model_id:int}}"): EVERY,
    ("PATCH", f"{A}/models/{{model_id:int}}"): REGISTER,
    # leavers' recovery cases
    ("GET", f"{A}/recoveries"): EVERY,
    ("GET", f"{A}/recoveries/{{case_id:int}}"): EVERY,
    ("POST", f"{A}/recoveries/{{case_id:int}}/lines/{{line_id:int}}/write-off"): STORES,
    # locations
    ("GET", f"{A}/locations"): EVERY,
    ("POST", f"{A}/locations"): STORES,
    ("GET", f"{A}/locations/{{location_id:int}}"): EVERY,
    ("PATCH", f"{A}/locations/{{location_id:int}}"): STORES,
    # stocktakes
    ("GET", f"{A}/stocktakes"): EVERY,
    ("POST", f"{A}/stocktakes"): STORES,
    ("GET", f"{A}/stocktakes/{{stocktake_id:int}}"): EVERY,
    ("POST", f"{A}/stocktakes/{{stocktake_id:int}}/scans"): STORES,
    ("POST", f"{A}/stocktakes/{{stocktake_id:int}}/close"): STORES,
    ("GET", f"{A}/stocktakes/{{stocktake_id:int}}/report"): EVERY,
    # procurement
    ("GET", f"{A}/suppliers"): EVERY,
    ("POST", f"{A}/suppliers"): PROCUREMENT,
    ("GET", f"{A}/suppliers/{{supplier_id:int}}"): EVERY,
    ("PATCH", f"{A}/suppliers/{{supplier_id:int}}"): PROCUREMENT,
    ("GET", f"{A}/contracts"): EVERY,
    ("POST", f"{A}/contracts"): PROCUREMENT,
    ("GET", f"{A}/contracts/{{contract_id:int}}"): EVERY,
    ("PATCH", f"{A}/contracts/{{contract_id:int}}"): PROCUREMENT,
    ("GET", f"{A}/purchase-orders"): EVERY,
    ("POST", f"{A}/purchase-orders"): PROCUREMENT,
    ("GET", f"{A}/purchase-orders/{{order_id:int}}"): EVERY,
    ("PATCH", f"{A}/purchase-orders/{{order_id:int}}"): PROCUREMENT,
    ("GET", f"{A}/licences"): EVERY,
    ("POST", f"{A}/licences"): PROCUREMENT,
    ("GET", f"{A}/licences/{{pool_id:int}}"): EVERY,
    ("PATCH", f"{A}/licences/{{pool_id:int}}"): PROCUREMENT,
    ("GET", f"{A}/licences/{{pool_id:int}}/seats"): EVERY,
    ("POST", f"{A}/licences/{{pool_id:int}}/seats"): REGISTER,
    ("POST", f"{A}/licences/{{pool_id:int}}/seats/{{asset_id:int}}/release"): REGISTER,
    # delivery imports
    ("GET", f"{A}/imports"): EVERY,
    ("POST", f"{A}/imports"): IMPORTS,
    ("GET", f"{A}/imports/{{import_id:int}}"): EVERY,
    ("POST", f"{A}/imports/{{import_id:int}}/commit"): IMPORTS,
    ("GET", f"{A}/imports/{{import_id:int}}/rows"): EVERY,
    ("GET", f"{A}/imports/{{import_id:int}}/rejected.csv"): EVERY,
    # finance
    ("GET", f"{A}/forecasts/refresh"): FORECASTS,
    ("GET", f"{A}/forecasts/recurring"): FORECASTS,
    # MDM
    ("POST", f"{A}/mdm/sync"): MDM_SYNC,
    ("GET", f"{A}/mdm/runs"): EVERY,
    ("GET", f"{A}/mdm/runs/{{run_key:str}}"): EVERY,
    ("GET", f"{A}/mdm/discrepancies"): EVERY,
    # jobs (each role sees only the jobs it may: tests/api/test_jobs.py) and notices
    ("GET", f"{A}/jobs"): EVERY,
    ("GET", f"{A}/jobs/{{job_id:int}}"): EVERY,
    ("POST", f"{A}/jobs/{{job_id:int}}/cancel"): JOBS_CANCEL,
    ("GET", f"{A}/notices/preview"): NOTICES,
    # the audit trail and tokens
    ("GET", f"{A}/events"): AUDIT,
    ("GET", f"{A}/events/verify"): AUDIT,
    ("GET", f"{A}/tokens"): ADMIN,
    ("POST", f"{A}/tokens"): ADMIN,
    ("POST", f"{A}/tokens/{{token_id:int}}/revoke"): ADMIN,
}

# Ids that do not exist: an allowed role gets past the guard and is told 404 or 422 (an
# empty body is never a valid write); a refused role is told 403 before anything is read.
NOBODY = "999999999"


def _url(template: str) -> str:
    url = re.sub(r"\{[a-z_]+:int\}", NOBODY, template)
    return re.sub(r"\{[a-z_]+:str\}", "no-such-run", url)


def test_every_api_route_is_in_the_matrix(app: object) -> None:
    routes = {
        (method, route.path)
        for route in app.routes  # type: ignore[attr-defined]
        if route.path.startswith(A)
        for method in getattr(route, "methods", ())
        if method not in ("OPTIONS", "HEAD")
    }
    assert routes, "no /api/v1 routes found"
    missing = sorted(routes - MATRIX.keys())
    assert not missing, f"routes with no roles written down in this matrix: {missing}"
    gone = sorted(MATRIX.keys() - routes)
    assert not gone, f"matrix rows for routes the app does not have: {gone}"


@pytest.mark.parametrize(
    ("method", "template"), sorted(MATRIX), ids=lambda v: str(v).removeprefix(A)[:60]
)
async def test_route_admits_exactly_its_roles(
    client_for: ClientFactory, anon: httpx.AsyncClient, method: str, template: str
) -> None:
    allowed = MATRIX[(method, template)]
    url = _url(template)
    body: dict[str, object] | None = None if method == "GET" else {}
    for role in ROLES:
        r = await (await client_for(role)).request(method, url, json=body)
        if role in allowed:
            assert r.status_code not in (401, 403, 405, 500), (role, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
    r = await anon.request(method, url, json=body)
    assert r.status_code == 401, r.text
