"""The role matrix of every page and action, checked over HTTP for every role. The app's
page routes are enumerated: a route this matrix does not list (a new page, or one renamed)
fails the suite until its roles are written down here."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import SignedIn, SignedInFactory, page_client

ROLES = ("admin", "engineer", "stores", "finance", "mdm", "auditor")
PUBLIC = "public"
EVERYONE = ROLES
ADMIN = ("admin",)
STORES = ("admin", "stores")
IMPORTS = ("admin", "stores")
FORECASTS = ("admin", "engineer", "stores", "finance", "auditor")
PROCUREMENT = ("admin", "stores", "finance")
DEVICE_MOVES = ("admin", "engineer", "stores")

MATRIX: dict[tuple[str, str], tuple[str, ...] | str] = {
    ("GET", "/"): EVERYONE,
    ("GET", "/sign-in"): PUBLIC,
    ("POST", "/sign-in"): PUBLIC,
    ("POST", "/sign-out"): EVERYONE,
    ("GET", "/account"): EVERYONE,
    ("POST", "/account/tokens"): EVERYONE,
    ("POST", "/account/password"): EVERYONE,
    ("POST", "/account/tokens/{token_id:int}/revoke"): EVERYONE,
    ("GET", "/stocktakes"): EVERYONE,
    ("POST", "/stocktakes"): STORES,
    ("GET", "/stocktakes/{stocktake_id:int}"): EVERYONE,
    ("GET", "/stocktakes/{stocktake_id:int}/scan"): STORES,
    ("POST", "/stocktakes/{stocktake_id:int}/scan"): STORES,
    ("POST", "/stocktakes/{stocktake_id:int}/close"): STORES,
    ("GET", "/stocktakes/{stocktake_id:int}/report"): EVERYONE,
    ("GET", "/users"): ADMIN,
    ("POST", "/users"): ADMIN,
    ("POST", "/users/search"): ADMIN,
    ("GET", "/users/{user_id:int}"): ADMIN,
    ("POST", "/users/{user_id:int}/role"): ADMIN,
    ("POST", "/users/{user_id:int}/password"): ADMIN,
    ("POST", "/users/{user_id:int}/disable"): ADMIN,
    ("POST", "/users/{user_id:int}/enable"): ADMIN,
    # The stores, finance and MDM pages.
    ("GET", "/imports"): EVERYONE,
    ("POST", "/imports"): IMPORTS,
    ("GET", "/imports/{import_id:int}"): EVERYONE,
    ("GET", "/imports/{import_id:int}/progress"): EVERYONE,
    ("GET", "/imports/{import_id:int}/rejected.csv"): EVERYONE,
    ("POST", "/imports/{import_id:int}/commit"): IMPORTS,
    ("GET", "/forecasts"): FORECASTS,
    ("GET", "/forecasts/download"): FORECASTS,
    ("GET", "/mdm"): EVERYONE,
    ("GET", "/mdm/runs/{run_id:int}"): EVERYONE,
    ("GET", "/procurement"): EVERYONE,
    ("GET", "/procurement/suppliers"): EVERYONE,
    ("POST", "/procurement/suppliers"): PROCUREMENT,
    ("GET", "/procurement/contracts/{contract_id:int}"): EVERYONE,
    ("GET", "/procurement/contracts/new"): PROCUREMENT,
    ("POST", "/procurement/contracts"): PROCUREMENT,
    ("GET", "/procurement/contracts/{contract_id:int}/edit"): PROCUREMENT,
    ("POST", "/procurement/contracts/{contract_id:int}"): PROCUREMENT,
    ("GET", "/procurement/purchase-orders"): EVERYONE,
    ("GET", "/procurement/purchase-orders/{order_id:int}"): EVERYONE,
    ("GET", "/procurement/purchase-orders/new"): PROCUREMENT,
    ("POST", "/procurement/purchase-orders"): PROCUREMENT,
    ("GET", "/procurement/purchase-orders/{order_id:int}/edit"): PROCUREMENT,
    ("POST", "/procurement/purchase-orders/{order_id:int}"): PROCUREMENT,
    ("GET", "/devices"): EVERYONE,
    ("POST", "/devices/search"): EVERYONE,
    ("GET", "/devices/{asset_id:int}"): EVERYONE,
    ("POST", "/devices/{asset_id:int}/people"): DEVICE_MOVES,
    ("POST", "/devices/{asset_id:int}/move"): DEVICE_MOVES,
    # The people and vehicles pages.
    ("GET", "/people"): EVERYONE,
    ("POST", "/people/search"): EVERYONE,
    ("GET", "/people/{person_id:int}"): EVERYONE,
    ("POST", "/people/{person_id:int}/leaver"): STORES,
    ("GET", "/vehicles"): EVERYONE,
    ("GET", "/vehicles/{vehicle_id:int}"): EVERYONE,
}
# Pages reached from within another page (a tab, a "new" button, a download), not from the
# navigation: a role that may not use one is still never offered it there.
WITHIN_PAGES = {
    "/forecasts/download",
    "/procurement/suppliers",
    "/procurement/contracts/new",
    "/procurement/purchase-orders",
    "/procurement/purchase-orders/new",
}
NOT_PAGES = ("/api", "/schema", "/static", "/health", "/ready", "/metrics")
NOBODY = "999999999"


def _url(template: str) -> str:
    return re.sub(r"\{[a-z_]+:int\}", NOBODY, template)


def test_every_page_route_is_in_the_matrix(app: object) -> None:
    routes = {
        (method, route.path)
        for route in app.routes  # type: ignore[attr-defined]
        if not any(route.path == p or route.path.startswith(p + "/") for p in NOT_PAGES)
        for method in getattr(route, "methods", ())
        if method not in ("OPTIONS", "HEAD")
    }
    assert routes, "no page routes found"
    missing = sorted(routes - MATRIX.keys())
    assert not missing, f"page routes with no roles written down in this matrix: {missing}"
    gone = sorted(MATRIX.keys() - routes)
    assert not gone, f"matrix rows for routes the app does not have: {gone}"


_sessions: dict[str, SignedIn] = {}


async def _session(signed_in_as: SignedInFactory, role: str, fresh: bool) -> SignedIn:
    """One session per role for the walk; a fresh one where the route ends it (sign-out)."""
    if fresh or role not in _sessions:
        made = await signed_in_as(role)
        if fresh:
            return made
        _sessions[role] = made
    return _sessions[role]


@pytest.mark.parametrize(("method", "template"), sorted(MATRIX), ids=lambda v: str(v)[:50])
async def test_page_admits_exactly_its_roles(
    app: object, signed_in_as: SignedInFactory, method: str, template: str
) -> None:
    allowed = MATRIX[(method, template)]
    url = _url(template)
    for role in ROLES:
        session = await _session(signed_in_as, role, fresh=template == "/sign-out")
        if method == "GET":
            r = await session.client.get(url)
        else:
            r = await session.post(url)
        if allowed == PUBLIC or role in allowed:
            assert r.status_code not in (401, 403, 405, 500), (role, r.status_code, r.text[:500])
        else:
            assert r.status_code == 403, (role, r.status_code)
            assert r.headers["content-type"].startswith("text/html")
            assert "You can’t do this" in r.text
        # What the role may not use, its pages do not offer: no link in the navigation.
        if method == "GET" and allowed != PUBLIC:
            home = await session.client.get("/")
            shown = f'href="{url}"' in home.text
            if template in WITHIN_PAGES:
                assert not shown or role in allowed, (role, url)
            else:
                assert shown == (role in allowed) or url in ("/", "/account") or "{" in template, (
                    role,
                    url,
                )
    async with page_client(app) as anon:
        r = await anon.request(method, url, data={} if method == "POST" else None)
        if allowed == PUBLIC and method == "GET":
            assert r.status_code == 200, r.text[:500]
        elif allowed == PUBLIC:
            assert r.status_code == 403, r.text[:500]  # no form token: refused
        else:
            assert r.status_code == 303
            assert r.headers["location"].startswith("/sign-in?next=")
