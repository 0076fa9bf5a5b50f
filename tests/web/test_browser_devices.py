"""The devices pages in a real browser: headless Chromium against the real service on the
test database (the browser tests' shared service and browser, ``test_browser``'s watched
tab: a request to any host but the service, or an error on the console, fails the test).

Search an IMEI, open the device, issue it to a person found by a search and see the move in
the timeline; a stale device page refused; a finance user offered no moves; the keyboard
alone reaches a move."""

from __future__ import annotations

from typing import Any

from tests import factories as f
from tests.conftest import unique
from tests.web.browser import browser_missing
from tests.web.conftest import AccountFactory

if (why := browser_missing()) is not None:
    import pytest

    pytest.skip(why, allow_module_level=True)

from tests.web.test_browser import Watched, tab

# The watched tab, test_browser's (its service and browser: tests/web/conftest.py's).
__all__ = ["tab"]


async def open_action(page: Any, heading: str) -> None:
    """Open the move's form (each is folded under its heading but the first)."""
    action = page.locator("details.action", has=page.locator("summary", has_text=heading))
    if await action.get_attribute("open") is None:
        await action.locator("summary").click()


async def _signed_in(tab: Watched, make_account: AccountFactory, role: str, path: str) -> Any:
    account = await make_account(role)
    await tab.goto(path)
    await tab.sign_in(account)
    await tab.page.wait_for_url(tab.base + path)
    return account


async def test_search_an_imei_issue_the_device_and_see_the_move(
    tab: Watched, make_account: AccountFactory
) -> None:
    person = await f.person(display_name=unique("Constable "))
    asset = await f.asset()
    account = await _signed_in(tab, make_account, "stores", "/devices")
    await tab.page.fill("#field-q", asset["imei"])
    await tab.page.click("button:has-text('Search')")
    await tab.page.wait_for_url(f"{tab.base}/devices/{asset['id']}")
    assert asset["serial_number"] in await tab.page.inner_text("h1")
    await tab.page.fill("#field-person", person["employee_number"])
    await tab.page.click("button:has-text('Find')")
    choice = tab.page.locator(f"#field-person-{person['id']}")
    await choice.wait_for()
    assert await choice.is_checked()  # the one match, chosen already
    await tab.page.fill("#field-deployed-reason", "issued at the front desk")
    await tab.page.click("button:has-text('Issue the device')")
    notice = tab.page.locator(".notice--ok")
    await notice.wait_for()
    assert f"is now deployed, issued to {person['display_name']}" in await notice.inner_text()
    last = tab.page.locator("table.timeline tbody tr").last
    text = await last.inner_text()
    assert "in stock → deployed" in text and person["display_name"] in text
    assert "issued at the front desk" in text and account.email in text
    holder = tab.page.locator(f"a[href='/people/{person['id']}']").first
    assert await holder.count() == 1
    # Neither the employee number searched for nor the IMEI went into an address.
    assert not [u for u in tab.requests if person["employee_number"] in u or asset["imei"] in u]


async def test_a_stale_device_page_is_refused(tab: Watched, make_account: AccountFactory) -> None:
    asset = await f.asset()
    await _signed_in(tab, make_account, "engineer", f"/devices/{asset['id']}")
    other = await tab.page.context.new_page()
    await other.goto(f"{tab.base}/devices/{asset['id']}")
    await open_action(other, "Send to repair")
    await other.click("button:has-text('Send to repair')")
    await other.locator(".notice--ok").wait_for()
    await other.close()
    # The first page still shows the device as it was, and its forms carry that version.
    await open_action(tab.page, "Report lost")
    async with tab.page.expect_response(f"{tab.base}/devices/{asset['id']}/move") as sent:
        await tab.page.click("button:has-text('Report lost')")  # and confirm
    assert (await sent.value).status == 412
    main = await tab.page.inner_text("main")
    assert "Someone changed this device since you opened it" in main
    assert "Nothing was saved" in main
    await tab.page.click("a:has-text('Reload the page')")
    await tab.page.wait_for_url(f"{tab.base}/devices/{asset['id']}")
    assert await tab.page.inner_text(".section-head .tag") == "in repair"
    assert "in stock → in repair" in await tab.page.inner_text("table.timeline")
    assert "→ lost" not in await tab.page.inner_text("table.timeline")


async def test_a_finance_user_sees_no_device_actions(
    tab: Watched, make_account: AccountFactory
) -> None:
    asset = await f.asset()
    await _signed_in(tab, make_account, "finance", f"/devices/{asset['id']}")
    assert await tab.page.locator("form[action$='/move']").count() == 0
    assert await tab.page.locator("form[action$='/people']").count() == 0
    assert "Move this device" not in await tab.page.inner_text("main")
    assert "Devices" in await tab.page.inner_text("nav.site-nav")
    await tab.goto("/devices")
    assert await tab.page.locator("#field-q").count() == 1  # reading is everyone's


async def test_the_keyboard_alone_searches_and_moves_a_device(
    tab: Watched, make_account: AccountFactory
) -> None:
    asset = await f.asset(asset_tag=unique("MPS"))
    await _signed_in(tab, make_account, "stores", "/devices")
    await tab.page.focus("#field-q")
    await tab.page.keyboard.type(asset["asset_tag"])
    await tab.page.keyboard.press("Enter")
    await tab.page.wait_for_url(f"{tab.base}/devices/{asset['id']}")
    await tab.page.locator("summary:has-text('Send to repair')").focus()
    await tab.page.keyboard.press("Enter")  # opens the move's form
    for _ in range(3):  # where it will be kept, why, the button
        await tab.page.keyboard.press("Tab")
    focused = await tab.page.evaluate(
        "() => [document.activeElement.textContent.trim(),"
        " getComputedStyle(document.activeElement).outlineStyle]"
    )
    assert focused == ["Send to repair", "solid"]
    await tab.page.keyboard.press("Enter")
    await tab.page.locator(".notice--ok").wait_for()
    assert await tab.page.inner_text(".section-head .tag") == "in repair"
