"""Tokens: shown once, stored hashed, revocable, one role each, a guard on every route."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import httpx
from litestar import Litestar

from db.engine import connection
from tests.conftest import ClientFactory, unique


async def test_admin_creates_token_shown_once_and_stored_hashed(
    admin: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    name = unique("laptop-")
    r = await admin.post("/api/v1/tokens", json={"name": name, "role": "engineer"})
    assert r.status_code == 201, r.text
    created = r.json()
    token = created["token"]
    assert token.startswith("fsv_") and len(token) > 40
    async with connection() as conn:
        row = await conn.fetchrow("SELECT * FROM api_token WHERE name = $1", name)
    assert row is not None
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(dict(row))
    listed = (await admin.get("/api/v1/tokens")).json()
    mine = [t for t in listed if t["name"] == name]
    assert mine and "token" not in mine[0] and mine[0]["role"] == "engineer"
    # The new token works, with its role.
    r = await anon.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403


async def test_revoked_token_is_refused(admin: httpx.AsyncClient, anon: httpx.AsyncClient) -> None:
    r = await admin.post("/api/v1/tokens", json={"name": unique("gone-"), "role": "auditor"})
    token, token_id = r.json()["token"], r.json()["id"]
    auth = {"Authorization": f"Bearer {token}"}
    assert (await anon.get("/api/v1/events", headers=auth)).status_code == 200
    r = await admin.post(f"/api/v1/tokens/{token_id}/revoke")
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert (await anon.get("/api/v1/events", headers=auth)).status_code == 401


async def test_duplicate_name_is_409_naming_existing(admin: httpx.AsyncClient) -> None:
    name = unique("dup-")
    first = await admin.post("/api/v1/tokens", json={"name": name, "role": "stores"})
    r = await admin.post("/api/v1/tokens", json={"name": name, "role": "stores"})
    assert r.status_code == 409
    assert r.json()["existing_id"] == first.json()["id"]


async def test_unknown_role_is_422(admin: httpx.AsyncClient) -> None:
    r = await admin.post("/api/v1/tokens", json={"name": unique(), "role": "superuser"})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {
            "field": "role",
            "message": "role must be one of admin, engineer, stores, finance, mdm, auditor",
        }
    ]


async def test_non_admin_roles_cannot_manage_tokens(client_for: ClientFactory) -> None:
    for role in ("engineer", "stores", "finance", "mdm", "auditor"):
        c = await client_for(role)
        assert (await c.get("/api/v1/tokens")).status_code == 403, role
        r = await c.post("/api/v1/tokens", json={"name": unique(), "role": "admin"})
        assert r.status_code == 403, role


async def test_every_api_route_is_guarded_and_declares_roles(app: Litestar) -> None:
    from api.guards import authorise

    checked = 0
    for route in app.routes:
        if not route.path.startswith("/api/v1"):
            continue
        for handler in getattr(route, "route_handlers", []):
            if set(handler.http_methods) == {"OPTIONS"}:
                continue  # Litestar's automatic CORS preflight answer
            assert authorise in handler.resolve_guards(), route.path
            assert handler.opt.get("roles"), f"{route.path} declares no roles"
            checked += 1
    assert checked >= 4


async def test_cli_creates_lists_and_revokes_tokens(anon: httpx.AsyncClient) -> None:
    exe = str(Path(sys.executable).parent / "fleetsvc")
    name = unique("cli-")
    env = {**os.environ}
    made = subprocess.run(
        [exe, "tokens", "create", "--name", name, "--role", "auditor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("fsv_")
    assert token not in made.stderr
    auth = {"Authorization": f"Bearer {token}"}
    assert (await anon.get("/api/v1/events", headers=auth)).status_code == 200
    listed = subprocess.run(
        [exe, "tokens", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert name in listed.stdout and token not in listed.stdout
    bad = subprocess.run(
        [exe, "tokens", "create", "--name", unique(), "--role", "boss"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "role must be one of" in bad.stderr
    assert "Traceback" not in bad.stderr
    revoked = subprocess.run(
        [exe, "tokens", "revoke", name],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert revoked.returncode == 0, revoked.stderr
    unknown = subprocess.run(
        [exe, "tokens", "revoke", "no-such-token-name"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode != 0 and "no token with name no-such-token-name" in unknown.stderr
    from fleetsvc import auth as auth_module

    auth_module._cache.clear()  # this process cached the token a moment ago
    assert (await anon.get("/api/v1/events", headers=auth)).status_code == 401


async def test_token_name_with_a_nul_is_422_naming_it(admin: httpx.AsyncClient) -> None:
    # PostgreSQL cannot store a NUL: once a vague 422 from the driver, with no field.
    r = await admin.post("/api/v1/tokens", json={"name": unique("t\x00"), "role": "auditor"})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"field": "name", "message": "a token name must not contain control characters"}
    ]


async def test_revoking_an_id_beyond_any_token_is_not_found(admin: httpx.AsyncClient) -> None:
    # make fuzz sent one: the driver's range error answered 422, which the document lacks.
    r = await admin.post("/api/v1/tokens/16599086184622827374031736406016/revoke")
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
