"""``make screenshots``, the dashboard, people and vehicles pages, on the demo fleet the
finance shots loaded (``screenshots_finance.load``): a handset issued and handed back first
through the API, so a person's page has something held before as well as now."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.web import screenshots_finance as finance

Shot = Callable[..., Awaitable[None]]
SignIn = Callable[..., Awaitable[None]]
STORES = finance.STORES


def _history(base: str) -> int:
    """A deployed handset's holder, given a second handset and handing it back; their id."""
    admin = {"Authorization": f"Bearer {finance._tokens['admin']}"}
    with httpx.Client(base_url=base + "/api/v1", headers=admin, timeout=60) as api:
        held = api.get(
            "/assets", params={"category": "smartphone", "status": "deployed", "limit": 1}
        )
        person_id = int(held.raise_for_status().json()["items"][0]["holder"]["person_id"])
        spare = api.get("/assets", params={"category": "smartphone", "status": "in_stock"})
        asset_id = spare.raise_for_status().json()["items"][0]["id"]
        for move in (
            {"to": "deployed", "person_id": person_id, "reason": "a spare while in repair"},
            {"to": "in_stock", "reason": "handed back"},
        ):
            api.post(f"/assets/{asset_id}/transitions", json=move).raise_for_status()
    return person_id


async def shoot(page: Any, base: str, shot: Shot, sign_in: SignIn) -> None:
    person_id = _history(base)
    await page.goto(base + "/account")
    sign_out = page.locator("button:has-text('Sign out')")
    if await sign_out.count():  # the shots before may have signed out already
        await sign_out.click()
    await sign_in(STORES)
    await page.goto(base + "/")
    await shot("80-dashboard")
    await page.click("summary:has-text('Devices by business unit')")
    await shot("81-dashboard-full", full_page=True)
    await page.goto(base + "/people")
    await shot("82-people")
    await page.fill("#field-q", "no such person anywhere")
    await page.keyboard.press("Enter")
    await page.locator("#no-match").wait_for()
    await shot("83-people-no-match")
    await page.goto(base + f"/people/{person_id}")
    await shot("84-person")
    await page.click("button:has-text('Mark as a leaver')")
    await page.locator(".notice--ok").wait_for()
    await shot("85-person-leaver", full_page=True)
    await page.goto(base + "/people?view=leavers")
    await shot("86-leavers")
    await page.goto(base + "/vehicles")
    await shot("87-vehicles")
    await page.click("table.data tbody tr:first-child a")
    await page.wait_for_url(base + "/vehicles/*")
    await shot("88-vehicle", full_page=True)
