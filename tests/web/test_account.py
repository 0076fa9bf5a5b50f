"""My account: a user's own API tokens, made (shown once), listed and revoked, each change
an event that names the user by id."""

from __future__ import annotations

import re

from db.engine import connection
from tests.web.conftest import SignedInFactory, csrf_of

TOKEN = re.compile(r'<code id="new-token">(fsv_[^<]+)</code>')


async def _token_events(token_id: int) -> list[tuple[str, str]]:
    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT action, actor_name FROM event WHERE entity = 'api_token' AND entity_id = $1"
            " ORDER BY id",
            token_id,
        )
    return [(r["action"], r["actor_name"]) for r in rows]


async def test_a_token_is_shown_once_then_listed_then_revoked(
    signed_in_as: SignedInFactory, anon
) -> None:
    me = await signed_in_as("stores")
    name = f"stores-pc-{me.account.id}"
    r = await me.post("/account/tokens", {"name": name, "role": "stores"})
    assert r.status_code == 201
    token = TOKEN.search(r.text).group(1)  # type: ignore[union-attr]
    assert (
        await anon.get("/api/v1/assets", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 200
    listed = (await me.client.get("/account")).text
    assert name in listed and token not in listed
    async with connection() as conn:
        row = await conn.fetchrow(
            "SELECT id, owner_user_id, created_by FROM api_token WHERE name = $1", name
        )
    assert row is not None
    assert row["owner_user_id"] == me.account.id and row["created_by"] == f"user:{me.account.id}"
    r = await me.post(f"/account/tokens/{row['id']}/revoke")
    assert r.status_code == 303 and r.headers["location"] == "/account"
    shown = (await me.client.get("/account")).text
    assert f"The token “{name}” is revoked." in shown
    assert (
        await anon.get("/api/v1/assets", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 401
    assert await _token_events(row["id"]) == [
        ("created", f"user:{me.account.id}"),
        ("revoked", f"user:{me.account.id}"),
    ]


async def test_a_token_has_no_role_above_its_maker(signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("finance")
    page = (await me.client.get("/account")).text
    assert re.findall(r'<option value="(\w+)"', page) == ["finance"]
    r = await me.post("/account/tokens", {"name": f"crafted-{me.account.id}", "role": "admin"})
    assert r.status_code == 422
    assert 'id="field-role-error"' in r.text and "A token may have the role finance." in r.text
    admin = await signed_in_as("admin")
    page = (await admin.client.get("/account")).text
    assert len(re.findall(r'<option value="(\w+)"', page)) == 6
    r = await admin.post("/account/tokens", {"name": f"sync-{admin.account.id}", "role": "mdm"})
    assert r.status_code == 201


async def test_a_taken_name_is_shown_beside_the_field(signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("engineer")
    name = f"dup-{me.account.id}"
    assert (await me.post("/account/tokens", {"name": name, "role": "engineer"})).status_code == 201
    r = await me.post("/account/tokens", {"name": name, "role": "engineer"})
    assert r.status_code == 409
    assert 'id="field-name-error"' in r.text and "already exists" in r.text
    r = await me.post("/account/tokens", {"name": "", "role": "engineer"})
    assert r.status_code == 422 and 'id="field-name-error"' in r.text


async def test_nobody_revokes_another_users_token(signed_in_as: SignedInFactory) -> None:
    owner = await signed_in_as("engineer")
    other = await signed_in_as("engineer")
    made = await owner.post(
        "/account/tokens", {"name": f"mine-{owner.account.id}", "role": "engineer"}
    )
    assert made.status_code == 201
    async with connection() as conn:
        token_id = await conn.fetchval(
            "SELECT id FROM api_token WHERE name = $1", f"mine-{owner.account.id}"
        )
    r = await other.post(f"/account/tokens/{token_id}/revoke")
    assert r.status_code == 404
    async with connection() as conn:
        assert (
            await conn.fetchval("SELECT revoked_at FROM api_token WHERE id = $1", token_id) is None
        )
    assert csrf_of(made.text)


async def test_change_the_password_ends_the_other_sessions(
    app: object, signed_in_as: SignedInFactory
) -> None:
    from tests.web.conftest import Account, page_client, sign_in

    me = await signed_in_as("stores")
    elsewhere = page_client(app)
    assert (await sign_in(elsewhere, me.account)).status_code == 303
    r = await me.post("/account/password", {"current_password": "guess", "new_password": "x" * 20})
    assert r.status_code == 422 and 'id="field-current_password-error"' in r.text
    r = await me.post(
        "/account/password", {"current_password": me.account.password, "new_password": "short"}
    )
    assert r.status_code == 422 and 'id="field-new_password-error"' in r.text
    new = "violet kettle under moonlight"
    r = await me.post(
        "/account/password", {"current_password": me.account.password, "new_password": new}
    )
    assert r.status_code == 303
    page = await me.client.get("/account")
    assert "Your password is changed. Your 1 other session(s) have ended." in page.text
    assert (await elsewhere.get("/account")).status_code == 303  # signed out there
    await elsewhere.aclose()
    async with page_client(app) as c:
        assert (await sign_in(c, me.account)).status_code == 422  # the old one no more
        renewed = Account(me.account.id, me.account.email, me.account.role, new)
        assert (await sign_in(c, renewed)).status_code == 303
    async with connection() as conn:
        actions = await conn.fetch(
            "SELECT actor_name, after FROM event WHERE entity = 'user' AND entity_id = $1"
            " AND action = 'password_changed'",
            me.account.id,
        )
    assert [(a["actor_name"], a["after"]) for a in actions] == [(f"user:{me.account.id}", None)]
