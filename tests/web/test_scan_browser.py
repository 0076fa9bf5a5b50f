"""The scan page in a real browser (headless Chromium against the real service): a USB
scanner types a code and Enter, and the answer shows at once without leaving the page, the
field keeping the focus, codes typed in quick succession each answered in turn; without
JavaScript the same form posts and the page comes back with the answer."""

from __future__ import annotations

from typing import Any

import pytest

from tests import factories
from tests.conftest import unique
from tests.web.conftest import AccountFactory

# The watched tab of the other browser tests (skipped with them when there is no Chromium);
# the live service and the browser are tests/web/conftest.py's, shared by all of them.
from tests.web.test_browser import Watched, tab  # noqa: F401

pytestmark = pytest.mark.usefixtures("app")


async def _counts(page: Any) -> str:
    return " ".join((await page.inner_text("#scan-counts")).split())


async def _counting(tab: Watched, make_account: AccountFactory) -> dict[str, object]:  # noqa: F811
    here = await factories.location(name="Browser test store")
    kept = [await factories.asset(location_id=here["id"]) for _ in range(3)]
    account = await make_account("stores")
    await tab.goto("/stocktakes")
    await tab.sign_in(account)
    await tab.page.wait_for_url(tab.base + "/stocktakes")
    await tab.page.select_option("#field-location_id", str(here["id"]))
    await tab.page.click("button:has-text('Start counting')")
    await tab.page.wait_for_url("**/scan")
    return {"here": here, "kept": kept}


async def test_each_scan_is_answered_at_once_and_the_field_keeps_the_focus(
    tab: Watched,  # noqa: F811
    make_account: AccountFactory,
) -> None:
    found = await _counting(tab, make_account)
    kept = found["kept"]
    page = tab.page
    assert await page.evaluate("document.activeElement.id") == "field-code"
    await page.evaluate("window.stillHere = true")
    await page.keyboard.type(kept[0]["serial_number"] + "\n")  # type: ignore[index]
    answer = page.locator("#scan-answer")
    await answer.locator(".scan-answer--found").wait_for()
    assert "Found" in await answer.inner_text()
    assert await page.evaluate("window.stillHere") is True  # no page load
    assert await page.input_value("#field-code") == ""
    assert await page.evaluate("document.activeElement.id") == "field-code"

    # A scanner is quick: three codes and Enter, one after the other, each answered.
    unknown = unique("NOPE")
    for code in (kept[1]["imei"], kept[0]["serial_number"], unknown):  # type: ignore[index]
        await page.keyboard.type(code + "\n", delay=2)
    await page.locator("#scan-log li").nth(3).wait_for()
    log = await page.locator("#scan-log li").all_inner_texts()
    assert [line.split()[1] for line in log[:3]] == ["Unknown", "Already", "Found"]
    assert "Unknown" in await answer.inner_text()
    assert "Found 2 of 3 expected" in await _counts(page)
    # A click on the page's background hands the focus back to the field.
    await page.click("h1")
    assert await page.evaluate("document.activeElement.id") == "field-code"

    # A code too long to be a device's: said beside the answer, nothing counted. (The
    # answer is a 422, which Chromium notes on the console: no fault of the page.)
    tab.error_pages.add(page.url)
    await page.fill("#field-code", "X" * 200)
    await page.keyboard.press("Enter")
    await answer.locator(".scan-answer--error").wait_for()
    assert "at most 64" in await answer.inner_text()
    assert "Found 2 of 3 expected" in await _counts(page)

    await page.click("text=See the result and close the stocktake")
    await page.check("#field-mark_missing_lost")
    await page.click("button:has-text('Close the stocktake')")
    await page.locator(".notice--ok").wait_for()
    assert "is closed" in await page.inner_text(".notice--ok")
    missing = await page.inner_text("#section-missing + p + .table-wrap")
    assert kept[2]["serial_number"] in missing and "marked lost" in missing  # type: ignore[index]


async def test_the_scan_page_works_without_javascript(
    browser: object,
    service: str,
    make_account: AccountFactory,
) -> None:
    context = await browser.new_context(java_script_enabled=False)  # type: ignore[attr-defined]
    page = await context.new_page()
    plain = Watched(page, service)
    try:
        found = await _counting(plain, make_account)
        kept = found["kept"]
        await page.fill("#field-code", kept[0]["serial_number"])  # type: ignore[index]
        async with page.expect_navigation():
            await page.keyboard.press("Enter")
        assert page.url.endswith("/scan")
        assert "Found" in await page.inner_text("#scan-answer")
        assert "Found 1 of 3 expected" in await _counts(page)
    finally:
        await context.close()
