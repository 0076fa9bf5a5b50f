"""Form tokens and the headers every answer carries."""

from __future__ import annotations

import re

from tests.web.conftest import AccountFactory, SignedInFactory, csrf_of, page_client


async def test_a_post_without_its_token_is_a_403_page(signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("engineer")
    for data in ({"name": "x", "role": "engineer"}, {"csrf_token": "forged", "name": "x"}):
        r = await me.client.post("/account/tokens", data=data)
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("text/html")
        assert "This form could not be accepted" in r.text
    assert "forged" not in (await me.client.get("/account")).text  # nothing was made


async def test_a_token_of_another_session_is_refused(signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("stores")
    other = await signed_in_as("stores")
    r = await me.client.post("/account/tokens", data={"csrf_token": await other.csrf()})
    assert r.status_code == 403


async def test_a_post_from_another_site_is_refused(signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("stores")
    token = await me.csrf()
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        r = await me.client.post(
            "/account/tokens", data={"csrf_token": token, "name": "x"}, headers=headers
        )
        assert r.status_code == 403, headers
    same = await me.client.post(
        "/account/tokens",
        data={"csrf_token": token, "name": f"same-site-{me.account.id}", "role": "stores"},
        headers={"Origin": "http://fleetsvc.test", "Sec-Fetch-Site": "same-origin"},
    )
    assert same.status_code == 201


async def test_the_sign_in_form_needs_its_cookie_and_its_field(
    app: object, make_account: AccountFactory
) -> None:
    account = await make_account("finance")
    async with page_client(app) as c:
        token = csrf_of((await c.get("/sign-in")).text)
        data = {"email": account.email, "password": account.password}
        assert (await c.post("/sign-in", data=data)).status_code == 403  # no field
        c.cookies.clear()
        r = await c.post("/sign-in", data={**data, "csrf_token": token})
        assert r.status_code == 403  # a field, but not the cookie it must match


async def test_every_answer_carries_the_security_headers(
    app: object, signed_in_as: SignedInFactory
) -> None:
    me = await signed_in_as("admin")
    async with page_client(app) as anon:
        answers = [
            await anon.get("/sign-in"),
            await anon.get("/no-such-page"),
            await anon.get("/static/fleetsvc.css"),
            await anon.get("/schema"),
            await anon.get("/api/v1/assets"),
            await me.client.get("/"),
            await me.client.get("/users"),
        ]
    for r in answers:
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert re.search(r"script-src 'self'(;|$)", csp)
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"


async def test_pages_have_no_inline_script_or_style(signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("admin")
    for path in ("/", "/account", "/users", f"/users/{me.account.id}", "/no-such-page"):
        html = (await me.client.get(path)).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert "<style" not in html and " style=" not in html and " on" + "click=" not in html


async def test_pages_are_not_kept_in_caches(signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("auditor")
    assert (await me.client.get("/account")).headers["cache-control"] == "no-store"


async def test_every_field_has_a_label(signed_in_as: SignedInFactory) -> None:
    me = await signed_in_as("admin")
    for path in ("/sign-in", "/account", "/users", f"/users/{me.account.id}"):
        html = (await me.client.get(path)).text
        fields = re.findall(r"<(?:input|select|textarea)\b([^>]*)>", html)
        for attrs in fields:
            if re.search(r'type="hidden"|\bhidden\b', attrs):
                continue
            found = re.search(r'\bid="([^"]+)"', attrs)
            assert found, (path, attrs)
            assert f'<label for="{found.group(1)}"' in html, (path, found.group(1))
