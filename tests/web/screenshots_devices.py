"""``make screenshots``, the devices pages on the demo fleet (after ``screenshots_finance``:
the MDM has synced, three handsets are lost): the list, filtered, a deployed handset with its
SIM, holder and MDM facts, a spare handset with a person search to issue it, the move
made, a stale page refused, a move refused beside its form, and what finance sees."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Shot = Callable[..., Awaitable[None]]
SignIn = Callable[..., Awaitable[None]]
FINANCE = "chris.okafor@force.example"


async def _first_device(page: Any, base: str, query: str) -> str:
    await page.goto(f"{base}/devices?{query}")
    href: str = await page.locator("table.devices tbody a[href^='/devices/']").first.get_attribute(
        "href"
    )
    return base + href


async def _open(page: Any, heading: str) -> None:
    action = page.locator("details.action", has=page.locator("summary", has_text=heading))
    if await action.get_attribute("open") is None:
        await action.locator("summary").click()


async def shoot(page: Any, base: str, shot: Shot, sign_in: SignIn) -> None:
    """Stores staff are signed in."""
    await page.goto(base + "/devices")
    await shot("70-devices")
    await page.goto(base + "/devices?status=lost&category=smartphone")
    await shot("71-devices-lost")
    spare = await _first_device(page, base, "status=deployed&category=smartphone")
    await page.goto(spare)
    await shot("72-device-deployed")
    await page.fill("#field-in_stock-reason", "recovered from a leaver")
    await page.click("button:has-text('Return to stock')")
    await page.locator(".notice--ok").wait_for()
    await shot("73-device-returned", full_page=True)
    await page.fill("#field-person", "Demo User 00420")
    await page.click("button:has-text('Find')")
    await page.locator("fieldset.choices").wait_for()
    await page.check("#field-person-" + await _person_id(page))
    await shot("74-device-issue-search")
    await page.click("button:has-text('Issue the device')")
    await page.locator(".notice--ok").wait_for()
    await shot("75-device-issued")
    other = await page.context.new_page()
    await other.goto(spare)
    await _open(other, "Return to stock")
    await other.fill("#field-in_stock-reason", "returned: wrong person")
    await other.click("button:has-text('Return to stock')")
    await other.locator(".notice--ok").wait_for()  # the change is saved before the page closes
    await other.close()
    await _open(page, "Send to repair")
    await page.click("button:has-text('Send to repair')")
    await page.locator("a:has-text('Reload the page')").wait_for()
    await shot("76-device-stale")
    await page.goto(spare)
    await _open(page, "Send to repair")
    await page.fill("#field-in_repair-reason", "")
    await page.click("button:has-text('Send to repair')")
    await page.locator(".field-error").first.wait_for()
    await shot("77-device-move-needs-a-reason")
    await page.click("button:has-text('Sign out')")
    await sign_in(FINANCE)
    await page.goto(spare)
    await shot("78-device-finance")
    await page.click("button:has-text('Sign out')")


async def _person_id(page: Any) -> str:
    value: str = (
        await page.locator("fieldset.choices input[type=radio]").nth(2).get_attribute("value")
    )
    return value
