"""In a real browser: headless Chromium against the real service (uvicorn in a subprocess
on a free localhost port, on the test database). Every page a test opens is watched: a
request to any host but the service, or an error on the console (a script or style the
security policy refused among them), fails the test."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.web.browser import VIEWPORT, browser_missing
from tests.web.conftest import Account, AccountFactory

if (why := browser_missing()) is not None:
    pytest.skip(why, allow_module_level=True)

from playwright.async_api import Browser, Page

# ``service`` and ``browser``: tests/web/conftest.py's, shared by every browser module.


@dataclass
class Watched:
    page: Page
    base: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[tuple[str, str]] = field(default_factory=list)
    # Pages answered with an error status on purpose (a 403, a 422): Chromium logs each
    # on the console, which is no fault of the page.
    error_pages: set[str] = field(default_factory=set)

    def faults(self) -> list[str]:
        return [
            text
            for text, url in self.console_errors
            if not (text.startswith("Failed to load resource") and url in self.error_pages)
        ]

    async def goto(self, path: str) -> Any:
        return await self.page.goto(self.base + path)

    async def sign_in(self, account: Account) -> None:
        await self.page.fill("#field-email", account.email)
        await self.page.fill("#field-password", account.password)
        await self.page.click("button:has-text('Sign in')")


@pytest.fixture
async def tab(browser: Browser, service: str) -> AsyncIterator[Watched]:
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = await context.new_page()
    watched = Watched(page, service)
    context.on("request", lambda r: watched.requests.append(r.url))
    page.on(
        "console",
        lambda m: (
            watched.console_errors.append((m.text, m.location.get("url", "")))
            if m.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda e: watched.console_errors.append((str(e), "")))
    page.on(
        "response",
        lambda r: (
            watched.error_pages.add(r.url)
            if r.request.resource_type == "document" and r.status >= 400
            else None
        ),
    )
    page.on("dialog", lambda d: d.accept())
    yield watched
    await context.close()
    foreign = [u for u in watched.requests if not u.startswith(service + "/")]
    assert not foreign, f"requests to other hosts: {foreign}"
    assert not watched.faults(), watched.faults()


async def test_sign_in_says_no_then_yes(tab: Watched, make_account: AccountFactory) -> None:
    account = await make_account("stores")
    await tab.goto("/")
    assert tab.page.url.startswith(tab.base + "/sign-in")
    await tab.sign_in(Account(account.id, account.email, account.role, "not the password!!"))
    alert = tab.page.locator(".error-summary")
    await alert.wait_for()
    assert "do not match an active account" in await alert.inner_text()
    assert await tab.page.input_value("#field-email") == account.email
    await tab.sign_in(account)
    await tab.page.wait_for_url(tab.base + "/")
    assert "Signed in as" in await tab.page.inner_text("main")
    assert account.email in await tab.page.inner_text("header")
    # Only what the stores role may open is in the navigation.
    nav = await tab.page.inner_text("nav.site-nav")
    assert "My account" in nav and "Users" not in nav


async def test_a_form_without_its_token_is_refused(
    tab: Watched, make_account: AccountFactory
) -> None:
    account = await make_account("engineer")
    await tab.goto("/account")
    await tab.sign_in(account)
    await tab.page.wait_for_url(tab.base + "/account")
    # A crafted form: the same fields, no form token.
    await tab.page.evaluate(
        "document.querySelectorAll('form[action=\"/account/tokens\"] input[name=csrf_token]')"
        ".forEach(e => e.remove())"
    )
    await tab.page.fill("#field-name", "crafted")
    async with tab.page.expect_response(tab.base + "/account/tokens") as sent:
        await tab.page.click("button:has-text('Make the token')")
    assert (await sent.value).status == 403
    assert "This form could not be accepted" in await tab.page.inner_text("main")


async def test_an_expired_session_signs_in_again_and_goes_on(
    tab: Watched, make_account: AccountFactory
) -> None:
    from db.engine import transaction

    account = await make_account("finance")
    await tab.goto("/")
    await tab.sign_in(account)
    await tab.page.wait_for_url(tab.base + "/")
    async with transaction() as conn:  # 31 minutes without a request
        await conn.execute(
            "UPDATE user_session SET last_seen_at = now() - interval '31 minutes'"
            " WHERE user_id = $1",
            account.id,
        )
    await tab.goto("/account")
    assert tab.page.url == tab.base + "/sign-in?next=%2Faccount"
    assert "Sign in to go on" in await tab.page.inner_text("main")
    await tab.sign_in(account)
    await tab.page.wait_for_url(tab.base + "/account")
    assert "API tokens" in await tab.page.inner_text("main")


async def test_make_use_and_revoke_a_token(tab: Watched, make_account: AccountFactory) -> None:
    account = await make_account("auditor")
    await tab.goto("/account")
    await tab.sign_in(account)
    await tab.page.wait_for_url(tab.base + "/account")
    options = await tab.page.locator("#field-role option").all_inner_texts()
    assert options == ["auditor"]  # no role above their own
    await tab.page.fill("#field-name", f"script-{account.id}")
    await tab.page.click("button:has-text('Make the token')")
    token = (await tab.page.inner_text("#new-token")).strip()
    assert re.fullmatch(r"fsv_[A-Za-z0-9_-]{40,}", token)
    api = f"{tab.base}/api/v1/events?entity=api_token"
    async with httpx.AsyncClient() as client:
        used = await client.get(api, headers={"Authorization": f"Bearer {token}"})
        assert used.status_code == 200
        made = [e for e in used.json()["items"] if e["after"]["name"] == f"script-{account.id}"]
        assert made and made[0]["actor_name"] == f"user:{account.id}"
        # Shown once: the account page read again does not carry it.
        await tab.goto("/account")
        assert token not in await tab.page.content()
        await tab.page.click(f"button:has-text('Revoke script-{account.id}')")
        await tab.page.wait_for_url(tab.base + "/account")
        assert "is revoked" in await tab.page.inner_text(".notice")
        refused = await client.get(api, headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401


async def test_every_page_is_served_by_the_service_alone(
    tab: Watched, make_account: AccountFactory
) -> None:
    account = await make_account("admin")
    await tab.goto("/sign-in")
    await tab.sign_in(account)
    await tab.page.wait_for_url(tab.base + "/")
    for path in ("/", "/account", "/users", f"/users/{account.id}", "/schema"):
        response = await tab.goto(path)
        assert response.status == 200, path
        await tab.page.wait_for_load_state("networkidle")
    # The API documentation ran: Swagger UI drew the operations from the document.
    await tab.page.locator(".opblock").first.wait_for()
    assert {u.split("?")[0].removeprefix(tab.base) for u in tab.requests} >= {
        "/static/fleetsvc.css",
        "/static/fleetsvc.js",
        "/schema/assets/swagger-ui-bundle.js",
        "/schema/openapi.json",
    }


async def test_the_policy_refuses_inline_script_and_the_watch_sees_it(tab: Watched) -> None:
    """What the other tests rely on: an inline script is refused, and said so on the console."""
    await tab.goto("/sign-in")
    await tab.page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.inlineRan = true'; document.body.appendChild(s); }"
    )
    assert await tab.page.evaluate("window.inlineRan === undefined")
    refused = [t for t in tab.faults() if "Content Security Policy" in t]
    assert refused, tab.console_errors
    tab.console_errors.clear()


async def test_the_keyboard_alone_signs_in_and_sees_where_it_is(
    tab: Watched, make_account: AccountFactory
) -> None:
    account = await make_account("engineer")
    await tab.goto("/sign-in")
    await tab.page.keyboard.type(account.email)  # the e-mail field has the focus
    await tab.page.keyboard.press("Tab")
    await tab.page.keyboard.type(account.password)
    await tab.page.keyboard.press("Enter")
    await tab.page.wait_for_url(tab.base + "/")
    await tab.page.keyboard.press("Tab")  # the first stop: the skip link, shown when focused
    skip = tab.page.locator(".skip-link")
    assert await skip.evaluate("e => e === document.activeElement")
    assert await skip.evaluate("e => e.getBoundingClientRect().top >= 0")
    await tab.page.keyboard.press("Tab")
    focused = await tab.page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [document.activeElement.textContent.trim(), s.backgroundColor, s.boxShadow]; }"
    )
    assert "fleetsvc" in focused[0]
    assert focused[1] == "rgb(255, 221, 0)" and focused[2] != "none"  # a visible focus
