"""The dashboard and the people pages in a real browser (headless Chromium against the real
service): a dashboard figure leads to the list behind it, a person is marked a leaver from
their page and the page says so, and a search with no match says that, its term never in
the address."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest

from tests import factories
from tests.conftest import unique
from tests.web.conftest import AccountFactory

# The watched tab of the other browser tests (skipped with them when there is no Chromium);
# the live service and the browser are tests/web/conftest.py's, shared by all of them.
from tests.web.test_browser import Watched, tab  # noqa: F401

pytestmark = pytest.mark.usefixtures("app")


async def test_a_dashboard_figure_leads_to_the_list_behind_it(
    tab: Watched,  # noqa: F811
    make_account: AccountFactory,
) -> None:
    unit = await factories.business_unit()
    leaver = await factories.person(
        business_unit_id=unit["id"], active=False, left_on=dt.date(2026, 6, 30)
    )
    phone = await factories.asset(status="deployed", person_id=leaver["id"])
    account = await make_account("engineer")
    await tab.goto("/")
    await tab.sign_in(account)
    await tab.page.wait_for_url(tab.base + "/")
    page = tab.page
    assert "Devices by category and status" in await page.inner_text("main")

    # Narrow to the unit with the form, then follow its figure of leavers' devices.
    await page.select_option("#field-business_unit", unit["code"])
    await page.click("form.inline-filter button")
    await page.wait_for_url(f"**/?business_unit={unit['code']}")
    await page.click("text=Held by leavers")
    await page.wait_for_url("**/people?view=leavers")
    row = page.locator(f"tr:has(a[href='/people/{leaver['id']}'])")
    assert "1" in await row.inner_text()

    # The count of the unit's deployed handsets opens the devices list filtered the same way.
    await page.go_back()
    await page.wait_for_url(f"**/?business_unit={unit['code']}")
    cell = page.locator(
        f"#main table a[href='/devices?category=smartphone&status=deployed"
        f"&business_unit={unit['code']}']"
    )
    assert (await cell.inner_text()).strip() == "1"
    async with page.expect_navigation() as opened:
        await cell.click()
    response = await opened.value
    assert response is not None
    query = parse_qs(urlsplit(page.url).query)
    assert urlsplit(page.url).path == "/devices"
    assert query == {
        "category": ["smartphone"],
        "status": ["deployed"],
        "business_unit": [unit["code"]],
    }
    if response.status == 404:  # the devices pages are not in this build yet
        tab.error_pages.add(page.url)
    else:
        assert response.status == 200
        assert phone["serial_number"] in await page.inner_text("main")


async def test_mark_a_person_leaver_from_their_page(
    tab: Watched,  # noqa: F811
    make_account: AccountFactory,
) -> None:
    person = await factories.person()
    phone = await factories.asset(status="deployed", person_id=person["id"])
    account = await make_account("stores")
    await tab.goto(f"/people/{person['id']}")
    await tab.sign_in(account)
    await tab.page.wait_for_url(f"**/people/{person['id']}")
    page = tab.page
    checklist = await page.inner_text("main")
    assert phone["serial_number"] in checklist and "active" in checklist
    await page.fill("#field-left_on", "2026-11-27")
    await page.click("button:has-text('Mark as a leaver')")
    await page.locator(".notice--ok").wait_for()
    assert "Marked as a leaver from 27 Nov 2026." in await page.inner_text(".notice--ok")
    assert "leaver since 27 Nov 2026" in await page.inner_text("#leaver-status")
    assert "1 device to recover" in await page.inner_text("main")
    assert await page.locator("button:has-text('Mark as a leaver')").count() == 0
    # The checklist's device opens its own page.
    link = page.locator(f"#main a[href='/devices/{phone['id']}']")
    assert await link.count() >= 1  # the checklist, and the recovery case once there is one


async def test_a_people_search_with_no_match_says_so(
    tab: Watched,  # noqa: F811
    make_account: AccountFactory,
) -> None:
    account = await make_account("finance")
    await tab.goto("/people")
    await tab.sign_in(account)
    await tab.page.wait_for_url("**/people")
    term = f"Nobody {unique()}"
    page = tab.page
    await page.fill("#field-q", term)
    await page.keyboard.press("Enter")
    await page.locator("#no-match").wait_for()
    assert f"No one matches “{term}”" in await page.inner_text("#no-match")
    assert term.split()[1].lower() not in page.url.lower()
    assert "/people?search=" in page.url
    # The field keeps the term, to correct it.
    assert await page.input_value("#field-q") == term
