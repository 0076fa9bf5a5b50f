"""Signing in and out: the same answer for a wrong password and an unknown e-mail, the
back-off after failures (each an event), sessions that end, cookies that cannot be read by
scripts, and a ``next`` that never leaves the service."""

from __future__ import annotations

import json

import asyncpg
import pytest

from db.engine import connection, transaction
from fleetsvc.users import wait_after
from tests.web.conftest import Account, AccountFactory, SignedInFactory, page_client, sign_in


async def _events(user_id: int, action: str) -> list[asyncpg.Record]:
    async with connection() as conn:
        return await conn.fetch(
            "SELECT actor_name, after::text AS after FROM event"
            " WHERE entity = 'user' AND entity_id = $1 AND action = $2 ORDER BY id",
            user_id,
            action,
        )


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
    app: object, make_account: AccountFactory
) -> None:
    account = await make_account("stores")
    async with page_client(app) as c:
        wrong = await sign_in(c, Account(account.id, account.email, "stores", "wrong password!"))
        unknown = await sign_in(c, Account(0, "nobody.here@force.example", "stores"))
    assert wrong.status_code == unknown.status_code == 422
    message = "That e-mail address and password do not match an active account."
    assert message in wrong.text and message in unknown.text
    assert "session" not in c.cookies  # no session for either
    events = await _events(account.id, "sign_in_failed")
    assert len(events) == 1 and events[0]["actor_name"] == "sign-in"
    assert account.email not in events[0]["after"]
    # The unknown account's failure is an event too, without the address that was tried.
    unknown_events = await _events(0, "sign_in_failed")
    assert json.loads(unknown_events[-1]["after"]) == {"reason": "unknown_account"}


async def test_after_five_failures_the_account_waits_longer_each_time(
    app: object, make_account: AccountFactory
) -> None:
    account = await make_account("engineer")
    bad = Account(account.id, account.email, account.role, "not it, not it")
    async with page_client(app) as c:
        for _ in range(6):
            r = await sign_in(c, bad)
            assert r.status_code == 422
        # The right password does not get in while the account waits, and says nothing new.
        r = await sign_in(c, account)
        assert r.status_code == 422 and "do not match an active account" in r.text
    events = await _events(account.id, "sign_in_failed")
    assert len(events) == 7
    assert [json.loads(e["after"])["wait_seconds"] for e in events[3:6]] == [0, 30, 60]
    assert [wait_after(n) for n in (4, 5, 6, 7, 20)] == [0, 30, 60, 120, 3600]
    assert '"reason": "waiting"' in events[6]["after"]
    async with transaction() as conn:  # the wait is over
        await conn.execute("UPDATE app_user SET locked_until = now() WHERE id = $1", account.id)
    async with page_client(app) as c:
        assert (await sign_in(c, account)).status_code == 303
    async with connection() as conn:
        assert (
            await conn.fetchval("SELECT failed_sign_ins FROM app_user WHERE id = $1", account.id)
            == 0
        )


async def test_the_session_cookie_is_http_only_and_same_site(
    app: object, make_account: AccountFactory
) -> None:
    account = await make_account("mdm")
    async with page_client(app) as c:
        r = await sign_in(c, account)
    cookie = next(
        v for k, v in r.headers.multi_items() if k == "set-cookie" and "fleetsvc_session" in v
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # FLEETSVC_PUBLIC_URL is not https here


async def test_cookies_are_secure_when_the_public_url_is_https(
    app: object, make_account: AccountFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleetsvc.settings import get_settings

    account = await make_account("mdm")
    monkeypatch.setenv("FLEETSVC_PUBLIC_URL", "https://fleet.force.example")
    get_settings.cache_clear()
    try:
        async with page_client(app, "https") as c:
            form = await c.get("/sign-in")
            r = await sign_in(c, account)
    finally:
        monkeypatch.delenv("FLEETSVC_PUBLIC_URL")
        get_settings.cache_clear()
    for response in (form, r):
        cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
        assert cookies and all("Secure" in v for v in cookies), cookies


@pytest.mark.parametrize(
    "asked",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "/api/v1/events",
    ],
)
async def test_next_never_leaves_the_pages(
    app: object, make_account: AccountFactory, asked: str
) -> None:
    account = await make_account("finance")
    async with page_client(app) as c:
        r = await sign_in(c, account, next_=asked)
    assert r.status_code == 303 and r.headers["location"] == "/"


async def test_next_goes_on_to_the_page_asked_for(
    app: object, make_account: AccountFactory
) -> None:
    account = await make_account("admin")
    async with page_client(app) as c:
        first = await c.get("/users?cursor=abc")
        assert first.status_code == 303
        assert first.headers["location"] == "/sign-in?next=%2Fusers%3Fcursor%3Dabc"
        r = await sign_in(c, account, next_="/users")
        assert r.headers["location"] == "/users"


async def test_an_idle_session_ends(signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("auditor")
    assert (await me.client.get("/account")).status_code == 200
    async with transaction() as conn:
        await conn.execute(
            "UPDATE user_session SET last_seen_at = now() - interval '31 minutes'"
            " WHERE user_id = $1",
            me.account.id,
        )
    r = await me.client.get("/account")
    assert r.status_code == 303 and r.headers["location"] == "/sign-in?next=%2Faccount"


async def test_use_keeps_a_session_alive(signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("auditor")
    async with transaction() as conn:
        await conn.execute(
            "UPDATE user_session SET last_seen_at = now() - interval '29 minutes'"
            " WHERE user_id = $1",
            me.account.id,
        )
    assert (await me.client.get("/account")).status_code == 200
    async with connection() as conn:
        idle = await conn.fetchval(
            "SELECT max(now() - last_seen_at) < interval '1 minute' FROM user_session"
            " WHERE user_id = $1",
            me.account.id,
        )
    assert idle


async def test_signing_out_ends_the_session(signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("stores")
    cookie = me.client.cookies["fleetsvc_session"]
    r = await me.post("/sign-out")
    assert r.status_code == 303 and r.headers["location"] == "/sign-in?signed_out=1"
    # The old cookie, sent again (as a copy of it would be), opens nothing.
    me.client.cookies.set("fleetsvc_session", cookie)
    assert (await me.client.get("/account")).status_code == 303
    async with connection() as conn:
        stored = await conn.fetch(
            "SELECT token_hash, ended_at FROM user_session WHERE user_id = $1", me.account.id
        )
    assert stored and all(s["ended_at"] is not None for s in stored)
    assert all(s["token_hash"] != cookie for s in stored)  # only its hash is kept


async def test_disabling_a_user_ends_their_sessions(
    signed_in_as: SignedInFactory,
) -> None:
    admin = await signed_in_as("admin")
    victim = await signed_in_as("engineer")
    assert (await victim.client.get("/account")).status_code == 200
    r = await admin.post(f"/users/{victim.account.id}/disable")
    assert r.status_code == 303
    assert (await victim.client.get("/account")).status_code == 303
    r = await sign_in(victim.client, victim.account)  # the right password, disabled
    assert r.status_code == 422 and "do not match an active account" in r.text
    failed = await _events(victim.account.id, "sign_in_failed")
    assert '"reason": "disabled"' in failed[-1]["after"]
    disabled = await _events(victim.account.id, "disabled")
    assert disabled[0]["actor_name"] == f"user:{admin.account.id}"
